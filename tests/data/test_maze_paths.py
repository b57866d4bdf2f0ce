"""Shortest paths of a maze (data/maze_paths.py): BFS distances, the path count against a
brute-force enumeration, uniform sampling (numpy and JAX), and the lenient any-optimal-path
check."""

from __future__ import annotations

import os
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax.data import maze_paths as mp
from rrm_jax.eval import maze

M = maze.from_strings

# 14 shortest paths of 8 moves (the brute force below confirms it)
ROOMY = M(["#######", "#S    #", "# # # #", "#     #", "# #   #", "#    G#", "#######"])
ROOMY_LABEL = M(["#######", "#Soooo#", "# # #o#", "#    o#", "# #  o#", "#    G#", "#######"])
# an open 3 x 4 room, S and G in opposite corners: C(5, 2) = 10 shortest paths of 5 moves
OPEN = M(["######", "#S   #", "#    #", "#   G#", "######"])
TWO_WAYS = M(["#####", "#S  #", "# # #", "#  G#", "#####"])
WALLED = M(["#####", "#S# #", "### #", "#  G#", "#####"])  # G unreachable


def brute_force_shortest(grid) -> tuple[int, set[frozenset]]:
    """(length, set of interior-cell sets) of all shortest S->G paths, by enumerating every simple
    S->G path."""
    grid = np.asarray(grid)
    s = tuple(np.argwhere(grid == maze.START)[0])
    g = tuple(np.argwhere(grid == maze.GOAL)[0])
    ok = mp.walkable(grid)
    h, w = grid.shape
    found: list[tuple[int, frozenset]] = []

    def dfs(cell, seen, inner):
        if cell == g:
            found.append((len(seen) - 1, frozenset(inner)))
            return
        for dr, dc in mp.MOVES:
            n = (cell[0] + dr, cell[1] + dc)
            if 0 <= n[0] < h and 0 <= n[1] < w and ok[n] and n not in seen:
                seen.add(n)
                dfs(n, seen, inner + ([n] if n != g else []))
                seen.remove(n)

    dfs(s, {s}, [])
    if not found:
        return -1, set()
    best = min(n for n, _ in found)
    return best, {p for n, p in found if n == best}


