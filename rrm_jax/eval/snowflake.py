"""Rule checker of Snowflake Sudoku (`datasets/snowflake_sudoku`; LDT, arXiv 2605.08605).

Boards are token rows on the 15 x 10 covering grid of `rrm_jax.data.snowflake` (PAD 0 outside the
puzzle, blank 1, digit d = token d + 1). A puzzle's cells are the positions where its input is not
PAD. A predicted board is valid when every cell of the puzzle holds a digit, every all-distinct
group of the puzzle holds 6 different digits, and every given of the input is kept; positions
outside the puzzle are not looked at (they carry no loss).

The groups are found without knowing n: the covering grid's 25 hexagons and their meeting points
are fixed, and a group belongs to a puzzle when all 6 of its positions are in the puzzle (a
meeting point's 6 cells are in the puzzle exactly when its 3 hexagons are). So the check is one
vectorised pass over a batch of any mix of sizes, and works for any set of hexagons in the grid.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from rrm_jax.data import snowflake

_DIGITS = np.arange(1, snowflake.NUM_DIGITS + 1) + snowflake.DIGIT_BASE


@functools.cache
def group_positions() -> np.ndarray:
    """int [G, 6]: the covering-grid positions of every hexagon and meeting-point group."""
    topo = snowflake.covering_topology()
    return topo.positions[topo.groups]


@dataclasses.dataclass(frozen=True)
class Check:
    """Per board: `valid` (bool), and int counts of `violations` (groups of the puzzle whose 6
    cells are not 6 different digits: a clash or a cell without a digit), `unfilled` (puzzle
    cells without a digit) and `givens_changed` (givens of the input not kept)."""

    valid: np.ndarray
    violations: np.ndarray
    unfilled: np.ndarray
    givens_changed: np.ndarray


def _rows(tokens, what: str) -> np.ndarray:
    x = np.asarray(tokens)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != snowflake.SEQ_LEN:
        raise ValueError(f"{what}: expected [B, {snowflake.SEQ_LEN}] tokens, got {x.shape}")
    return x.astype(np.int64)


def check(boards, inputs) -> Check:
    """Checks boards [B, 150] (or one [150]) against their puzzles' inputs (same shape).

    Returns:
      A `Check` of [B] arrays.
    """
    board, given = _rows(boards, "boards"), _rows(inputs, "inputs")
    if board.shape != given.shape:
        raise ValueError(f"boards {board.shape} and inputs {given.shape} differ")
    in_puzzle = given != snowflake.PAD
    is_digit = (board >= _DIGITS[0]) & (board <= _DIGITS[-1])
    unfilled = (in_puzzle & ~is_digit).sum(1)
    is_given = given > snowflake.BLANK
    givens_changed = (is_given & (board != given)).sum(1)
    pos = group_positions()
    active = in_puzzle[:, pos].all(-1)  # [B, G]
    distinct = (np.sort(board[:, pos], axis=-1) == _DIGITS).all(-1)
    violations = (active & ~distinct).sum(1)
    valid = (unfilled == 0) & (givens_changed == 0) & (violations == 0) & in_puzzle.any(1)
    return Check(valid, violations, unfilled, givens_changed)


def is_valid(boards, inputs) -> np.ndarray:
    """bool [B]: whether each board is a valid completion of its input."""
    return check(boards, inputs).valid


def metrics(boards, inputs) -> dict[str, float]:
    """`valid`: the fraction of valid boards (rule-checked accuracy; the puzzles have one
    solution, so it equals exact accuracy on the puzzle cells); `violations`: the mean number of
    violated groups per board; `unfilled`, `givens_changed`: means per board."""
    c = check(boards, inputs)
    if c.valid.size == 0:
        return {"valid": 0.0, "violations": 0.0, "unfilled": 0.0, "givens_changed": 0.0}
    return {
        "valid": float(c.valid.mean()),
        "violations": float(c.violations.mean()),
        "unfilled": float(c.unfilled.mean()),
        "givens_changed": float(c.givens_changed.mean()),
    }
