"""Bad sources fail before anything readable is written, naming the file and the row."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rrm_jax.data import official, puzzle_sources
from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.official import DataError
from tests.datasets import fakes


def _sudoku_source(tmp_path, edit=None, header=fakes.HEADER):
    src = tmp_path / "src"
    train = [list(r) for r in fakes.sudoku_rows(6, seed=1)]
    if edit is not None:
        edit(train)
    fakes.write_csv(src / "train.csv", train, header=header)
    fakes.write_csv(src / "test.csv", fakes.sudoku_rows(3, seed=2))
    return src


def _set(row: int, column: int, value):
    def edit(rows):
        rows[row][column] = value(rows[row][column]) if callable(value) else value

    return edit


SUDOKU_CASES = {
    "short question": (
        _set(3, 1, lambda q: q[:80]),
        r"line 5 \(row 3\): question has 80 characters",
    ),
    "long answer": (_set(0, 2, lambda a: a + "1"), r"line 2 \(row 0\): answer has 82 characters"),
    "letter in question": (
        _set(2, 1, lambda q: q[:10] + "x" + q[11:]),
        r"line 4 \(row 2\): question character 'x' at position 10",
    ),
    "blank in answer": (
        _set(5, 2, lambda a: "." + a[1:]),
        r"line 7 \(row 5\): answer character '.' at position 0",
    ),
    "non-ASCII digit": (
        _set(1, 1, lambda q: q[:5] + "\u0663" + q[6:]),
        r"line 3 \(row 1\): question character '\u0663' at position 5",
    ),
    "missing field": (lambda rows: rows[4].pop(), r"line 6 \(row 4\): 3 fields, expected 4"),
    "bad rating": (_set(2, 3, "hard"), r"line 4 \(row 2\): rating 'hard' is not an integer"),
}


@pytest.mark.parametrize("case", sorted(SUDOKU_CASES))
def test_sudoku_csv_row_errors(tmp_path, case):
    edit, pattern = SUDOKU_CASES[case]
    src = _sudoku_source(tmp_path, edit)
    with pytest.raises(DataError, match=re.escape(str(src / "train.csv")) + ": " + pattern):
        rrm_tfds.prepare("sudoku_extreme", "full", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("sudoku_extreme", "full", tmp_path / "data")


def test_sudoku_csv_file_errors(tmp_path):
    data = tmp_path / "data"
    src = _sudoku_source(tmp_path)
    (src / "test.csv").unlink()
    with pytest.raises(DataError, match=re.escape(str(src / "test.csv")) + ": missing file"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=src)
    fakes.assert_nothing_readable("sudoku_extreme", "1k", data)

    src = _sudoku_source(tmp_path / "h", header=("source", "puzzle", "answer", "rating"))
    with pytest.raises(DataError, match=r"train\.csv: line 1: header .* lacks .*question"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=src)
    (src / "train.csv").write_text("")
    with pytest.raises(DataError, match=r"train\.csv: empty file"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=src)
    fakes.write_csv(src / "train.csv", [])
    with pytest.raises(DataError, match=r"train\.csv: no data rows"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=src)
    with pytest.raises(DataError, match="source folder does not exist"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither sudoku_extreme CSVs"):
        rrm_tfds.prepare("sudoku_extreme", "1k", data, source_dir=tmp_path / "empty")
    fakes.assert_nothing_readable("sudoku_extreme", "1k", data)


MAZE_CASES = {
    "short question": (_set(1, 1, lambda q: q[:899]), r"line 3 \(row 1\): question has 899 char"),
    "foreign character": (
        _set(3, 2, lambda a: a[:450] + "X" + a[451:]),
        r"line 5 \(row 3\): answer character 'X' at position 450 is not one of '# SGo'",
    ),
}


@pytest.mark.parametrize("case", sorted(MAZE_CASES))
def test_maze_csv_row_errors(tmp_path, case):
    edit, pattern = MAZE_CASES[case]
    src = tmp_path / "src"
    test = [list(r) for r in fakes.maze_rows(5, seed=2)]
    edit(test)
    fakes.write_csv(src / "train.csv", fakes.maze_rows(4, seed=1))
    fakes.write_csv(src / "test.csv", test)
    with pytest.raises(DataError, match=re.escape(str(src / "test.csv")) + ": " + pattern):
        rrm_tfds.prepare("maze_hard", "default", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("maze_hard", "default", tmp_path / "data")


def test_maze_missing_split_file(tmp_path):
    src = tmp_path / "src"
    fakes.write_csv(src / "test.csv", fakes.maze_rows(2, seed=1))
    with pytest.raises(DataError, match=re.escape(str(src / "train.csv")) + ": missing file"):
        rrm_tfds.prepare("maze_hard", "default", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("maze_hard", "default", tmp_path / "data")
    # A CSV folder missing a split builds the split it has when asked to.
    b = rrm_tfds.prepare("maze_hard", "default", tmp_path / "data", source_dir=src, splits="test")
    assert list(b.info.splits) == ["test"]


def _official_folder(root, inputs, labels, vocab_size):
    for split in ("train", "test"):
        data = official.from_examples(inputs, labels, vocab_size=vocab_size)
        official.write_split(root, split, data, identifiers=["<blank>"])
    return root


def test_official_folder_bad_tokens(tmp_path):
    # PAD (0) passes the format's own checks as a label (it is the ignore label) but is no maze
    # cell; the builder names the file and row.
    labels = np.full((4, 900), 2, dtype=np.uint8)
    labels[2, 17] = 0
    src = _official_folder(tmp_path / "maze", np.full((4, 900), 2, np.uint8), labels, 6)
    with pytest.raises(DataError, match=r"all__labels\.npy: row 2: label token 0 at position 17"):
        rrm_tfds.prepare("maze_hard", "default", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("maze_hard", "default", tmp_path / "data")
    # A folder of another benchmark (maze arrays for Sudoku) is refused by its metadata.
    with pytest.raises(DataError, match=r"dataset\.json: seq_len=900, vocab_size=6"):
        rrm_tfds.prepare("sudoku_extreme", "full", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("sudoku_extreme", "full", tmp_path / "data")
    # The format's own errors come through, naming the file.
    src = _official_folder(tmp_path / "maze2", np.full((4, 900), 2, np.uint8), labels + 1, 6)
    (src / "test" / "all__labels.npy").write_bytes(b"")
    with pytest.raises(DataError, match=r"test/all__labels\.npy: empty file"):
        rrm_tfds.prepare("maze_hard", "default", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("maze_hard", "default", tmp_path / "data")


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    """An error after some examples were written (TFDS writes into a temporary folder)."""
    src = _sudoku_source(tmp_path)

    def failing(self):
        yield from list(original(self))[:3]
        raise RuntimeError("disk trouble")

    original = puzzle_sources.Examples.generate
    monkeypatch.setattr(puzzle_sources.Examples, "generate", failing)
    with pytest.raises(RuntimeError, match="disk trouble"):
        rrm_tfds.prepare("sudoku_extreme", "full", tmp_path / "data", source_dir=src)
    fakes.assert_nothing_readable("sudoku_extreme", "full", tmp_path / "data")
    monkeypatch.undo()
    # The same folder then builds normally.
    rrm_tfds.prepare("sudoku_extreme", "full", tmp_path / "data", source_dir=src)
    assert (
        rrm_tfds.load_split("sudoku_extreme", "full", "train", tmp_path / "data").num_examples == 6
    )
