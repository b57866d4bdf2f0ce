"""LDT's abstaining solver (eval/ldt_solver.py): restarts, abstention at the round budget, the
first solved chain accepted, the status split and the Sudoku rule check of accepted answers."""

from __future__ import annotations

import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax.data import sudoku
from rrm_jax.eval import ldt_solver
from rrm_jax.models import ldt, ldt_lattice
from tests.models.test_ldt import BOARD, SUDOKU, rig, small_config


@pytest.fixture(scope="module")
def data():
    gen = sudoku.generate(BOARD, 5, 11)
    return sudoku.encode(gen["puzzles"]).astype(np.int32), sudoku.encode(gen["solutions"])


@pytest.fixture(scope="module")
def solver():
    config = small_config(chains=4, rounds=24, solver_puzzles=2, rounds_per_call=5)
    s = ldt_solver.Solver(config)
    params = ldt.build(config).init(jax.random.PRNGKey(0), {})
    return config, s, params


def test_a_model_that_always_flags_conflict_restarts_and_abstains(solver, data):
    config, s, params = solver
    inputs, labels = data
    result = s.solve(rig(params, keep_bias=20.0, conflict_bias=20.0), inputs)
    assert not result["accepted"].any()
    assert (result["rounds"] == 24).all()  # the whole budget, no more
    assert (result["resets"] == 24 * 4).all()  # every chain restarts every round
    assert (result["answer"] == inputs).all()  # an abstention returns the puzzle
    summary, status = ldt_solver.score(config, inputs, labels, result)
    assert (status == ldt_solver.ABSTAINED).all()
    assert summary["ldt/abstained"] == 1.0 and summary["ldt/correct"] == 0.0
    assert summary["ldt/rule_violations"] == 0 and summary["ldt/forwards_mean"] == 24 * 4


def test_restart_returns_the_chain_to_the_original_puzzle(solver, data):
    _, s, params = solver
    inputs, _ = data
    lat = ldt_lattice.tokens_to_lattice(jnp.asarray(inputs[:2]), SUDOKU)
    slots = s.fill(s.empty_slots(), jnp.ones(2, bool), lat)
    # one round of pure branching (no conflict): every chain narrows
    one = ldt_solver.Solver(small_config(chains=4, rounds=24, solver_puzzles=2, rounds_per_call=1))
    calm = rig(params, keep_bias=20.0, conflict_bias=-20.0)
    moved = one.rounds(calm, slots, jax.random.PRNGKey(0))
    assert bool((moved["state"] != slots["orig"]).any((1, 2)).all())
    # then a conflict everywhere: every chain is back at its puzzle
    back = one.rounds(rig(params, keep_bias=20.0, conflict_bias=20.0), moved, jax.random.PRNGKey(1))
    assert bool((back["state"] == slots["orig"]).all())
    assert (np.asarray(back["resets"]) == 4).all() and (np.asarray(back["rounds"]) == 2).all()


def test_a_model_that_never_deduces_branches_to_a_full_grid_and_is_accepted(solver, data):
    """No kills and no conflict flag: every round pins one blank, so each chain fills the grid
    after `blanks` rounds and declares itself solved on the next; the first such chain's grid is
    accepted as is (no rule check in the loop), so most answers are wrong, and the rule check
    counts the accepted answers that break a constraint."""
    config, s, params = solver
    inputs, labels = data
    blanks = (inputs == 1).sum(-1)
    config = small_config(chains=4, rounds=int(blanks.max()) + 1, solver_puzzles=2)
    s = ldt_solver.Solver(config)
    result = s.solve(rig(params, keep_bias=20.0, conflict_bias=-20.0), inputs)
    assert result["accepted"].all()
    assert (result["rounds"] == blanks + 1).all()
    assert (result["resets"] == 0).all()
    ans = result["answer"]
    assert ((ans >= 2) & (ans <= 7)).all() and (ans[inputs > 1] == inputs[inputs > 1]).all()
    summary, status = ldt_solver.score(config, inputs, labels, result)
    assert summary["ldt/abstained"] == 0.0
    wrong = status == ldt_solver.WRONG
    grid = ans - 1
    broken = ldt_solver.sudoku_rule_violations(grid, np.where(inputs > 1, inputs - 1, 0))
    # a unique-solution puzzle: a full grid that keeps the givens is wrong iff it breaks a rule
    assert summary["ldt/rule_violations"] == broken.sum() == wrong.sum()
    assert summary["ldt/correct"] + summary["ldt/wrong"] == 1.0


