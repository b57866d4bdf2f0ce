"""Maze exact and lenient scoring on hand-made 5x5 mazes, and against a plain reference."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest

from rrm_jax.eval import maze

M = maze.from_strings

# Two shortest S->G paths (4 moves): along the top and right, or down the left and bottom.
TWO_WAYS = M(["#####", "#S  #", "# # #", "#  G#", "#####"])
TOP = M(["#####", "#Soo#", "# #o#", "#  G#", "#####"])
LEFT = M(["#####", "#S  #", "#o# #", "#ooG#", "#####"])


def _batch(*grids):
    return np.stack([g.reshape(-1) for g in grids])


def test_tokens_follow_the_dataset_charset():
    assert (maze.WALL, maze.OPEN, maze.START, maze.GOAL, maze.PATH) == (1, 2, 3, 4, 5)
    np.testing.assert_array_equal(M(["# SGo"]), [[1, 2, 3, 4, 5]])
    with pytest.raises(ValueError):
        M(["#x"])


def test_alternative_shortest_path_passes_lenient_not_exact():
    preds = _batch(TOP, LEFT)
    labels = _batch(TOP, TOP)
    inputs = _batch(TWO_WAYS, TWO_WAYS)
    np.testing.assert_array_equal(maze.exact(preds, labels), [True, False])
    np.testing.assert_array_equal(maze.lenient(preds, inputs), [True, True])
    np.testing.assert_array_equal(maze.shortest_path_lengths(inputs), [4, 4])


def test_longer_path_fails():
    inp = M(["#####", "#S G#", "#   #", "#   #", "#####"])
    short = M(["#####", "#SoG#", "#   #", "#   #", "#####"])
    detour = M(["#####", "#S G#", "#o o#", "#ooo#", "#####"])  # a simple path, 6 moves > 2
    res = maze.lenient(_batch(short, detour), _batch(inp, inp))
    np.testing.assert_array_equal(res, [True, False])


def test_broken_branching_or_missing_paths_fail():
    broken = M(["#####", "#So #", "# #o#", "#  G#", "#####"])
    branch = M(["#####", "#Soo#", "#o#o#", "#  G#", "#####"])
    nothing = TWO_WAYS
    both = M(["#####", "#Soo#", "#o#o#", "#ooG#", "#####"])  # a cycle through S and G
    preds = _batch(broken, branch, nothing, both)
    inputs = _batch(*[TWO_WAYS] * 4)
    np.testing.assert_array_equal(maze.lenient(preds, inputs), [False] * 4)
    np.testing.assert_array_equal(maze.exact(preds, _batch(*[TOP] * 4)), [False] * 4)


def test_overwriting_walls_start_or_goal_fails():
    through_wall = M(["#####", "#So #", "# o #", "# oG#", "#####"])  # 4 moves, but via a wall
    wall_opened = M(["#####", "#Soo#", "# #o#", "#  G#", "## ##"])  # path fine, a wall erased
    start_lost = M(["#####", "#ooo#", "# #o#", "#  G#", "#####"])
    goal_moved = M(["#####", "#Soo#", "# #o#", "# GG#", "#####"])  # an extra G
    extra_start = M(["#####", "#Soo#", "# #o#", "#S G#", "#####"])
    preds = _batch(through_wall, wall_opened, start_lost, goal_moved, extra_start)
    inputs = _batch(*[TWO_WAYS] * 5)
    np.testing.assert_array_equal(maze.lenient(preds, inputs), [False] * 5)
    # Cells outside the path that are not walls, S or G may be anything.
    scribbled = M(["#####", "#Soo#", "# #o#", "#  G#", "#####"])
    scribbled[3, 1] = maze.WALL
    assert maze.lenient(_batch(scribbled), _batch(TWO_WAYS))[0]


def test_no_path_or_no_start_in_the_input_fails():
    walled = M(["#####", "#S# #", "### #", "#  G#", "#####"])
    no_start = M(["#####", "#   #", "# # #", "#  G#", "#####"])
    two_starts = M(["#####", "#S  #", "# # #", "#S G#", "#####"])
    inputs = _batch(walled, no_start, two_starts)
    np.testing.assert_array_equal(maze.shortest_path_lengths(inputs), [-1, -1, -1])
    np.testing.assert_array_equal(maze.lenient(inputs, inputs), [False] * 3)
    tries = _batch(M(["#####", "#S# #", "###o#", "#  G#", "#####"]), no_start, two_starts)
    np.testing.assert_array_equal(maze.lenient(tries, inputs), [False] * 3)


def test_adjacent_start_and_goal():
    inp = M(["#####", "#SG #", "#   #", "#   #", "#####"])
    assert maze.shortest_path_lengths(_batch(inp))[0] == 1
    assert maze.lenient(_batch(inp), _batch(inp))[0]


def test_exact_ignores_pad_label_cells_and_shapes_are_checked():
    label = TOP.copy()
    label[0, 0] = maze.PAD
    pred = TOP.copy()
    pred[0, 0] = maze.OPEN
    assert maze.exact(_batch(pred), _batch(label))[0]
    np.testing.assert_array_equal(
        maze.exact(TOP[None], TOP[None]), maze.exact(_batch(TOP), _batch(TOP))
    )
    with pytest.raises(ValueError):
        maze.exact(np.zeros((2, 24), int), np.zeros((2, 24), int))
    with pytest.raises(ValueError):
        maze.lenient(np.zeros((2, 25), int), np.zeros((2, 36), int))


def test_summary_leaves_out_padding_rows():
    pad = np.zeros(25, np.int32)
    preds = np.stack([TOP.reshape(-1), LEFT.reshape(-1), pad])
    labels = np.stack([TOP.reshape(-1), TOP.reshape(-1), pad])
    inputs = np.stack([TWO_WAYS.reshape(-1), TWO_WAYS.reshape(-1), pad])
    s = maze.summary(preds, labels, inputs)
    assert s == {
        "count": 2,
        "exact": 1,
        "lenient": 2,
        "exact_accuracy": 0.5,
        "lenient_accuracy": 1.0,
    }


# --------------------------------------------------------------------------------------------
# Random 30x30 mazes against a plain per-maze reference.


def _bfs(grid, src, order):
    """Distances and parents from src over non-wall cells, neighbours tried in `order`."""
    h, w = grid.shape
    parent = {src: None}
    q = deque([src])
    while q:
        r, c = q.popleft()
        for dr, dc in order:
            n = (r + dr, c + dc)
            if 0 <= n[0] < h and 0 <= n[1] < w and grid[n] != maze.WALL and n not in parent:
                parent[n] = (r, c)
                q.append(n)
    return parent


def _reference_lenient(inp, pred):
    s, g = map(tuple, (np.argwhere(inp == maze.START)[0], np.argwhere(inp == maze.GOAL)[0]))
    parent = _bfs(inp, s, ((1, 0), (-1, 0), (0, 1), (0, -1)))
    if g not in parent:
        return False
    dist, n = 0, g
    while parent[n] is not None:
        n, dist = parent[n], dist + 1
    keep = (inp == maze.WALL) | (inp == maze.START) | (inp == maze.GOAL)
    if not (pred[keep] == inp[keep]).all():
        return False
    if ((pred == maze.START) != (inp == maze.START)).any():
        return False
    if ((pred == maze.GOAL) != (inp == maze.GOAL)).any():
        return False
    if (inp[pred == maze.PATH] != maze.OPEN).any():
        return False
    # Walk from S along marked cells; it must reach G without branching, using every cell.
    cells = {tuple(x) for x in np.argwhere(pred == maze.PATH)} | {s, g}
    prev, cur, steps = None, s, 0
    while cur != g:
        nxt = [
            (cur[0] + dr, cur[1] + dc)
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
            if (cur[0] + dr, cur[1] + dc) in cells and (cur[0] + dr, cur[1] + dc) != prev
        ]
        if len(nxt) != 1:
            return False
        prev, cur, steps = cur, nxt[0], steps + 1
    # G is the end: it has one marked neighbour; no stray cells.
    g_deg = sum((g[0] + dr, g[1] + dc) in cells for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)))
    return g_deg == 1 and steps + 1 == len(cells) and steps == dist


def _random_mazes(n, rng):
    inputs, labels, alts = [], [], []
    while len(inputs) < n:
        grid = np.where(rng.random((30, 30)) < 0.3, maze.WALL, maze.OPEN).astype(np.uint8)
        cells = rng.choice(900, 2, replace=False)
        s, g = divmod(int(cells[0]), 30), divmod(int(cells[1]), 30)
        grid[s], grid[g] = maze.START, maze.GOAL
        out = []
        for order in (((1, 0), (-1, 0), (0, 1), (0, -1)), ((0, -1), (0, 1), (-1, 0), (1, 0))):
            parent = _bfs(grid, s, order)
            if g not in parent:
                break
            lab = grid.copy()
            cur = parent[g]
            while cur != s:
                lab[cur] = maze.PATH
                cur = parent[cur]
            out.append(lab)
        if len(out) == 2:
            inputs.append(grid)
            labels.append(out[0])
            alts.append(out[1])
    return np.stack(inputs), np.stack(labels), np.stack(alts)


def test_random_mazes_match_the_reference_and_run_fast():
    rng = np.random.default_rng(0)
    inputs, labels, alts = _random_mazes(150, rng)
    preds = []
    for i, (lab, alt) in enumerate(zip(labels, alts, strict=True)):
        kind = i % 5
        p = (lab if kind in (0, 1) else alt).copy()
        if kind == 2:  # drop a path cell
            on = np.argwhere(p == maze.PATH)
            if len(on):
                p[tuple(on[rng.integers(len(on))])] = maze.OPEN
        elif kind == 3:  # mark a random open cell
            free = np.argwhere(p == maze.OPEN)
            p[tuple(free[rng.integers(len(free))])] = maze.PATH
        elif kind == 4 and i % 10 == 4:  # write over a random wall
            walls = np.argwhere(p == maze.WALL)
            p[tuple(walls[rng.integers(len(walls))])] = maze.PATH
        preds.append(p)
    preds = np.stack(preds)
    got = maze.lenient(preds.reshape(len(preds), -1), inputs.reshape(len(inputs), -1))
    want = np.array([_reference_lenient(x, p) for x, p in zip(inputs, preds, strict=True)])
    np.testing.assert_array_equal(got, want)
    assert 0 < got.sum() < len(got)
    assert maze.lenient(alts, inputs).all() and maze.lenient(labels, inputs).all()
    assert maze.exact(labels, labels).all()

    # 1000 mazes in well under the few seconds asked for.
    big_p, big_x = np.tile(preds, (7, 1, 1))[:1000], np.tile(inputs, (7, 1, 1))[:1000]
    t = time.perf_counter()
    maze.lenient(big_p, big_x)
    assert time.perf_counter() - t < 5.0
