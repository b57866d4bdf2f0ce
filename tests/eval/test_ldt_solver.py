"""LDT's abstaining solver (eval/ldt_solver.py): restarts, abstention at the round budget, the
first solved chain accepted, the status split and the Sudoku rule check of accepted answers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax.data import sudoku
from rrm_jax.eval import ldt_solver
from rrm_jax.models import ldt
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
    lat = ldt.tokens_to_lattice(jnp.asarray(inputs[:2]), SUDOKU)
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
