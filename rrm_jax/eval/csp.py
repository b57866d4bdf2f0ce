"""Rule checkers, solution enumerators and metrics of the multi-solution CSP benchmarks.

The two constraint-satisfaction tasks of the GRAM paper (arXiv 2605.19376, Sec. 4.2 and
App. C.2), whose inputs have several valid answers, so a prediction is scored by the rules, not
against the stored label. Plain numpy; every checker takes token rows `[..., seq_len]` and
returns one value per row.

N-Queens (`datasets/n_queens`): an N x N board flattened row by row into N*N tokens, PAD 0
(unused), empty 1, queen 2 (vocabulary 3). The input is a complete solution with k queens
removed; a prediction is valid when it has exactly N queens, no two on one row, column or
diagonal, and keeps every queen of the input (`n_queens_valid`).

Graph 3-colouring (`datasets/graph_coloring`): for an n-node graph, the strict upper triangle of
the adjacency matrix (row-major, pairs i < j: (0,1), (0,2), ..., (n-2,n-1)), T = n(n-1)/2
tokens, no edge 1, edge 2, followed by n node tokens (the paper's output sequence), colour c
(0, 1, 2) = token 3 + c (vocabulary 6). In the stored inputs the node positions hold PAD 0; in
the labels the triangle holds 0 (the ignore label: no loss there) and the nodes their colours.
A colouring is valid when every node holds a colour token and no edge joins two nodes of one
colour (`graph_coloring_conflicts` counts the violations). Colourings that differ only by a
renaming of the colours are the same solution: `canonical_coloring` renames colours in order of
first appearance by node index (the first node is always colour 0), and the solutions of a
graph are its distinct canonical proper colourings with at most 3 colours.

Metrics, as the paper's Table 1: `accuracy` = mean fraction of sampled answers that are valid;
`coverage` = mean over puzzles of |distinct valid samples| / |valid solutions| (the paper draws
20 samples per puzzle). The paper's graph-colouring "conflict edges" column looks like a total
over the test set (e.g. 179 for 255 8-node graphs), i.e. the sum of `graph_coloring_conflicts`;
`graph_coloring_metrics` reports both that total and the mean per graph.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

PAD = 0
# N-Queens tokens.
EMPTY = 1
QUEEN = 2
QUEENS_VOCAB = 3
# Graph-colouring tokens.
NO_EDGE = 1
EDGE = 2
COLOR_BASE = 3  # colour c is token COLOR_BASE + c
NUM_COLORS = 3
COLORING_VOCAB = COLOR_BASE + NUM_COLORS

KINDS = ("n_queens", "graph_coloring")


# ----------------------------------------------------------------------------------------------
# N-Queens


@functools.cache
def _queens_solutions(n: int) -> np.ndarray:
    solutions: list[tuple[int, ...]] = []
    cols: list[int] = []

    def place(row: int, used: int, diag: int, anti: int) -> None:
        if row == n:
            solutions.append(tuple(cols))
            return
        for c in range(n):
            d, a = row - c + n - 1, row + c
            if used >> c & 1 or diag >> d & 1 or anti >> a & 1:
                continue
            cols.append(c)
            place(row + 1, used | 1 << c, diag | 1 << d, anti | 1 << a)
            cols.pop()

    place(0, 0, 0, 0)
    out = np.asarray(solutions, dtype=np.int8).reshape(len(solutions), n)
    out.setflags(write=False)
    return out


def queens_solutions(n: int) -> np.ndarray:
    """Every solution of the n-queens problem: int8 [S, n], the queen's column in each row,
    in lexicographic order (92 for n = 8, 724 for n = 10)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return _queens_solutions(int(n))


def queens_boards(columns: np.ndarray, n: int) -> np.ndarray:
    """Column-per-row solutions [..., n] as board tokens uint8 [..., n*n] (empty 1, queen 2)."""
    columns = np.asarray(columns)
    board = (columns[..., :, None] == np.arange(n)).astype(np.uint8) + EMPTY
    return board.reshape(*columns.shape[:-1], n * n)