def test_one_round_budget_abstains_on_unsolved_puzzles(data):
    """A budget of one round ends every unsolved puzzle after exactly one round."""
    inputs, labels = data
    config = small_config(chains=2, rounds=1, solver_puzzles=3, rounds_per_call=4)
    s = ldt_solver.Solver(config)
    params = ldt.build(config).init(jax.random.PRNGKey(0), {})
    result = s.solve(rig(params, keep_bias=20.0, conflict_bias=-20.0), inputs)
    assert (result["rounds"] == 1).all() and not result["accepted"].any()


def test_first_solved_chain_is_accepted():
    """When several chains solve in the same round the lowest chain index wins; a chain that
    solved is never overwritten by later rounds."""
    config = small_config(chains=3, rounds=10, solver_puzzles=1, rounds_per_call=3)
    s = ldt_solver.Solver(config)
    gen = sudoku.generate(BOARD, 1, 5)
    sol = sudoku.encode(gen["solutions"]).astype(np.int32)
    # the puzzle IS the solution except one blank: the first round pins it, the second accepts
    puzzle = sol.copy()
    puzzle[0, 0] = 1
    params = rig(ldt.build(config).init(jax.random.PRNGKey(0), {}), 20.0, -20.0)
    result = s.solve(params, puzzle)
    assert result["accepted"].all() and result["rounds"][0] == 2
    assert result["answer"][0, 1:].tolist() == sol[0, 1:].tolist()


def test_score_and_rule_check_on_hand_built_answers():
    gen = sudoku.generate(BOARD, 3, 7)
    inputs = sudoku.encode(gen["puzzles"]).astype(np.int32)
    labels = sudoku.encode(gen["solutions"]).astype(np.int32)
    answer = labels.copy()
    answer[1, [0, 1]] = answer[1, [1, 0]]  # a swapped pair: wrong and rule-breaking
    result = {
        "answer": answer,
        "accepted": np.array([True, True, False]),
        "rounds": np.array([3, 5, 10]),
        "resets": np.array([0, 2, 7]),
    }
    config = small_config(chains=4)
    summary, status = ldt_solver.score(config, inputs, labels, result)
    assert status.tolist() == [ldt_solver.CORRECT, ldt_solver.WRONG, ldt_solver.ABSTAINED]
    assert summary["ldt/rule_violations"] == 1
    assert summary["ldt/forwards_mean"] == 4 * 6 and summary["ldt/rounds_solved_mean"] == 4
    grids = labels - 1
    assert not ldt_solver.sudoku_rule_violations(grids, np.zeros_like(grids)).any()
    bad = grids.copy()
    bad[0, 0] = bad[0, 1]
    assert ldt_solver.sudoku_rule_violations(bad, np.zeros_like(grids)).tolist()[0]
    givens = np.where(inputs > 1, inputs - 1, 0)
    flipped = grids.copy()
    flipped[:, :6] = flipped[:, :6][:, ::-1]  # breaks boxes or givens
    assert ldt_solver.sudoku_rule_violations(flipped, givens).all()


# -- the round budget as a call argument, the scaling harness's LDT grid, multi-host counts --


@pytest.fixture(scope="module")
def mixed():
    """Six 6x6 puzzles with 0 to 26 blanks (their solutions with cells blanked), so a small
    budget finishes some and abstains on others; the full grid is accepted (correct) in one
    round, the random model's completions are mostly wrong."""
    gen = sudoku.generate(BOARD, 6, 21)
    sol = sudoku.encode(gen["solutions"]).astype(np.int32)
    puzzles = sudoku.encode(gen["puzzles"]).astype(np.int32)
    inputs = sol.copy()
    rng = np.random.default_rng(0)
    for i, blanks in enumerate((0, 1, 2, 3, 12)):
        inputs[i, rng.choice(sol.shape[1], blanks, replace=False)] = 1
    inputs[5] = puzzles[5]
    params = ldt.build(small_config()).init(jax.random.PRNGKey(3), {})
    return inputs, sol, params


def _batches(inputs, labels, size=4):
    """Host eval batches of `size` rows (the last padded, `valid` False)."""
    out = []
    for lo in range(0, len(inputs), size):
        x, y = inputs[lo : lo + size], labels[lo : lo + size]
        pad = size - len(x)
        out.append(
            {
                "inputs": np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)]),
                "labels": np.concatenate([y, np.full((pad, y.shape[1]), -100, y.dtype)]),
                "valid": np.arange(size) < len(x),
            }
        )
    return out