def random_mazes(n: int, side: int, wall_rate: float, seed: int) -> list[np.ndarray]:
    """Bordered side x side mazes with random inner walls and S, G on random open cells."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        grid = np.full((side, side), maze.WALL, np.int32)
        inner = np.where(rng.random((side - 2, side - 2)) < wall_rate, maze.WALL, maze.OPEN)
        grid[1:-1, 1:-1] = inner
        free = np.argwhere(grid == maze.OPEN)
        if len(free) < 2:
            continue
        a, b = rng.choice(len(free), 2, replace=False)
        grid[tuple(free[a])], grid[tuple(free[b])] = maze.START, maze.GOAL
        out.append(grid)
    return out


def as_set(mask) -> frozenset:
    return frozenset(map(tuple, np.argwhere(mask)))


def test_bfs_distances_on_a_hand_made_maze():
    d = mp.bfs_distances(mp.walkable(TWO_WAYS), (1, 1))
    want = np.array(
        [
            [-1, -1, -1, -1, -1],
            [-1, 0, 1, 2, -1],
            [-1, 1, -1, 3, -1],
            [-1, 2, 3, 4, -1],
            [-1, -1, -1, -1, -1],
        ]
    )
    np.testing.assert_array_equal(d, want)
    d = mp.bfs_distances(mp.walkable(WALLED), (1, 1))
    assert d[3, 3] == mp.UNREACHED and (d >= 0).sum() == 1  # S is boxed in
    dag = mp.shortest_path_dag(ROOMY)
    assert dag.length == 8 and dag.on_dag[dag.start] and dag.on_dag[dag.goal]
    # a DAG cell lies on some shortest path (d_S + d_G = D): (4, 1) and (1, 5) do
    assert dag.on_dag[4, 1] and dag.on_dag[1, 5] and not dag.on_dag[0, 0]
    assert mp.shortest_path_dag(WALLED) is None


@pytest.mark.parametrize("grid,count", [(TWO_WAYS, 2), (OPEN, 10), (ROOMY, 14)])
def test_path_count_of_hand_made_mazes_matches_brute_force(grid, count):
    length, paths = brute_force_shortest(grid)
    assert mp.count_shortest_paths(grid) == len(paths) == count
    assert mp.shortest_path_dag(grid).length == length


def test_path_count_of_random_mazes_matches_brute_force():
    for grid in random_mazes(25, 7, 0.25, seed=3):
        length, paths = brute_force_shortest(grid)
        assert mp.count_shortest_paths(grid) == len(paths)
        dag = mp.shortest_path_dag(grid)
        assert (dag is None) == (length < 0)
        if dag is not None:
            assert dag.length == length
            # the DAG is exactly the union of the shortest paths (plus S and G)
            union = set().union(*paths) | {dag.start, dag.goal}
            assert as_set(dag.on_dag) == union


def test_jax_dag_and_log_counts_match_numpy():
    boxed = ROOMY.copy()
    boxed[4, 5] = boxed[5, 4] = maze.WALL  # G unreachable
    sevens = np.stack(random_mazes(12, 7, 0.25, seed=5) + [ROOMY, boxed])
    dag = mp.jax_shortest_path_dag(jnp.asarray(sevens.reshape(len(sevens), -1)), 7, 7)
    lc = np.asarray(mp.jax_log_path_counts(dag))
    for i, grid in enumerate(sevens):
        ref = mp.shortest_path_dag(grid)
        assert bool(dag.valid[i]) == (ref is not None)
        if ref is None:
            continue
        assert int(dag.length[i]) == ref.length
        np.testing.assert_array_equal(np.asarray(dag.on_dag[i]), ref.on_dag)
        counts = mp.path_counts(ref)
        for cell, n in counts.items():
            np.testing.assert_allclose(np.exp(lc[i][cell]), n, rtol=1e-5)
        assert np.isneginf(lc[i][~ref.on_dag]).all()


def test_open_30x30_count_is_exact_and_jax_log_count_close():
    """No walls: C(58, 29) ~ 3e16 shortest paths corner to corner (beyond float32 integers)."""
    grid = np.full((30, 30), maze.OPEN, np.int32)
    grid[0, 0], grid[29, 29] = maze.START, maze.GOAL
    from math import comb

    assert mp.count_shortest_paths(grid) == comb(58, 29)
    dag = mp.jax_shortest_path_dag(jnp.asarray(grid.reshape(1, -1)), 30, 30)
    lc = float(mp.jax_log_path_counts(dag)[0, 0, 0])
    np.testing.assert_allclose(lc, np.log(float(comb(58, 29))), rtol=1e-5)


def _chi_square(counter: Counter, support: set, draws: int) -> float:
    expected = draws / len(support)
    return sum((counter.get(p, 0) - expected) ** 2 / expected for p in support)


# 0.1% critical values of chi-square with df = 9 and 13
CHI2_999 = {10: 27.88, 14: 34.53}


@pytest.mark.parametrize("grid", [OPEN, ROOMY])
def test_numpy_sampler_is_uniform_over_shortest_paths(grid):
    _, paths = brute_force_shortest(grid)
    draws = 100 * len(paths)
    masks = mp.sample_shortest_paths(grid, draws, seed=7)
    got = Counter(as_set(m) for m in masks)
    assert set(got) == paths  # only shortest paths, and every one of them
    assert _chi_square(got, paths, draws) < CHI2_999[len(paths)]
    again = mp.sample_shortest_paths(grid, draws, seed=7)
    np.testing.assert_array_equal(masks, again)  # deterministic given the seed
    assert mp.lenient_correct(
        np.stack([mp.render(grid, m) for m in masks[:50]]), np.stack([grid] * 50)
    ).all()


@pytest.mark.parametrize("grid", [OPEN, ROOMY])
def test_jax_sampler_is_uniform_valid_and_deterministic(grid):
    _, paths = brute_force_shortest(grid)
    h, w = grid.shape
    draws = 200 * len(paths)
    inputs = jnp.asarray(grid.reshape(1, -1), jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(11), 1)
    sample = jax.jit(mp.jax_sample_paths, static_argnums=(2, 3, 4))
    masks = np.asarray(sample(keys, inputs, draws, h, w))[0].reshape(draws, h, w)
    got = Counter(as_set(m) for m in masks)
    assert set(got) == paths
    assert _chi_square(got, paths, draws) < CHI2_999[len(paths)]
    answers = np.where(masks, maze.PATH, grid[None])  # [N, H, W]: OPEN is not square
    assert mp.lenient_correct(answers, np.repeat(grid[None], draws, 0)).all()
    again = np.asarray(sample(keys, inputs, draws, h, w))[0].reshape(draws, h, w)
    np.testing.assert_array_equal(masks, again)


def test_jax_sampler_on_a_batch_with_an_unsolvable_maze_uses_the_fallback():
    grids = np.stack([TWO_WAYS, WALLED, M(["#####", "#   #", "# # #", "#  G#", "#####"])])
    inputs = jnp.asarray(grids.reshape(3, -1), jnp.int32)
    fallback = jnp.zeros((3, 25), bool).at[:, 7].set(True)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    out = np.asarray(mp.jax_sample_paths(keys, inputs, 16, 5, 5, fallback))
    firsts = {as_set(m.reshape(5, 5)) for m in out[0]}
    assert firsts == brute_force_shortest(TWO_WAYS)[1]  # both ways show up in 16 draws
    assert (out[1:] == np.asarray(fallback)[1:, None]).all()  # no path / no S: the fallback
    assert not np.asarray(mp.jax_sample_paths(keys, inputs, 2, 5, 5))[1:].any()


def test_puzzle_keys_depend_on_the_maze_only():
    a, b = ROOMY.reshape(-1), ROOMY_LABEL.reshape(-1)
    inputs = jnp.asarray(np.stack([a, b, a]), jnp.int32)
    k = np.asarray(jax.random.key_data(mp.puzzle_keys(13, inputs)))
    assert (k[0] == k[2]).all() and not (k[0] == k[1]).all()
    k2 = np.asarray(jax.random.key_data(mp.puzzle_keys(14, inputs)))
    assert not (k[0] == k2[0]).all()


def test_lenient_checker_accepts_any_optimal_path_only():
    alt = ROOMY.copy()
    for cell in [(2, 1), (3, 1), (3, 2), (3, 3), (4, 3), (5, 3), (5, 4)]:
        alt[cell] = maze.PATH  # down, right, down, right: another shortest path
    alt2 = ROOMY.copy()  # down the left side, then along the bottom
    for cell in [(2, 1), (3, 1), (4, 1), (5, 1), (5, 2), (5, 3), (5, 4)]:
        alt2[cell] = maze.PATH
    longer = ROOMY.copy()  # a valid simple S->G path of 12 moves
    for cell in [(1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1), (4, 1), (5, 1), (5, 2), (5, 3)]:
        longer[cell] = maze.PATH
    longer[5, 4] = maze.PATH
    assert mp.lenient_correct(longer[None], ROOMY[None]).tolist() == [False]
    assert maze.shortest_path_lengths(ROOMY[None])[0] == 8 and (longer == maze.PATH).sum() == 11
    broken = ROOMY_LABEL.copy()
    broken[3, 5] = maze.OPEN
    through_wall = ROOMY.copy()  # 8 moves, but across the wall at (2, 2)
    for cell in [(1, 2), (2, 2), (3, 2), (3, 3), (3, 4), (4, 4), (5, 4)]:
        through_wall[cell] = maze.PATH
    start_moved = ROOMY_LABEL.copy()
    start_moved[1, 1], start_moved[2, 1] = maze.PATH, maze.START
    goal_lost = ROOMY_LABEL.copy()
    goal_lost[5, 5] = maze.PATH
    answers = [ROOMY_LABEL, alt, alt2, longer, broken, through_wall, start_moved, goal_lost]
    got = mp.lenient_correct(np.stack([a.reshape(-1) for a in answers]), np.stack([ROOMY] * 8))
    assert got.tolist() == [True, True, True, False, False, False, False, False]
    assert mp.count_shortest_paths(ROOMY) == 14


MAZE_HARD = "/work/shared/data/maze-30x30-hard-1k/alphaXiv_TRM/test"


@pytest.mark.skipif(
    not os.path.exists(os.path.join(MAZE_HARD, "all__inputs.npy")),
    reason="Maze-Hard test split not present",
)
def test_real_maze_hard_labels_and_samples_are_optimal():
    inputs = np.load(os.path.join(MAZE_HARD, "all__inputs.npy"))[:8].astype(np.int32)
    labels = np.load(os.path.join(MAZE_HARD, "all__labels.npy"))[:8].astype(np.int32)
    assert mp.lenient_correct(labels, inputs).all()  # the labels are shortest paths
    counts = [mp.count_shortest_paths(x.reshape(30, 30)) for x in inputs]
    assert min(counts) >= 1
    dag = mp.jax_shortest_path_dag(jnp.asarray(inputs), 30, 30)
    lc = np.asarray(mp.jax_log_path_counts(dag))
    for i, x in enumerate(inputs):
        start = tuple(np.argwhere(x.reshape(30, 30) == maze.START)[0])
        np.testing.assert_allclose(lc[i][start], np.log(float(counts[i])), rtol=1e-4, atol=1e-4)
    keys = mp.puzzle_keys(13, jnp.asarray(inputs))
    paths = np.asarray(mp.jax_sample_paths(keys, jnp.asarray(inputs), 32, 30, 30))
    answers = np.where(paths, maze.PATH, inputs[:, None]).reshape(-1, 900)
    assert mp.lenient_correct(answers, np.repeat(inputs, 32, 0)).all()