@functools.cache
def _line_incidence(n: int) -> np.ndarray:
    """[n*n, 6n-2] 0/1: which row, column, diagonal and anti-diagonal each square lies on."""
    r, c = np.divmod(np.arange(n * n), n)
    lines = np.zeros((n * n, 6 * n - 2), dtype=np.int32)
    squares = np.arange(n * n)
    lines[squares, r] = 1
    lines[squares, n + c] = 1
    lines[squares, 2 * n + r - c + n - 1] = 1
    lines[squares, 4 * n - 1 + r + c] = 1
    return lines


def _check_width(x: np.ndarray, width: int, what: str) -> None:
    if x.ndim < 1 or x.shape[-1] != width:
        raise ValueError(f"{what}: expected [..., {width}] tokens, got shape {x.shape}")


def n_queens_valid(board_tokens, input_tokens, n: int):
    """Whether each board is a complete N-Queens solution consistent with its input.

    Valid: every token is empty (1) or queen (2), exactly n queens, at most one per row,
    column, diagonal and anti-diagonal, and every queen of the input is kept.

    Args:
      board_tokens: [..., n*n] predicted boards.
      input_tokens: [..., n*n] the puzzles (broadcast against the boards).
      n: the board side.

    Returns:
      bool array of the leading shape (a numpy bool for one board).
    """
    board = np.asarray(board_tokens)
    given = np.asarray(input_tokens)
    _check_width(board, n * n, "n_queens_valid boards")
    _check_width(given, n * n, "n_queens_valid inputs")
    queens = board == QUEEN
    well_formed = np.all((board == EMPTY) | queens, axis=-1)
    kept = np.all(~(given == QUEEN) | queens, axis=-1)
    per_line = queens.astype(np.int32) @ _line_incidence(n)
    ok = (queens.sum(-1) == n) & np.all(per_line <= 1, axis=-1)
    return well_formed & kept & ok


def n_queens_completions(input_tokens, n: int) -> np.ndarray:
    """Every valid completion of one N-Queens puzzle, board tokens uint8 [C, n*n].

    Backtracking row by row from the given queens; C = 0 when the given queens attack each
    other or cannot be completed. Rows are in lexicographic order of the column-per-row form.
    """
    given = np.asarray(input_tokens).reshape(-1)
    _check_width(given, n * n, "n_queens_completions input")
    fixed = {}
    for square in np.flatnonzero(given == QUEEN).tolist():
        r, c = divmod(square, n)
        if r in fixed:
            return np.zeros((0, n * n), dtype=np.uint8)
        fixed[r] = c
    out: list[tuple[int, ...]] = []
    cols: list[int] = []

    def place(row: int, used: int, diag: int, anti: int) -> None:
        if row == n:
            out.append(tuple(cols))
            return
        for c in (fixed[row],) if row in fixed else range(n):
            d, a = row - c + n - 1, row + c
            if used >> c & 1 or diag >> d & 1 or anti >> a & 1:
                continue
            cols.append(c)
            place(row + 1, used | 1 << c, diag | 1 << d, anti | 1 << a)
            cols.pop()

    place(0, 0, 0, 0)
    if not out:
        return np.zeros((0, n * n), dtype=np.uint8)
    return queens_boards(np.asarray(out), n)


# ----------------------------------------------------------------------------------------------
# Graph colouring


def triangle_len(n: int) -> int:
    """Tokens of the strict upper triangle of an n-node adjacency matrix: n(n-1)/2."""
    return n * (n - 1) // 2


def coloring_seq_len(n: int) -> int:
    """Sequence length of an n-node graph-colouring example: n(n-1)/2 + n."""
    return triangle_len(n) + n


def graph_nodes(seq_len: int) -> int:
    """The number of nodes n whose sequence length n(n-1)/2 + n = n(n+1)/2 is `seq_len`."""
    n = (math.isqrt(8 * seq_len + 1) - 1) // 2
    if coloring_seq_len(n) != seq_len:
        raise ValueError(f"seq_len={seq_len} is not n(n+1)/2 for any number of nodes n")
    return n


@functools.cache
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, 1)  # row-major (0,1), (0,2), ..., (n-2,n-1)
    return i, j


def edges_of(seq, n: int) -> np.ndarray:
    """The edge indicators bool [..., n(n-1)/2] of sequences whose first n(n-1)/2 tokens are
    the adjacency triangle (token 2 = edge); rows may be the triangle alone or a whole
    example."""
    seq = np.asarray(seq)
    t = triangle_len(n)
    if seq.ndim < 1 or seq.shape[-1] not in (t, t + n):
        raise ValueError(
            f"expected [..., {t}] or [..., {t + n}] tokens for {n} nodes, got shape {seq.shape}"
        )
    return seq[..., :t] == EDGE