def test_ldt_grid_cells_are_direct_solver_runs(mixed, tmp_path):
    """Each (K, R) cell of the harness's LDT grid is the solver run with K chains and R rounds
    on the same puzzles and seed (streaming: fewer slots than puzzles); (ldt.chains,
    ldt.rounds)'s summary is returned as the evaluation; the table has correct / wrong /
    abstained and the compute-matched pair of one chain x 8 rounds against 2 chains x 4."""
    from rrm_jax.eval import scaling

    inputs, labels, params = mixed
    fields = dict(solver_puzzles=2, rounds_per_call=3, solver_seed=5)
    config = small_config(chains=2, rounds=30, **fields)
    config.scaling.update(dict(widths=(2, 1), depths=(30, 4, 8)))
    assert scaling.grid_axes(config) == ((1, 2), (4, 8, 30))
    records, evaluated = scaling.run_ldt_grid(
        config, params, lambda: iter(_batches(inputs, labels))
    )
    per_round = scaling.blocks_per_segment(config)
    assert per_round == 2 * 1  # num_loops x num_layers
    assert [(r["K"], r["D"]) for r in records] == [(1, 4), (1, 8), (1, 30), (2, 4), (2, 8), (2, 30)]
    for r in records:
        cell = small_config(chains=r["K"], rounds=r["D"], **fields)
        result = ldt_solver.Solver(cell).solve(params, inputs, seed=5)
        summary, status = ldt_solver.score(cell, inputs, labels, result)
        assert r["correct"] == (status == ldt_solver.CORRECT).mean()
        assert r["wrong"] == (status == ldt_solver.WRONG).mean()
        assert r["abstained"] == (status == ldt_solver.ABSTAINED).mean()
        assert r["rounds"] == result["rounds"].mean() and r["forwards"] == r["rounds"] * r["K"]
        assert r["rule_violations"] == summary["ldt/rule_violations"]
        assert r["compute"] == r["K"] * r["D"] * per_round
        want = "depth" if r["K"] == 1 else ("width" if r["D"] == 4 else "mixed")
        assert r["allocation"] == want
        if (r["K"], r["D"]) == (2, 30):
            assert {k: v for k, v in evaluated.items() if k != "ldt/seconds"} == summary
    cells = {(r["K"], r["D"]): r for r in records}
    assert cells[(1, 4)]["correct"] > 0 and cells[(1, 4)]["wrong"] > 0
    assert cells[(1, 4)]["abstained"] > 0 and cells[(1, 30)]["abstained"] == 0
    pairs = scaling.matched(records)
    assert [(p["compute"], p["depth"]["D"], p["width"]["K"]) for p in pairs] == [(8 * 2, 8, 2)]
    text = scaling.markdown(records, "ldt toy")
    assert "| correct | wrong | abstained |" in text and "| 2 x 4 |" in text
    maze = [{**r, "lenient_correct": 0.5} for r in records]  # Maze's lenient metric, a column
    assert "lenient correct |" in scaling.markdown(maze) and "| 50.00 |" in scaling.markdown(maze)
    assert len(scaling.frontier(records, "correct")) == len({r["compute"] for r in records})
    paths = scaling.write(records, str(tmp_path), "ldt toy")
    assert open(paths["csv"]).read().count("\n") == len(records) + 1
    assert os.path.getsize(paths["png"]) > 0
    # no scaling.* override: powers of two up to ldt.chains and ldt.rounds
    assert scaling.grid_axes(small_config(chains=4, rounds=6)) == ((1, 2, 4), (1, 2, 4, 6))


