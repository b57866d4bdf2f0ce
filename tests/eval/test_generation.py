"""Unconditional Sudoku generation: the data transform (empty board -> distinct solutions) and
the rule-checked metrics (valid, unique, novel) on hand-made boards."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax import data as data_lib
from rrm_jax.config import ConfigError, base_config, validate
from rrm_jax.data import generation as gen_data
from rrm_jax.data import official, sudoku
from rrm_jax.eval import generation

BOARD = sudoku.Board(2, 2)
# A valid 4x4 grid (official tokens = digit + 1).
GRID = np.array([1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1])
TOKENS = GRID + 1


def _variant(grid, perm):
    """Another valid grid: the digits relabelled by `perm` (1-based)."""
    return np.asarray(perm)[grid - 1]


def test_valid_boards_checks_rows_columns_boxes_and_completeness():
    assert sudoku.is_solution(GRID, BOARD)
    swap_row = TOKENS.copy()
    swap_row[[0, 1]] = swap_row[[1, 0]]  # columns 0 and 1 clash now
    box = np.array([1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3]) + 1  # rows/cols ok, boxes not
    blank = TOKENS.copy()
    blank[5] = 1
    pad = TOKENS.copy()
    pad[5] = 0
    out = generation.valid_boards(np.stack([TOKENS, swap_row, box, blank, pad]), BOARD)
    np.testing.assert_array_equal(out, [True, False, False, False, False])
    # agrees with the solver's own check on random boards
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = rng.integers(1, 5, 16)
        assert generation.valid_boards((g + 1)[None], BOARD)[0] == sudoku.is_solution(g, BOARD)
    nine = sudoku.generate(sudoku.Board(3, 3), 2, seed=0)["solutions"]
    assert generation.valid_boards(sudoku.encode(nine), sudoku.Board(3, 3)).all()


def test_metrics_count_valid_unique_and_novel():
    other = _variant(GRID, [2, 1, 3, 4]) + 1
    third = _variant(GRID, [4, 3, 2, 1]) + 1
    broken = TOKENS.copy()
    broken[0] = broken[1]
    samples = np.stack([[TOKENS, TOKENS, other, broken], [third, broken, broken, other]])
    m = generation.metrics(samples, train_boards=TOKENS[None])
    assert m["valid"] == pytest.approx(5 / 8)
    assert m["distinct"] == 3 and m["unique"] == pytest.approx(3 / 5)
    assert m["novel"] == pytest.approx(2 / 3)  # `other` and `third` are not in training
    assert "novel" not in generation.metrics(samples)
    with pytest.raises(ValueError, match="Sudoku"):
        generation.metrics(np.ones((2, 10), int))


def test_unconditional_keeps_distinct_boards_of_an_empty_input():
    other = _variant(GRID, [2, 1, 3, 4]) + 1
    labels = np.stack([TOKENS, other, TOKENS, other, TOKENS])
    puzzles = labels.copy()
    puzzles[:, :5] = 1
    split = official.from_examples(puzzles, labels, vocab_size=BOARD.vocab_size)
    out = gen_data.unconditional(split)
    np.testing.assert_array_equal(out.labels, [TOKENS, other])  # first-occurrence order
    assert np.all(out.inputs == gen_data.BLANK)
    assert gen_data.unconditional(split, max_examples=1).num_examples == 1
    holed = official.from_examples(puzzles, puzzles, vocab_size=BOARD.vocab_size)
    with pytest.raises(official.DataError, match="complete boards"):
        gen_data.unconditional(holed)


def test_data_task_generate_builds_empty_boards_from_a_sudoku_source(tmp_path):
    c = base_config()
    c.data.update(dict(source="sudoku", board="2x2", num_train=60, num_test=20, task="generate"))
    c.data.generate_boards = 30
    validate(c)
    d = data_lib.build(c.data)
    assert d.kind == "sudoku_generation"
    assert d.train.num_examples <= 30 and np.all(d.train.inputs == 1)
    assert generation.valid_boards(d.train.labels, BOARD).all()
    assert len(np.unique(d.train.labels, axis=0)) == d.train.num_examples
    c.data.task = "sample"
    with pytest.raises(ConfigError, match="data.task"):
        validate(c)
    c.data.update(dict(source="tfds", name="n_queens", config="5x5", task="generate"))
    c.data.data_dir = str(tmp_path / "tfds")
    with pytest.raises(official.DataError, match="Sudoku source"):
        data_lib.build(c.data)