def adjacency(seq, n: int) -> np.ndarray:
    """The symmetric adjacency matrix bool [..., n, n] of sequences (see `edges_of`)."""
    e = edges_of(seq, n)
    i, j = _pairs(n)
    adj = np.zeros((*e.shape[:-1], n, n), dtype=bool)
    adj[..., i, j] = e
    adj[..., j, i] = e
    return adj


def graph_coloring_conflicts(seq, n: int, inputs=None) -> np.ndarray:
    """Constraint violations of each colouring: int [...].

    The colours are the last n tokens of `seq` ([..., n(n-1)/2 + n]); the edges come from the
    triangle of `inputs` when given (e.g. the puzzles, with `seq` the predictions, whose
    triangle positions carry no loss and mean nothing) and from `seq`'s own triangle otherwise.
    Counted: every edge whose two endpoints hold the same colour token, plus every node whose
    token is not a colour (3, 4, 5), so that a missing colour is never valid.
    """
    seq = np.asarray(seq)
    _check_width(seq, coloring_seq_len(n), "graph_coloring_conflicts")
    edges = edges_of(seq if inputs is None else inputs, n)
    colors = seq[..., triangle_len(n) :].astype(np.int64)
    is_color = (colors >= COLOR_BASE) & (colors < COLOR_BASE + NUM_COLORS)
    i, j = _pairs(n)
    same = (colors[..., i] == colors[..., j]) & is_color[..., i] & is_color[..., j]
    return (same & edges).sum(-1) + (~is_color).sum(-1)


def graph_coloring_valid(seq, n: int, inputs=None):
    """Whether each colouring is a proper 3-colouring (no conflicts; see
    `graph_coloring_conflicts`)."""
    return graph_coloring_conflicts(seq, n, inputs) == 0


def canonical_coloring(colors) -> np.ndarray:
    """Colours renamed in order of first appearance: [..., n] labels -> int64 ids [..., n].

    Node 0 gets 0, the next node with a colour not seen yet gets 1, and so on; colourings that
    differ by a permutation of the colours map to the same ids (tokens 5,3,5,4 -> 0,1,0,2).
    """
    colors = np.asarray(colors)
    if colors.ndim < 1:
        raise ValueError("canonical_coloring expects [..., n] colours")
    n = colors.shape[-1]
    same = colors[..., :, None] == colors[..., None, :]  # [..., j, i]: colour j == colour i
    first = np.argmax(same, axis=-1)  # the first node holding node j's colour
    is_first = first == np.arange(n)
    rank = np.cumsum(is_first, axis=-1) - 1
    return np.take_along_axis(rank, first, axis=-1).astype(np.int64)


@functools.cache
def _canonical_colorings(n: int, num_colors: int) -> np.ndarray:
    rows: list[tuple[int, ...]] = []

    def extend(prefix: list[int], top: int) -> None:
        if len(prefix) == n:
            rows.append(tuple(prefix))
            return
        for c in range(min(top + 2, num_colors)):
            prefix.append(c)
            extend(prefix, max(top, c))
            prefix.pop()

    if n == 0:
        return np.zeros((1, 0), dtype=np.int8)
    extend([0], 0)
    out = np.asarray(rows, dtype=np.int8)
    out.setflags(write=False)
    return out


def canonical_colorings(n: int, num_colors: int = NUM_COLORS) -> np.ndarray:
    """Every canonical colouring of n nodes with at most `num_colors` colours: int8 [R, n] in
    lexicographic order (the partitions of the nodes into at most `num_colors` classes; 1094
    for n = 8, 9842 for n = 10)."""
    return _canonical_colorings(int(n), int(num_colors))


@functools.cache
def _monochromatic(n: int) -> np.ndarray:
    c = canonical_colorings(n).astype(np.int64)
    i, j = _pairs(n)
    return (c[:, i] == c[:, j]).astype(np.float32)  # [R, T]: pair (i, j) shares a colour


