"""The Maze-Hard builder: fake CSVs, the CSV <-> numpy round trip and builds on the real files."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.data import official
from rrm_jax.data import tfds as rrm_tfds
from tests.datasets import fakes

NAME = "maze_hard"


@pytest.fixture(scope="module")
def module():
    return rrm_tfds.load_module(NAME)


def test_from_fake_csv(tmp_path, module):
    train, test = fakes.maze_rows(12, seed=1), fakes.maze_rows(5, seed=2)
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", train)
    fakes.write_csv(src / "test.csv", test)
    b = rrm_tfds.prepare(NAME, "default", tmp_path / "data", source_dir=src)
    assert {s: i.num_examples for s, i in b.info.splits.items()} == {"train": 12, "test": 5}
    items = rrm_tfds.data_source(NAME, "default", "train", tmp_path / "data")
    by_index = {items[i]["index"]: items[i] for i in range(len(items))}
    assert sorted(by_index) == list(range(12))
    assert by_index[4]["rating"] == 104
    assert by_index[4]["inputs"].dtype == np.uint8 and by_index[4]["inputs"].shape == (900,)
    for split, rows in (("train", train), ("test", test)):
        data = rrm_tfds.load_split(NAME, "default", split, tmp_path / "data")
        official.validate(data, f"{NAME}/{split}")
        assert data.metadata.vocab_size == 6 and data.metadata.seq_len == 900
        assert data.inputs.min() >= 1 and data.labels.max() <= 5
        assert module.to_strings(data.inputs) == [r[1] for r in rows]
        assert module.to_strings(data.labels) == [r[2] for r in rows]


def test_tokens_are_charset_index_plus_one(module):
    tokens = module.to_tokens(["# SGo" * 180])
    np.testing.assert_array_equal(tokens[0, :5], [1, 2, 3, 4, 5])
    assert tokens.dtype == np.uint8
    with pytest.raises(ValueError, match="bad character 'x'"):
        module.to_tokens(["x" * 900])


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_csv_strings_round_trip(real_maze, module, split):
    for field in ("inputs", "labels"):
        tokens = np.load(real_maze / split / f"all__{field}.npy")
        strings = module.to_strings(tokens)
        assert len(strings) == 1000 and all(len(s) == 900 for s in strings)
        assert set("".join(strings)) <= set("# SGo")
        recovered = module.to_tokens(strings)
        assert recovered.dtype == tokens.dtype
        np.testing.assert_array_equal(recovered, tokens)
    # A question shows one start and one goal; its answer adds the path.
    questions = module.to_strings(np.load(real_maze / split / "all__inputs.npy"))
    assert all(q.count("S") == 1 and q.count("G") == 1 and "o" not in q for q in questions)


def test_real_numpy_build_equals_official_and_csv_build(real_maze, module, tmp_path):
    b = rrm_tfds.prepare(NAME, "default", tmp_path / "npy", source_dir=real_maze)
    assert {s: i.num_examples for s, i in b.info.splits.items()} == {"train": 1000, "test": 1000}
    # The same mazes as CSVs (strings recovered from the arrays) build the same dataset.
    src = tmp_path / "csv"
    for split in ("train", "test"):
        ref = official.load_split(real_maze, split)
        rows = [
            ("maze", q, a, 0)
            for q, a in zip(
                module.to_strings(ref.inputs), module.to_strings(ref.labels), strict=True
            )
        ]
        fakes.write_csv(src / f"{split}.csv", rows)
    rrm_tfds.prepare(NAME, "default", tmp_path / "from_csv", source_dir=src)
    for split in ("train", "test"):
        ref = official.load_split(real_maze, split)
        for folder in ("npy", "from_csv"):
            data = rrm_tfds.load_split(NAME, "default", split, tmp_path / folder)
            assert data.num_examples == 1000
            np.testing.assert_array_equal(data.inputs, ref.inputs)
            np.testing.assert_array_equal(data.labels, ref.labels)
            assert data.metadata == ref.metadata
