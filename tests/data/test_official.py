"""Tests for the official HRM/TRM numpy dataset format: round trip and every validation error."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rrm_jax.data.official import (
    FIELDS,
    DataError,
    PuzzleData,
    from_examples,
    load_identifiers,
    load_split,
    validate,
    write_split,
)
from tests.data import synthetic

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SEQ_LEN, VOCAB = 6, 5


def multi_variant_data(seed: int = 0, num_groups: int = 7) -> PuzzleData:
    return synthetic.multi_variant_data(seed, num_groups, seq_len=SEQ_LEN, vocab=VOCAB)


def assert_same(a: PuzzleData, b: PuzzleData) -> None:
    assert a.metadata == b.metadata
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype, field
        np.testing.assert_array_equal(x, y, err_msg=field)


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, PuzzleData]:
    data = multi_variant_data()
    names = ["<blank>"] + [f"p{i}" for i in range(1, data.metadata.num_puzzle_identifiers)]
    write_split(tmp_path, "train", data, identifiers=names)
    return tmp_path, data


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip(written: tuple[Path, PuzzleData], mmap: bool) -> None:
    root, data = written
    loaded = load_split(root, "train", mmap=mmap)
    assert_same(loaded, data)
    assert (loaded.num_examples, loaded.num_puzzles, loaded.num_groups) == (
        data.inputs.shape[0],
        data.puzzle_identifiers.shape[0],
        7,
    )
    assert load_identifiers(root)[0] == "<blank>"
    assert len(load_identifiers(root)) == data.metadata.num_puzzle_identifiers


def test_from_examples_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    inputs = rng.integers(1, 11, size=(20, 81)).astype(np.uint8)
    data = from_examples(inputs, inputs.copy(), vocab_size=11)
    np.testing.assert_array_equal(data.puzzle_indices, np.arange(21))
    np.testing.assert_array_equal(data.group_indices, np.arange(21))
    assert data.metadata.total_groups == data.metadata.total_puzzles == 20
    write_split(tmp_path, "test", data)
    assert_same(load_split(tmp_path, "test"), data)


def test_total_puzzles_derived_when_absent(written: tuple[Path, PuzzleData]) -> None:
    # HRM-built dataset.json has no total_puzzles (TRM added it).
    root, data = written
    meta_path = root / "train" / "dataset.json"
    meta = json.loads(meta_path.read_text())
    del meta["total_puzzles"]
    meta_path.write_text(json.dumps(meta))
    assert load_split(root, "train").metadata.total_puzzles == data.num_puzzles


def _replace_array(root: Path, field: str, array: np.ndarray) -> str:
    path = root / "train" / f"all__{field}.npy"
    np.save(path, array)
    return str(path)


def _edit_metadata(root: Path, **changes: object) -> str:
    path = root / "train" / "dataset.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    return str(path)


def _expect(root: Path, path: str, *fragments: str) -> None:
    with pytest.raises(DataError) as info:
        load_split(root, "train")
    message = str(info.value)
    assert message.startswith(path), message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_metadata(tmp_path: Path) -> None:
    _expect(tmp_path, os.path.join(tmp_path, "train", "dataset.json"), "missing")


def test_only_metadata_names_first_missing_array(written: tuple[Path, PuzzleData]) -> None:
    root, _ = written
    for field in FIELDS:
        (root / "train" / f"all__{field}.npy").unlink()
    _expect(root, str(root / "train" / "all__inputs.npy"), "missing")


@pytest.mark.parametrize("field", FIELDS)
def test_missing_or_empty_array(written: tuple[Path, PuzzleData], field: str) -> None:
    root, _ = written
    path = root / "train" / f"all__{field}.npy"
    path.write_bytes(b"")
    _expect(root, str(path), "empty file")
    path.write_bytes(b"not an npy file")
    _expect(root, str(path), "not a readable .npy")
    path.unlink()
    _expect(root, str(path), "missing")


def test_malformed_json(written: tuple[Path, PuzzleData]) -> None:
    root, _ = written
    path = root / "train" / "dataset.json"
    path.write_text("{not json")
    _expect(root, str(path), "malformed JSON")
    path.write_text("[1, 2]")
    _expect(root, str(path), "expected a JSON object")


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"seq_len": "6"}, "'seq_len' must be an integer"),
        ({"sets": []}, "'sets' must be a non-empty list"),
        ({"mean_puzzle_examples": None}, "must be a number"),
        ({"pad_id": VOCAB}, "pad_id 5 outside"),
        ({"blank_identifier_id": -1}, "blank_identifier_id -1 outside"),
        ({"sets": ["other"]}, "set 'all' not listed"),
        ({"total_groups": 8}, "total_groups=8"),
        ({"seq_len": 7}, "expected 2-D [examples, seq_len=7]"),  # names the inputs file
    ],
)
def test_bad_metadata(written: tuple[Path, PuzzleData], changes: dict, fragment: str) -> None:
    root, _ = written
    meta_path = _edit_metadata(root, **changes)
    path = str(root / "train" / "all__inputs.npy") if "seq_len=" in fragment else meta_path
    _expect(root, path, fragment)


def test_missing_metadata_keys(written: tuple[Path, PuzzleData]) -> None:
    root, _ = written
    path = root / "train" / "dataset.json"
    meta = json.loads(path.read_text())
    del meta["vocab_size"], meta["pad_id"]
    path.write_text(json.dumps(meta))
    _expect(root, str(path), "missing keys", "vocab_size", "pad_id")


def test_wrong_ndim_and_shapes(written: tuple[Path, PuzzleData]) -> None:
    root, data = written
    n = data.num_examples
    path = _replace_array(root, "inputs", np.ones(n * SEQ_LEN, np.uint8))
    _expect(root, path, f"expected 2-D [examples, seq_len={SEQ_LEN}], got shape ({n * SEQ_LEN},)")
    _replace_array(root, "inputs", data.inputs)
    path = _replace_array(root, "labels", np.ones((n - 1, SEQ_LEN), np.uint8))
    _expect(root, path, "differs from inputs shape")
    path = _replace_array(root, "labels", np.ones((n, SEQ_LEN), np.float32))
    _expect(root, path, "integer dtype")


def test_empty_dataset(tmp_path: Path) -> None:
    data = from_examples(np.ones((1, 3), np.uint8), np.ones((1, 3), np.uint8), vocab_size=4)
    write_split(tmp_path, "train", data)
    _replace_array(tmp_path, "labels", np.ones((0, 3), np.uint8))
    path = _replace_array(tmp_path, "inputs", np.ones((0, 3), np.uint8))
    _replace_array(tmp_path, "puzzle_indices", np.zeros(1, np.int32))
    _expect(tmp_path, path, "empty dataset")


def test_token_ranges(written: tuple[Path, PuzzleData]) -> None:
    root, data = written
    inputs = np.array(data.inputs)
    inputs[2, 3] = VOCAB
    path = _replace_array(root, "inputs", inputs)
    _expect(root, path, f"tokens must lie in [0, {VOCAB})", "found 5 at (2, 3)")
    inputs = np.array(data.inputs, dtype=np.int16)
    inputs[-1, -1] = -1
    _replace_array(root, "inputs", inputs)
    _expect(root, path, f"found -1 at ({data.num_examples - 1}, {SEQ_LEN - 1})")
    _replace_array(root, "inputs", data.inputs)
    labels = np.array(data.labels, dtype=np.int16)
    labels[1, 0] = -1
    path = _replace_array(root, "labels", labels)
    _expect(root, path, "labels must lie in", "ignore label 0", "found -1 at (1, 0)")


def test_ignore_label_outside_vocab_is_allowed(tmp_path: Path) -> None:
    labels = np.array([[1, -100, 2]], dtype=np.int16)
    data = from_examples(np.ones((1, 3), np.uint8), labels, vocab_size=3, ignore_label_id=-100)
    write_split(tmp_path, "train", data)
    load_split(tmp_path, "train")
    with pytest.raises(DataError, match="labels must lie in"):
        from_examples(np.ones((1, 3), np.uint8), labels, vocab_size=3, ignore_label_id=None)


@pytest.mark.parametrize(
    "field, make, fragment",
    [
        ("puzzle_indices", lambda p, n: np.r_[1, p[1:]], "must start at 0"),
        ("puzzle_indices", lambda p, n: np.r_[p[:2], p[1] - 1, p[3:]], "non-decreasing"),
        ("puzzle_indices", lambda p, n: np.r_[p[:-1], n + 1], "must end at the number of examples"),
        ("puzzle_indices", lambda p, n: p.reshape(1, -1), "expected 1-D CSR offsets"),
        ("group_indices", lambda g, n: np.r_[g[:-1], g[-1] - 1], "end at the number of puzzles"),
        ("group_indices", lambda g, n: np.r_[2, g[1:]], "must start at 0"),
        ("group_indices", lambda g, n: g[::-1].copy(), "must start at 0"),
        ("puzzle_identifiers", lambda i, n: i[:-1], "one id per puzzle"),
        ("puzzle_identifiers", lambda i, n: i + 1, "identifiers must lie in"),
    ],
)
def test_bad_indices(written: tuple[Path, PuzzleData], field: str, make, fragment: str) -> None:
    root, data = written
    path = _replace_array(root, field, make(np.asarray(getattr(data, field)), data.num_examples))
    _expect(root, path, fragment)


def test_puzzle_indices_wrong_length(written: tuple[Path, PuzzleData]) -> None:
    # One puzzle fewer in puzzle_indices: the identifiers no longer match one per puzzle.
    root, data = written
    p = np.asarray(data.puzzle_indices)
    _replace_array(root, "puzzle_indices", np.r_[p[:-2], p[-1]])
    _expect(root, str(root / "train" / "all__puzzle_identifiers.npy"), "one id per puzzle")


def test_validate_names_source() -> None:
    data = multi_variant_data()
    data.labels = data.labels[:, :-1]
    with pytest.raises(DataError, match=r"^somewhere/all__labels\.npy: shape"):
        validate(data, "somewhere")
    bad = dataclasses.replace(
        multi_variant_data(),
        metadata=dataclasses.replace(multi_variant_data().metadata, vocab_size=2),
    )
    with pytest.raises(DataError, match=r"^elsewhere/all__inputs\.npy: tokens"):
        validate(bad, "elsewhere")


def test_write_split_rejects_bad_identifiers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="identifiers"):
        write_split(tmp_path, "train", multi_variant_data(), identifiers=["<blank>"])


# -- real data, when the shared data folder sits beside the repository ---------------------

SUDOKU = REAL_DATA / "sudoku-extreme" / "ML-TRM_sudoku-extreme-full"
MAZE = REAL_DATA / "maze-30x30-hard-1k" / "alphaXiv_TRM"


def test_real_sudoku() -> None:
    if not SUDOKU.is_dir():
        pytest.skip(f"no real data at {SUDOKU}")
    data = load_split(SUDOKU, "train")
    m = data.metadata
    assert data.inputs.shape == (1000, 81) and (m.seq_len, m.vocab_size) == (81, 11)
    assert (m.total_groups, m.total_puzzles, m.num_puzzle_identifiers) == (1000, 1000, 1)
    assert load_identifiers(SUDOKU) == ["<blank>"]
    # The test folder holds only dataset.json (the official test split is 422,786 puzzles).
    with pytest.raises(DataError, match=r"test[/\\]all__inputs\.npy: missing"):
        load_split(SUDOKU, "test")


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_maze(split: str) -> None:
    if not MAZE.is_dir():
        pytest.skip(f"no real data at {MAZE}")
    data = load_split(MAZE, split)
    m = data.metadata
    assert data.inputs.shape == data.labels.shape == (1000, 900)
    assert (m.seq_len, m.vocab_size, m.pad_id, m.ignore_label_id) == (900, 6, 0, 0)
    assert data.num_groups == data.num_puzzles == 1000