def proper_colorings_mask(seqs, n: int, chunk: int = 1024) -> np.ndarray:
    """bool [G, R]: which canonical colourings (`canonical_colorings(n)`) properly colour each
    graph of `seqs` ([G, ...] sequences, see `edges_of`). Vectorised, in chunks of graphs."""
    edges = edges_of(seqs, n).reshape(-1, triangle_len(n)).astype(np.float32)
    mono = _monochromatic(n)
    out = np.empty((edges.shape[0], mono.shape[0]), dtype=bool)
    for start in range(0, edges.shape[0], chunk):
        out[start : start + chunk] = edges[start : start + chunk] @ mono.T == 0
    return out


def graph_colorings(seq, n: int) -> np.ndarray:
    """Every proper 3-colouring of one graph, as canonical colour ids int8 [C, n] in
    lexicographic order (C = 0 when the graph is not 3-colourable)."""
    mask = proper_colorings_mask(np.asarray(seq)[None], n)[0]
    return canonical_colorings(n)[mask]


def coloring_labels(colors, n: int) -> np.ndarray:
    """Label rows uint8 [..., n(n-1)/2 + n] for colour ids [..., n]: 0 (the ignore label) on the
    triangle, token 3 + colour on the nodes."""
    colors = np.asarray(colors)
    out = np.zeros((*colors.shape[:-1], coloring_seq_len(n)), dtype=np.uint8)
    out[..., triangle_len(n) :] = colors + COLOR_BASE
    return out


# ----------------------------------------------------------------------------------------------
# Both tasks


def enumerate_solutions(kind: str, input_tokens, n: int) -> np.ndarray:
    """Every valid answer to one puzzle, as label-style token rows [C, seq_len].

    "n_queens": the completions of the board (`n_queens_completions`). "graph_coloring": the
    distinct canonical proper colourings (`graph_colorings`) written as labels (0 on the
    triangle, colour tokens on the nodes).
    """
    if kind == "n_queens":
        return n_queens_completions(input_tokens, n)
    if kind == "graph_coloring":
        return coloring_labels(graph_colorings(input_tokens, n), n)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


ValidFn = Callable[[int, np.ndarray], np.ndarray]
KeyFn = Callable[[np.ndarray], np.ndarray]


def _puzzles(samples_per_puzzle) -> list[np.ndarray]:
    out = [np.asarray(s) for s in samples_per_puzzle]
    for i, s in enumerate(out):
        if s.ndim != 2:
            raise ValueError(f"puzzle {i}: expected samples [S, seq_len], got shape {s.shape}")
    return out


def accuracy(samples_per_puzzle, valid_fn: ValidFn) -> float:
    """Mean over puzzles of the fraction of their samples that are valid.

    Args:
      samples_per_puzzle: per puzzle, its sampled answers [S, seq_len] (a list, or an array
        [P, S, seq_len]).
      valid_fn: `valid_fn(i, samples_i) -> bool [S]`, the rule check of puzzle i.
    """
    puzzles = _puzzles(samples_per_puzzle)
    if not puzzles:
        return float("nan")
    fractions = [np.mean(np.asarray(valid_fn(i, s), dtype=bool)) for i, s in enumerate(puzzles)]
    return float(np.mean(fractions))


def coverage(
    samples_per_puzzle,
    num_solutions: Sequence[int],
    valid_fn: ValidFn,
    key_fn: KeyFn | None = None,
) -> float:
    """Mean over puzzles of |distinct valid samples| / num_solutions (the paper's coverage).

    Args:
      samples_per_puzzle: per puzzle, its sampled answers [S, seq_len].
      num_solutions: per puzzle, how many valid answers exist.
      valid_fn: `valid_fn(i, samples_i) -> bool [S]`.
      key_fn: maps samples [S, seq_len] to the part that identifies a solution ([S, ...]);
        default the whole row. Graph colouring passes the canonical colouring of the nodes, so
        that renamed colours and the (meaningless) triangle positions do not count as new.

    Raises:
      ValueError: a puzzle has more distinct valid samples than `num_solutions` says exist.
    """
    puzzles = _puzzles(samples_per_puzzle)
    counts = np.asarray(num_solutions, dtype=np.int64).reshape(-1)
    if counts.shape[0] != len(puzzles):
        raise ValueError(f"{len(puzzles)} puzzles but {counts.shape[0]} solution counts")
    if not puzzles:
        return float("nan")
    if np.any(counts < 1):
        raise ValueError("every puzzle needs num_solutions >= 1")
    total = 0.0
    for i, s in enumerate(puzzles):
        valid = np.asarray(valid_fn(i, s), dtype=bool)
        keys = s if key_fn is None else np.asarray(key_fn(s))
        found = {np.ascontiguousarray(k).tobytes() for k in keys[valid]}
        if len(found) > counts[i]:
            raise ValueError(
                f"puzzle {i}: {len(found)} distinct valid samples but num_solutions={counts[i]}"
            )
        total += len(found) / counts[i]
    return total / len(puzzles)


