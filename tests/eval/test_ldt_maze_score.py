"""LDT's solver report on Maze (eval/ldt_solver.py `score`): exact match stays `ldt/correct`, the
paper's lenient any-optimal-path metric is `ldt/lenient_correct`, and `ldt/rule_violations`
counts accepted answers that are not a simple S->G path (`rrm_jax.eval.maze.valid_path`)."""

from __future__ import annotations

import numpy as np

from rrm_jax.eval import ldt_solver, maze
from tests.data.test_maze_paths import ROOMY, ROOMY_LABEL
from tests.models.test_ldt_paths import maze_config


def _marked(cells):
    out = ROOMY.copy()
    for cell in cells:
        out[cell] = maze.PATH
    return out


ALT = _marked([(2, 1), (3, 1), (3, 2), (3, 3), (4, 3), (5, 3), (5, 4)])  # another shortest path
LONGER = _marked([(1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1), (4, 1), (5, 1), (5, 2), (5, 3)])
LONGER[5, 4] = maze.PATH  # a simple S->G path of 12 moves (shortest: 8)
BROKEN = ROOMY_LABEL.copy()
BROKEN[3, 5] = maze.OPEN
BRANCHED = ROOMY_LABEL.copy()
BRANCHED[2, 3] = maze.PATH  # a spur off the path: connected, but not a simple path
WALL_GONE = ROOMY_LABEL.copy()
WALL_GONE[2, 2] = maze.OPEN


def test_valid_path_accepts_simple_paths_of_any_length_only():
    preds = np.stack([ROOMY_LABEL, ALT, LONGER, BROKEN, BRANCHED, WALL_GONE, ROOMY])
    inputs = np.stack([ROOMY] * len(preds))
    assert maze.valid_path(preds, inputs).tolist() == [True, True, True] + [False] * 4
    assert maze.lenient(preds, inputs).tolist() == [True, True] + [False] * 5
    # a path plus a detached loop passes the degree conditions, not connectivity
    m = maze.from_strings
    inp = m(["#######", "#S G  #", "#     #", "#     #", "#######"])
    path = m(["#######", "#SoG  #", "#     #", "#     #", "#######"])
    loop = m(["#######", "#SoG  #", "#   oo#", "#   oo#", "#######"])  # + a detached loop
    assert maze.valid_path(np.stack([path, loop]), np.stack([inp, inp])).tolist() == [True, False]


def test_score_reports_exact_and_lenient_and_maze_rule_violations():
    config = maze_config(chains=4)
    answers = np.stack([ROOMY_LABEL, ALT, LONGER, BROKEN, BRANCHED, ROOMY, ALT])
    p = len(answers)
    inputs = np.stack([ROOMY] * p).reshape(p, -1).astype(np.int32)
    labels = np.stack([ROOMY_LABEL] * p).reshape(p, -1).astype(np.int32)
    accepted = np.array([True, True, True, True, True, False, False])
    result = {
        "answer": answers.reshape(p, -1).astype(np.int32),
        "accepted": accepted,
        "rounds": np.full(p, 3),
        "resets": np.zeros(p, int),
    }
    summary, status = ldt_solver.score(config, inputs, labels, result)
    C, W, A = ldt_solver.CORRECT, ldt_solver.WRONG, ldt_solver.ABSTAINED
    assert status.tolist() == [C, W, W, W, W, A, A]  # the status is exact match
    assert summary["ldt/correct"] == 1 / p and summary["ldt/wrong"] == 4 / p
    # lenient: the label's path and the other shortest path, accepted ones only
    assert summary["ldt/lenient_correct"] == 2 / p
    assert summary["ldt/lenient_correct_count"] == 2
    assert summary["ldt/rule_violations"] == 2  # the broken and the branched answers
