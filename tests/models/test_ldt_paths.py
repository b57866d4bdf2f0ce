"""LDT's Maze multi-path supervision (models/ldt.py, ldt_lattice.py, `ldt.num_solutions`): the
alpha target over the label plus K - 1 sampled shortest paths, its K = 1 reduction, the
conflict / bottom cases, and the training step that samples the paths when a row enters the
pool."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax.config import ConfigError
from rrm_jax.data import maze_paths as mp
from rrm_jax.eval import maze
from rrm_jax.models import ldt, ldt_lattice
from tests.data.test_maze_paths import ROOMY, ROOMY_LABEL, brute_force_shortest
from tests.models.test_ldt import rig, small_config

MAZE = ldt_lattice.domain_for("maze", 6)
S = ROOMY.size  # 7 x 7


def maze_config(**ldt_fields):
    c = small_config(**{"domain": "maze", **ldt_fields})
    c.ldt.symmetries = "d4"
    c.model.update(dict(vocab_size=6, seq_len=S))
    return c


def lattices(b: int = 1):
    puzzle = ldt_lattice.tokens_to_lattice(jnp.asarray(np.tile(ROOMY.reshape(1, -1), (b, 1))), MAZE)
    label = ldt_lattice.labels_to_lattice(
        jnp.asarray(np.tile(ROOMY_LABEL.reshape(1, -1), (b, 1))), MAZE
    )
    return puzzle, label


def all_paths() -> np.ndarray:
    """bool [14, S]: every shortest path of ROOMY (interior cells)."""
    _, paths = brute_force_shortest(ROOMY)
    out = np.zeros((len(paths), 7, 7), bool)
    for i, p in enumerate(sorted(paths, key=sorted)):
        for cell in p:
            out[i][cell] = True
    return out.reshape(len(paths), S)


def test_solutions_from_paths_are_the_rendered_mazes():
    _, label = lattices()
    paths = all_paths()
    sols = np.asarray(ldt_lattice.solutions_from_paths(label, jnp.asarray(paths)[None]))
    assert sols.shape == (1, 1 + len(paths), S, 5)
    np.testing.assert_array_equal(sols[0, 0], np.asarray(label[0]))
    for k, p in enumerate(paths):
        tokens = np.where(p, maze.PATH, ROOMY.reshape(-1))
        np.testing.assert_array_equal(
            sols[0, 1 + k],
            np.asarray(ldt_lattice.labels_to_lattice(jnp.asarray(tokens)[None], MAZE))[0],
        )
    bottom = jnp.zeros_like(label)
    assert not bool(ldt_lattice.solutions_from_paths(bottom, jnp.asarray(paths)[None]).any())


def test_alpha_over_paths_equals_the_union_of_consistent_solutions():
    """On random narrowings of the puzzle: `alpha_surviving_paths` is `alpha_surviving` on the
    materialised solutions, i.e. the union of the solutions whose every cell stays alive."""
    b = 64
    puzzle, label = lattices(b)
    paths = jnp.asarray(np.tile(all_paths()[None], (b, 1, 1)))
    key = jax.random.PRNGKey(0)
    # pin some open cells to "open" or to "path" (kill the other candidate)
    kill = jax.random.bernoulli(key, 0.12, (b, S)) & (puzzle.sum(-1) == 2)
    to_path = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (b, S))
    state = puzzle.at[..., ldt_lattice.MAZE_OPEN_CH].set(
        puzzle[..., ldt_lattice.MAZE_OPEN_CH] & ~(kill & to_path)
    )
    state = state.at[..., ldt_lattice.MAZE_PATH_CH].set(
        state[..., ldt_lattice.MAZE_PATH_CH] & ~(kill & ~to_path)
    )
    last = jax.random.bernoulli(jax.random.fold_in(key, 2), 0.5, label.shape)
    got = ldt_lattice.alpha_surviving_paths(state, label, paths, last)
    sols = ldt_lattice.solutions_from_paths(label, paths)
    want = ldt_lattice.alpha_surviving(state, sols, last)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # a mix of rows where all, some and none of the 15 solutions survive
    surviving = np.asarray(((state[:, None] & sols).any(-1)).all(-1).sum(-1))
    assert surviving.max() == 15 and 0 < (surviving < 15).sum() and (surviving == 0).any()
    # where some survive, alpha is their union
    for i in np.flatnonzero(surviving):
        alive = np.asarray(((state[i][None] & sols[i]).any(-1)).all(-1))
        np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(sols[i])[alive].any(0))


def test_one_solution_is_the_k1_target():
    b = 8
    puzzle, label = lattices(b)
    state = puzzle.at[:, 9].set(jnp.asarray([False, False, False, False, True]))
    state = state.at[1, 8].set(jnp.asarray([False, True, False, False, False]))  # kills label
    last = jnp.zeros_like(label).at[:, :, 0].set(True)
    want = ldt_lattice.alpha_surviving(state, label[:, None], last)
    none = jnp.zeros((b, 0, S), bool)
    np.testing.assert_array_equal(
        np.asarray(ldt_lattice.alpha_surviving_paths(state, label, none, last)), np.asarray(want)
    )
    same = jnp.tile((jnp.asarray(ROOMY_LABEL.reshape(-1)) == maze.PATH)[None, None], (b, 3, 1))
    np.testing.assert_array_equal(
        np.asarray(ldt_lattice.alpha_surviving_paths(state, label, same, last)), np.asarray(want)
    )


def test_inconsistent_state_and_bottom_label_give_the_fallback_and_a_conflict():
    puzzle, label = lattices()
    paths = jnp.asarray(all_paths())[None]
    # every open cell of ROOMY is on some shortest path; each path leaves S through (1, 2) or
    # (2, 1): with both pinned to "open" no solution survives
    dag = mp.shortest_path_dag(ROOMY)
    assert dag.on_dag[ROOMY == maze.OPEN].all()
    first = [(1, 2), (2, 1)]
    state = puzzle
    for r, c in first:
        state = state.at[0, r * 7 + c].set(jnp.asarray([False, True, False, False, False]))
    union = ldt_lattice.alpha_surviving_paths(jnp.ones_like(label), label, paths, label)
    fallback = ldt_lattice.alpha_surviving_paths(state, label, paths, union)
    assert bool((fallback == union).all())  # none survives: the previous alpha
    # The official conflict target is per cell (`_gt_conflict`: some cell keeps no candidate of
    # alpha): against a multi-valued previous alpha it can stay False when no solution survives
    # (here each pinned cell keeps "open", which other solutions have) ...
    assert not bool(ldt_lattice.gt_conflict(state, union)[0])
    # ... and it fires once the previous alpha is narrow, e.g. the label alone survived before
    fallback = ldt_lattice.alpha_surviving_paths(state, label, paths, label)
    assert bool((fallback == label).all()) and bool(ldt_lattice.gt_conflict(state, fallback)[0])
    # the union of all 15 solutions: on the DAG cells both open and path are alive
    assert bool(union[0, 9, ldt_lattice.MAZE_PATH_CH])
    assert bool(union[0, 9, ldt_lattice.MAZE_OPEN_CH])
    # pinning one cell to path keeps exactly the solutions through it
    state = puzzle.at[0, 4 * 7 + 1].set(jnp.asarray([False, False, False, False, True]))
    alpha = ldt_lattice.alpha_surviving_paths(state, label, paths, union)
    through = np.asarray(paths[0, :, 4 * 7 + 1])
    assert through.sum() == 1  # one shortest path goes down the left side
    want = np.asarray(ldt_lattice.solutions_from_paths(label, paths))[0, 1:][through][0]
    np.testing.assert_array_equal(np.asarray(alpha[0]), want)
    assert not bool(ldt_lattice.gt_conflict(state, alpha)[0])
    # an UNSAT sample (bottom label): alpha stays bottom, every state a conflict
    bottom = jnp.zeros_like(label)
    alpha = ldt_lattice.alpha_surviving_paths(puzzle, bottom, paths, bottom)
    assert not bool(alpha.any()) and bool(ldt_lattice.gt_conflict(puzzle, alpha)[0])


def test_num_solutions_is_validated():
    c = maze_config(num_solutions=0)
    with pytest.raises(ValueError, match="num_solutions"):
        ldt.check_config(c)
    c = small_config(num_solutions=4)  # sudoku
    with pytest.raises(ValueError, match="maze"):
        ldt.check_config(c)
    ldt.check_config(maze_config(num_solutions=4))
    from rrm_jax.config import validate

    c = small_config(num_solutions=4)
    c.data.update(dict(source="sudoku"))
    with pytest.raises(ConfigError, match="maze"):
        validate(c)


def test_training_step_samples_k_paths_and_trains_on_their_union():
    """Zero-hint fresh rows of ROOMY with K = 8: the carry holds 7 shortest paths per row (the
    same for every copy of the maze: the draw depends on the maze only), the previous alpha of a
    fresh row is the union of the 8 solutions, and the keep target is that union (every
    solution is consistent with the puzzle); K = 1 keeps today's carry."""
    b = 4
    c = maze_config(num_solutions=8, zero_hint=1.0, correct_hint=0.0, error_hint=0.0)
    model = ldt.build(c)
    params = rig(model.init(jax.random.PRNGKey(0), {}), keep_bias=20.0)
    batch = {
        "inputs": jnp.asarray(np.tile(ROOMY.reshape(1, -1), (b, 1)), jnp.int32),
        "labels": jnp.asarray(np.tile(ROOMY_LABEL.reshape(1, -1), (b, 1)), jnp.int32),
        "puzzle_identifiers": jnp.zeros(b, jnp.int32),
    }
    carry = model.reset_carry(params, model.initial_carry(batch), jnp.ones(b, bool))
    assert carry["paths"].shape == (b, 7, S)
    apply = jax.jit(lambda p, cr, bt, k: model.apply(p, cr, bt, rng=k, training=True))
    new, out = apply(params, carry, batch, jax.random.PRNGKey(1))
    paths = np.asarray(new["paths"])
    assert (paths == paths[:1]).all()
    answers = np.where(paths[0], maze.PATH, ROOMY.reshape(-1)[None])
    assert mp.lenient_correct(answers, np.tile(ROOMY.reshape(1, -1), (7, 1))).all()
    _, label = lattices(b)
    union = np.asarray(ldt_lattice.solutions_from_paths(label, jnp.asarray(paths)).any(1))
    np.testing.assert_array_equal(np.asarray(new["alpha"]), union)
    assert all(bool(jnp.isfinite(v).all()) for v in out.losses.values())
    assert float(out.metrics["ldt_sat"].min()) == 1.0
    # the rows stay in the pool (no kill, one pin each): the paths are kept, not redrawn
    again, _ = apply(params, new, batch, jax.random.PRNGKey(2))
    np.testing.assert_array_equal(np.asarray(again["paths"]), paths)
    # K = 1: no path masks in the carry, alpha is the label
    c1 = maze_config(zero_hint=1.0, correct_hint=0.0, error_hint=0.0)
    m1 = ldt.build(c1)
    carry1 = m1.reset_carry(params, m1.initial_carry(batch), jnp.ones(b, bool))
    assert "paths" not in carry1
    new1, _ = jax.jit(lambda p, cr, bt, k: m1.apply(p, cr, bt, rng=k, training=True))(
        params, carry1, batch, jax.random.PRNGKey(1)
    )
    np.testing.assert_array_equal(np.asarray(new1["alpha"]), np.asarray(label))
