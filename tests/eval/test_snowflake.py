"""The Snowflake Sudoku rule checker on known valid boards and hand-broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.data import snowflake as sf
from rrm_jax.eval import snowflake as checker


def _rotation(n: int) -> np.ndarray:
    """Every hexagon numbered 1..6 in direction order: valid for any set of hexagons (at a
    meeting point the three hexagons show sectors {c-1, c}, {c+1, c+2}, {c+3, c+4})."""
    return sf.to_tokens(sf.topology(n), np.tile(np.arange(1, 7), n))


def _blank_input(n: int) -> np.ndarray:
    return sf.to_tokens(sf.topology(n), np.zeros(6 * n, dtype=np.uint8))


@pytest.fixture(scope="module")
def generated():
    return sf.generate(25, 5, variants=1)


def test_group_positions_match_every_topology():
    pos = checker.group_positions()
    assert pos.shape == (25 + 32, 6)  # 25 hexagons; 2 triangles per rhombus of the 5x5 grid
    for n in range(1, sf.MAX_HEXAGONS + 1):
        t = sf.topology(n)
        mask = np.zeros(sf.SEQ_LEN, bool)
        mask[t.positions] = True
        active = np.sort(pos[mask[pos].all(1)], 1)
        want = np.sort(t.positions[t.groups], 1)
        assert sorted(map(tuple, active.tolist())) == sorted(map(tuple, want.tolist()))


def test_known_valid_boards(generated):
    g = generated
    c = checker.check(g.labels, g.inputs)
    assert c.valid.all() and not c.violations.any() and not c.unfilled.any()
    for n in (4, 7, 8, 19):
        assert checker.is_valid(_rotation(n), _blank_input(n)).all()
    # Positions outside the puzzle are not looked at.
    noisy = g.labels.copy()
    noisy[g.inputs == sf.PAD] = 5
    assert checker.is_valid(noisy, g.inputs).all()
    # An unsolved input is no answer.
    c = checker.check(g.inputs, g.inputs)
    assert not c.valid.any() and (c.unfilled == 6 * g.n - g.givens).all()


def test_a_swapped_pair_in_a_hexagon():
    board, given = _rotation(7), _blank_input(7)
    pos = sf.topology(7).positions
    # Swapping two neighbouring centre cells (NE, E: they share corner 1) keeps the hexagon and
    # corner 1 distinct and breaks the meeting points at corners 0 and 2.
    swapped = board.copy()
    swapped[[pos[0], pos[1]]] = board[[pos[1], pos[0]]]
    c = checker.check(swapped, given)
    assert not c.valid[0] and c.violations.tolist() == [2] and c.unfilled.tolist() == [0]
    # Opposite cells (NE, SW) share no corner: corners 0, 1, 3 and 4 break.
    swapped = board.copy()
    swapped[[pos[0], pos[3]]] = board[[pos[3], pos[0]]]
    assert checker.check(swapped, given).violations.tolist() == [4]
    # The lone hexagon of n=8, (2, -2), is in no meeting point: a swap there stays valid.
    board8, pos8 = _rotation(8), sf.topology(8).positions
    swapped = board8.copy()
    swapped[[pos8[42], pos8[45]]] = board8[[pos8[45], pos8[42]]]
    assert checker.is_valid(swapped, _blank_input(8)).all()


def test_a_meeting_point_clash():
    # Rotating one hexagon's digits by one cell keeps the hexagon all-distinct and clashes every
    # meeting point it is in: the centre of n=7 is in 6, of n=4 in 2.
    for n, expected in ((7, 6), (4, 2)):
        board, pos = _rotation(n), sf.topology(n).positions
        rotated = board.copy()
        rotated[pos[:6]] = np.roll(board[pos[:6]], 1)
        c = checker.check(rotated, _blank_input(n))
        assert not c.valid[0] and c.violations.tolist() == [expected]


def test_a_changed_given_and_a_blank(generated):
    g = generated
    i = int(np.flatnonzero(g.n == 7)[0])
    label, given = g.labels[i], g.inputs[i]
    # Another valid board of the same shape that ignores the givens.
    other = _rotation(7)
    c = checker.check(other, given)
    assert c.violations.tolist() == [0] and c.givens_changed[0] > 0 and not c.valid[0]
    # One given changed to another digit: the given, its hexagon and its meeting points.
    t = sf.topology(7)
    cell = int(np.flatnonzero(sf.from_tokens(t, given))[0])
    broken = label.copy()
    broken[t.positions[cell]] = (label[t.positions[cell]] - 2 + 1) % 6 + 2
    c = checker.check(broken, given)
    groups_of_cell = int((t.groups == cell).any(1).sum())
    assert c.givens_changed.tolist() == [1] and c.violations.tolist() == [groups_of_cell]
    # One blank cell left blank: unfilled, and every group it is in is violated.
    blank = int(np.flatnonzero(sf.from_tokens(t, given) == 0)[0])
    broken = label.copy()
    broken[t.positions[blank]] = sf.BLANK
    c = checker.check(broken, given)
    assert not c.valid[0] and c.unfilled.tolist() == [1] and c.givens_changed.tolist() == [0]
    assert c.violations.tolist() == [int((t.groups == blank).any(1).sum())]


def test_batch_matches_rows_and_metrics(generated):
    g = generated
    rng = np.random.default_rng(0)
    boards = g.labels.copy()
    bad = rng.choice(len(g), 10, replace=False)
    for i in bad:
        p = np.flatnonzero(g.inputs[i] == sf.BLANK)
        q = p[np.flatnonzero(boards[i, p] != boards[i, p[0]])[0]]  # a blank of another digit
        boards[i, p[0]], boards[i, q] = boards[i, q], boards[i, p[0]]
    c = checker.check(boards, g.inputs)
    for i in range(len(g)):
        one = checker.check(boards[i], g.inputs[i])
        assert (one.valid[0], one.violations[0]) == (c.valid[i], c.violations[i])
    assert c.valid.sum() == len(g) - 10  # a unique puzzle has no second valid completion
    m = checker.metrics(boards, g.inputs)
    assert m["valid"] == pytest.approx((len(g) - 10) / len(g))
    assert m["violations"] == pytest.approx(c.violations.mean()) and m["violations"] > 0
    with pytest.raises(ValueError, match="150"):
        checker.check(boards[:, :100], g.inputs[:, :100])