def test_more_rounds_never_finish_fewer_puzzles_when_all_have_a_slot(mixed):
    """With every puzzle in a slot from the first call (solver_puzzles >= puzzles), a puzzle's
    draws are those of (seed, round) alone, whatever the budget: a larger budget finishes every
    puzzle a smaller one finished, with the same answer, in the same rounds. (With fewer slots
    than puzzles the draws depend on when a puzzle entered, so this holds only in expectation.)
    One compile serves every budget."""
    inputs, labels, params = mixed
    config = small_config(chains=2, rounds=40, solver_puzzles=len(inputs), rounds_per_call=3)
    s = ldt_solver.Solver(config)
    prev, prev_correct = None, 0
    for budget in (1, 4, 8, 27, 30, 40):
        result = s.solve(params, inputs, seed=1, rounds=budget)
        assert (result["rounds"] <= budget).all()
        _, status = ldt_solver.score(config, inputs, labels, result)
        correct = int((status == ldt_solver.CORRECT).sum())
        if prev is not None:
            done = prev["accepted"]
            assert (result["accepted"] >= done).all() and correct >= prev_correct
            np.testing.assert_array_equal(result["answer"][done], prev["answer"][done])
            np.testing.assert_array_equal(result["rounds"][done], prev["rounds"][done])
        prev, prev_correct = result, correct
    assert prev["accepted"].any() and s._rounds._cache_size() == 1


def _fake_processes(count):
    """An all-gather for `count` threads standing in for processes: each thread's tree is
    stacked over the threads on a new axis 0 (`multihost_utils.process_allgather`)."""
    barrier, slots, local = threading.Barrier(count), [None] * count, threading.local()

    def allgather(tree):
        slots[local.index] = tree
        barrier.wait()
        out = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *slots)
        barrier.wait()
        return out

    def run(fns):
        results, errors = [None] * count, []

        def target(i):
            local.index = i
            try:
                results[i] = fns[i]()
            except Exception as e:  # noqa: BLE001 -- re-raised below
                errors.append(e)
                barrier.abort()

        threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        if errors:
            raise errors[0]
        return results

    return allgather, run


def test_gather_puzzles_concatenates_unequal_shards_in_process_order():
    rows = [
        {"a": np.arange(3), "b": np.array([True, False, True]), "c": np.ones((3, 2), np.int8)},
        {"a": np.arange(5) + 10, "b": np.ones(5, bool), "c": np.zeros((5, 2), np.int8)},
    ]
    assert ldt_solver.gather_puzzles(rows[0]) is rows[0]  # one process: unchanged
    allgather, run = _fake_processes(2)
    out = run([lambda i=i: ldt_solver.gather_puzzles(rows[i], allgather) for i in range(2)])
    for got in out:
        for k in ("a", "b", "c"):
            want = np.concatenate([rows[0][k], rows[1][k]])
            np.testing.assert_array_equal(got[k], want)
            assert got[k].dtype == want.dtype
    empty = {"a": np.zeros(0, np.int64), "b": np.zeros(0, bool), "c": np.zeros((0, 2), np.int8)}
    out = run([lambda: ldt_solver.gather_puzzles(empty, allgather)] * 2)
    assert out[0]["c"].shape == (0, 2)


def test_evaluate_reports_the_totals_over_processes(mixed, monkeypatch):
    """Two (simulated) processes each solve their own rows; both report the score of all the
    puzzles: counts summed, rates and means over the whole split."""
    from jax.experimental import multihost_utils

    inputs, labels, params = mixed
    config = small_config(chains=2, rounds=30, solver_puzzles=2, rounds_per_call=3)
    shards = [slice(0, 4), slice(4, 6)]  # unequal shards: 4 and 2 puzzles
    local = []
    for sh in shards:  # what each process solves on its own
        solver = ldt_solver.solver_for(config)
        local.append(solver.solve(params, inputs[sh], seed=0, rounds=30))
    joined = {k: np.concatenate([r[k] for r in local]) for k in ("answer", "accepted", "rounds")}
    joined["resets"] = np.concatenate([r["resets"] for r in local])
    want, _ = ldt_solver.score(config, inputs, labels, joined)
    allgather, run = _fake_processes(2)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(multihost_utils, "process_allgather", allgather)
    out = run(
        [
            lambda sh=sh: ldt_solver.evaluate(config, params, _batches(inputs[sh], labels[sh]))
            for sh in shards
        ]
    )
    for got in out:
        assert {k: v for k, v in got.items() if k != "ldt/seconds"} == want
    assert want["count"] == 6
    parts = [
        ldt_solver.score(config, inputs[sh], labels[sh], r)[0]
        for sh, r in zip(shards, local, strict=True)
    ]
    for k in ("ldt/correct_count", "ldt/wrong_count", "ldt/abstained_count"):
        assert want[k] == sum(p[k] for p in parts)
    assert want["ldt/rounds_mean"] == pytest.approx(
        sum(p["ldt/rounds_mean"] * p["count"] for p in parts) / 6
    )
