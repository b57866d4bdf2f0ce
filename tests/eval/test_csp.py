"""N-Queens and graph-colouring rule checkers, enumerators and metrics, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rrm_jax.eval import csp

# 8-queens: one queen per row, the column of each.
EIGHT = [0, 4, 7, 5, 2, 6, 1, 3]


def _board(cols, n):
    return csp.queens_boards(np.asarray(cols), n)


def _without(board, squares):
    x = board.copy()
    x[list(squares)] = csp.EMPTY
    return x


def test_number_of_queens_solutions():
    # OEIS A000170.
    assert [len(csp.queens_solutions(n)) for n in range(1, 9)] == [1, 0, 0, 2, 10, 4, 40, 92]
    sols = csp.queens_solutions(8)
    assert EIGHT in sols.tolist()
    assert len({tuple(s) for s in sols.tolist()}) == 92
    assert sols.tolist() == sorted(sols.tolist())
    boards = csp.queens_boards(sols, 8)
    assert csp.n_queens_valid(boards, boards, 8).all()
    assert boards.dtype == np.uint8 and set(np.unique(boards)) == {csp.EMPTY, csp.QUEEN}


def test_n_queens_valid_on_known_boards():
    n = 8
    sol = _board(EIGHT, n)
    queens = np.flatnonzero(sol == csp.QUEEN)
    puzzle = _without(sol, queens[:5])
    assert csp.n_queens_valid(sol, puzzle, n)
    assert csp.n_queens_valid(sol, np.full(n * n, csp.EMPTY), n)  # empty input: any solution
    other = _board(csp.queens_solutions(n)[1], n)
    assert csp.n_queens_valid(other, _without(other, []), n)
    assert not csp.n_queens_valid(other, sol, n)  # drops the input's queens

    missing = _without(sol, queens[:1])  # 7 queens
    extra = sol.copy()
    extra[np.flatnonzero(sol == csp.EMPTY)[0]] = csp.QUEEN  # 9 queens
    same_column = sol.copy()  # row 0's queen moved onto row 1's column
    same_column[0 * n + EIGHT[0]] = csp.EMPTY
    same_column[0 * n + EIGHT[1]] = csp.QUEEN
    diagonal = _board([0, 1, 2, 3, 4, 5, 6, 7], n)  # one per row and column, all on a diagonal
    anti = _board([7, 6, 5, 4, 3, 2, 1, 0], n)
    pad = sol.copy()
    pad[np.flatnonzero(sol == csp.EMPTY)[0]] = csp.PAD
    bad = np.stack([missing, extra, same_column, diagonal, anti, pad])
    empty = np.full(n * n, csp.EMPTY)
    assert not csp.n_queens_valid(bad, empty, n).any()
    # Rows are checked independently and broadcast against the input.
    got = csp.n_queens_valid(np.stack([sol, missing, sol]), puzzle, n)
    np.testing.assert_array_equal(got, [True, False, True])
    with pytest.raises(ValueError, match="64"):
        csp.n_queens_valid(sol[:10], puzzle, n)


def _completions_by_filter(puzzle, n):
    boards = csp.queens_boards(csp.queens_solutions(n), n)
    keep = np.all((puzzle != csp.QUEEN) | (boards == csp.QUEEN), axis=1)
    return boards[keep]


def test_completions_are_the_solutions_containing_the_input():
    rng = np.random.default_rng(0)
    for n in (6, 8):
        sols = csp.queens_boards(csp.queens_solutions(n), n)
        for _ in range(15):
            sol = sols[rng.integers(len(sols))]
            queens = np.flatnonzero(sol == csp.QUEEN)
            puzzle = _without(sol, rng.choice(queens, rng.integers(1, n + 1), replace=False))
            got = csp.n_queens_completions(puzzle, n)
            assert len({r.tobytes() for r in got}) == len(got) >= 1
            assert csp.n_queens_valid(got, puzzle, n).all()
            assert any(np.array_equal(r, sol) for r in got)
            np.testing.assert_array_equal(got, _completions_by_filter(puzzle, n))
            np.testing.assert_array_equal(csp.enumerate_solutions("n_queens", puzzle, n), got)
    # Two given queens on one diagonal: no completion.
    puzzle = np.full(64, csp.EMPTY)
    puzzle[[0, 9]] = csp.QUEEN
    assert csp.n_queens_completions(puzzle, 8).shape == (0, 64)
    # The empty board: every solution.
    assert len(csp.n_queens_completions(np.full(36, csp.EMPTY), 6)) == 4


def test_sequence_layout_helpers():
    assert [csp.triangle_len(n) for n in (5, 8, 10)] == [10, 28, 45]
    assert [csp.coloring_seq_len(n) for n in (5, 8, 10)] == [15, 36, 55]
    assert [csp.graph_nodes(s) for s in (15, 36, 55)] == [5, 8, 10]
    with pytest.raises(ValueError, match="seq_len=37"):
        csp.graph_nodes(37)
    # Triangle order: (0,1), (0,2), (0,3), (1,2), (1,3), (2,3).
    seq = np.array([2, 1, 1, 1, 1, 2, 0, 0, 0, 0])
    adj = csp.adjacency(seq, 4)
    assert adj[0, 1] and adj[1, 0] and adj[2, 3] and adj[3, 2] and adj.sum() == 4
    np.testing.assert_array_equal(csp.adjacency(seq[:6], 4), adj)


def _graph(n, edges, colors=None):
    """A graph-colouring sequence: the triangle, then node tokens (PAD, or colour tokens)."""
    t = csp.triangle_len(n)
    i, j = np.triu_indices(n, 1)
    seq = np.zeros(t + n, dtype=np.int64)
    seq[:t] = csp.NO_EDGE
    for a, b in edges:
        seq[np.flatnonzero((i == min(a, b)) & (j == max(a, b)))[0]] = csp.EDGE
    if colors is not None:
        seq[t:] = np.asarray(colors) + csp.COLOR_BASE
    return seq


def test_graph_coloring_conflicts_on_known_colourings():
    tri = [(0, 1), (0, 2), (1, 2)]  # a triangle plus an isolated node 3
    conflicts = lambda colors: int(csp.graph_coloring_conflicts(_graph(4, tri, colors), 4))
    assert conflicts([0, 1, 2, 0]) == 0
    assert conflicts([0, 1, 2, 2]) == 0  # node 3 is isolated
    assert conflicts([0, 0, 2, 1]) == 1
    assert conflicts([1, 1, 1, 1]) == 3
    assert csp.graph_coloring_valid(_graph(4, tri, [2, 0, 1, 1]), 4)
    # A node without a colour token is a conflict, wherever it is.
    for token in (csp.PAD, csp.EDGE, 6, 255):
        seq = _graph(4, tri, [0, 1, 2, 0])
        seq[-1] = token  # the isolated node
        assert int(csp.graph_coloring_conflicts(seq, 4)) == 1
        assert not csp.graph_coloring_valid(seq, 4)
    both = _graph(4, tri, [0, 1, 2, 0])
    both[-4:-2] = csp.PAD  # nodes 0 and 1 (an edge) both uncoloured: two conflicts, not three
    assert int(csp.graph_coloring_conflicts(both, 4)) == 2
    # Edges from the inputs: the prediction's triangle positions are ignored.
    pred = _graph(4, [], [0, 0, 0, 1])
    assert int(csp.graph_coloring_conflicts(pred, 4)) == 0
    assert int(csp.graph_coloring_conflicts(pred, 4, inputs=_graph(4, tri))) == 3
    batch = np.stack([_graph(4, tri, c) for c in ([0, 1, 2, 0], [0, 0, 2, 1], [1, 1, 1, 1])])
    np.testing.assert_array_equal(csp.graph_coloring_conflicts(batch, 4), [0, 1, 3])
    np.testing.assert_array_equal(csp.graph_coloring_valid(batch, 4), [True, False, False])


def test_canonical_coloring():
    np.testing.assert_array_equal(csp.canonical_coloring([5, 3, 5, 4]), [0, 1, 0, 2])
    np.testing.assert_array_equal(csp.canonical_coloring([0, 0, 0]), [0, 0, 0])
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 3, size=(50, 7))
    canon = csp.canonical_coloring(colors)
    for perm in itertools.permutations(range(3)):
        np.testing.assert_array_equal(csp.canonical_coloring(np.asarray(perm)[colors]), canon)
    np.testing.assert_array_equal(csp.canonical_coloring(canon), canon)
    assert (canon[:, 0] == 0).all()


def test_canonical_colourings_are_the_partitions_into_three_classes():
    # Stirling numbers of the second kind: S(n,1) + S(n,2) + S(n,3).
    assert [len(csp.canonical_colorings(n)) for n in (1, 2, 3, 4, 8, 10)] == [
        1,
        2,
        5,
        14,
        1094,
        9842,
    ]
    brute = {tuple(csp.canonical_coloring(c)) for c in itertools.product(range(3), repeat=5)}
    assert sorted(brute) == [tuple(r) for r in csp.canonical_colorings(5).tolist()]


def _colourings_by_brute_force(seq, n):
    allc = np.asarray(list(itertools.product(range(3), repeat=n)))
    seqs = np.zeros((len(allc), csp.coloring_seq_len(n)), dtype=np.int64)
    seqs[:] = seq
    seqs[:, csp.triangle_len(n) :] = allc + csp.COLOR_BASE
    ok = csp.graph_coloring_valid(seqs, n)
    return sorted({tuple(c) for c in csp.canonical_coloring(allc[ok]).tolist()})


def test_graph_colourings_equal_brute_force():
    rng = np.random.default_rng(2)
    n = 6
    for p in (0.2, 0.5, 0.8):
        for _ in range(8):
            seq = _graph(n, [e for e in itertools.combinations(range(n), 2) if rng.random() < p])
            got = csp.graph_colorings(seq, n)
            assert [tuple(r) for r in got.tolist()] == _colourings_by_brute_force(seq, n)
            labels = csp.enumerate_solutions("graph_coloring", seq, n)
            assert labels.shape == (len(got), csp.coloring_seq_len(n))
            assert (labels[:, : csp.triangle_len(n)] == 0).all()
            assert csp.graph_coloring_valid(labels, n, inputs=seq).all()
            assert len({r.tobytes() for r in labels}) == len(labels)
    k4 = _graph(4, list(itertools.combinations(range(4), 2)))
    assert csp.graph_colorings(k4, 4).shape == (0, 4)
    assert len(csp.graph_colorings(_graph(3, []), 3)) == 5  # every partition
    with pytest.raises(ValueError, match="kind"):
        csp.enumerate_solutions("sudoku", k4, 4)


def test_coverage_and_accuracy():
    n = 8
    sol = _board(EIGHT, n)
    queens = np.flatnonzero(sol == csp.QUEEN)
    puzzle = _without(sol, queens[:5])
    answers = csp.n_queens_completions(puzzle, n)
    assert len(answers) == 3  # the paper's Figure 9 case: 5 removed, 3 completions
    invalid = _without(answers[0], queens[5:6])
    samples = np.stack([answers[0], answers[0], answers[1], invalid])
    valid = lambda i, s: csp.n_queens_valid(s, puzzle, n)
    assert csp.accuracy([samples], valid) == pytest.approx(0.75)
    assert csp.coverage([samples], [3], valid) == pytest.approx(2 / 3)
    # Two puzzles: the mean over puzzles.
    both = [samples, np.stack([answers[2]] * 4)]
    assert csp.accuracy(both, valid) == pytest.approx((0.75 + 1.0) / 2)
    assert csp.coverage(both, [3, 3], valid) == pytest.approx((2 / 3 + 1 / 3) / 2)
    m = csp.n_queens_metrics(np.stack(both), np.stack([puzzle, puzzle]), [3, 3], n)
    assert m == pytest.approx({"accuracy": 0.875, "coverage": 0.5})
    with pytest.raises(ValueError, match="num_solutions=1"):
        csp.coverage([samples], [1], valid)
    with pytest.raises(ValueError, match="2 solution counts"):
        csp.coverage([samples], [3, 3], valid)


def test_graph_coloring_metrics_count_renamed_colours_once():
    n = 4
    graph = _graph(n, [(0, 1), (1, 2), (2, 3)])  # a path: 2-colourable, 3-colourable
    sols = csp.graph_colorings(graph, n)
    t = csp.triangle_len(n)
    a = _graph(n, [], [0, 1, 0, 1])
    a_renamed = _graph(n, [(0, 3)], [2, 0, 2, 0])  # same colouring, noise on the triangle
    b = _graph(n, [], [0, 1, 2, 1])
    bad = _graph(n, [], [0, 0, 1, 2])  # edge (0, 1) monochromatic
    samples = np.stack([a, a_renamed, b, bad])[None]
    m = csp.graph_coloring_metrics(samples, graph[None], [len(sols)], n)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["coverage"] == pytest.approx(2 / len(sols))
    assert m["conflicts"] == pytest.approx(0.25) and m["conflicts_total"] == pytest.approx(0.25)
    assert (np.asarray(csp.canonical_coloring(samples[0, :2, t:])) == [0, 1, 0, 1]).all()


def test_task_metrics_enumerate_the_solutions_from_the_inputs():
    n = 8
    sol = _board(EIGHT, n)
    queens = np.flatnonzero(sol == csp.QUEEN)
    puzzle = _without(sol, queens[:5])
    answers = csp.n_queens_completions(puzzle, n)  # 3 of them
    samples = np.stack([answers[0], answers[1], answers[1], puzzle])  # the last is incomplete
    m = csp.task_metrics("n_queens", puzzle[None], samples[None])
    assert m == pytest.approx({"accuracy": 0.75, "coverage": 2 / 3})
    assert csp.problem_size("n_queens", 64) == 8 and csp.problem_size("graph_coloring", 36) == 8
    with pytest.raises(ValueError, match="N\\*N"):
        csp.problem_size("n_queens", 63)