def n_queens_metrics(samples, inputs, num_solutions, n: int) -> dict[str, float]:
    """`accuracy` and `coverage` of samples [P, S, n*n] for puzzles `inputs` [P, n*n]."""
    inputs = np.asarray(inputs)
    valid = lambda i, s: n_queens_valid(s, inputs[i], n)
    return {
        "accuracy": accuracy(samples, valid),
        "coverage": coverage(samples, num_solutions, valid),
    }


def graph_coloring_metrics(samples, inputs, num_solutions, n: int) -> dict[str, float]:
    """Samples [P, S, seq_len] of graphs `inputs` [P, seq_len]: `accuracy`, `coverage` (by
    canonical colouring), and the conflicts of every sample: `conflicts` (mean per sample) and
    `conflicts_total` (summed over puzzles, averaged over the S samples of each)."""
    inputs = np.asarray(inputs)
    t = triangle_len(n)
    valid = lambda i, s: graph_coloring_valid(s, n, inputs=inputs[i])
    key = lambda s: canonical_coloring(s[:, t:])
    per = [
        graph_coloring_conflicts(np.asarray(s), n, inputs=inputs[i]) for i, s in enumerate(samples)
    ]
    per_puzzle = np.array([np.mean(c) for c in per]) if per else np.zeros(0)
    return {
        "accuracy": accuracy(samples, valid),
        "coverage": coverage(samples, num_solutions, valid, key),
        "conflicts": float(np.mean(per_puzzle)) if per else float("nan"),
        "conflicts_total": float(np.sum(per_puzzle)),
    }


def problem_size(kind: str, seq_len: int) -> int:
    """n of a puzzle from its sequence length: the board side, or the number of nodes."""
    if kind == "n_queens":
        n = math.isqrt(seq_len)
        if n * n != seq_len:
            raise ValueError(f"an N-Queens board has N*N tokens, got {seq_len}")
        return n
    if kind == "graph_coloring":
        return graph_nodes(seq_len)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def task_metrics(kind: str, inputs, samples) -> dict[str, float]:
    """The paper's metrics of sampled answers [P, S, seq_len] to puzzles `inputs` [P, seq_len]:
    "accuracy" and "coverage" (and the graph-colouring conflicts). The number of solutions of
    each puzzle is enumerated from its input (`enumerate_solutions`), so any subset of a test
    split can be scored."""
    inputs = np.asarray(inputs)
    n = problem_size(kind, inputs.shape[-1])
    counts = [len(enumerate_solutions(kind, tuple(int(t) for t in row), n)) for row in inputs]
    metrics = n_queens_metrics if kind == "n_queens" else graph_coloring_metrics
    return metrics(np.asarray(samples), inputs, counts, n)


__all__ = [
    "COLORING_VOCAB",
    "COLOR_BASE",
    "EDGE",
    "EMPTY",
    "KINDS",
    "NO_EDGE",
    "NUM_COLORS",
    "PAD",
    "QUEEN",
    "QUEENS_VOCAB",
    "accuracy",
    "adjacency",
    "problem_size",
    "task_metrics",
    "canonical_coloring",
    "canonical_colorings",
    "coloring_labels",
    "coloring_seq_len",
    "coverage",
    "edges_of",
    "enumerate_solutions",
    "graph_coloring_conflicts",
    "graph_coloring_metrics",
    "graph_coloring_valid",
    "graph_colorings",
    "graph_nodes",
    "n_queens_completions",
    "n_queens_metrics",
    "n_queens_valid",
    "proper_colorings_mask",
    "queens_boards",
    "queens_solutions",
    "triangle_len",
]
