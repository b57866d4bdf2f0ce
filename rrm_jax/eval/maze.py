"""Maze scoring of host-side predictions: exact (the papers' number) and lenient (any shortest
path).

Tokens follow the official `dataset/build_maze_dataset.py` (charset "# SGo" -> 1..5, PAD 0):
wall '#' = 1, open ' ' = 2, start 'S' = 3, goal 'G' = 4, path 'o' = 5. An input maze holds walls,
open cells, one S and one G; its label additionally marks one shortest S->G path with 'o' on
the open cells between S and G.

- `exact`: the prediction equals the label on every non-PAD label cell (the official
  "exact_accuracy"). A maze usually has several shortest paths, so this under-counts.
- `lenient`: the prediction's path is *a* shortest path. Precisely, with P the input's S and G
  cells plus the cells the prediction marks 'o':
  * the prediction keeps every wall a wall and S and G where they are (no other S or G cells),
    and marks 'o' only on cells that are open in the input;
  * P forms a simple 4-connected path from S to G: S and G have exactly one neighbour in P,
    every other cell of P exactly two;
  * its length |P| - 1 (moves) equals the breadth-first shortest S->G distance over the input's
    open, S and G cells.
  Mazes without exactly one S and one G, or without any S->G path, never pass.
  (With the degree conditions, P is one S..G path plus possibly disjoint cycles; since no S..G
  path is shorter than the BFS distance, the length condition also rules out the cycles, so no
  separate connectivity check is needed.)

Cells the prediction leaves outside P (other than walls, S and G) do not matter to `lenient`.
Everything is vectorised over the batch: 1000 30x30 mazes take well under a second.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PAD, WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4, 5
CHARSET = "# SGo"  # tokens 1..5


def _as_mazes(x: Any, name: str) -> np.ndarray:
    """[N, L] (L a square) or [N, H, W] -> [N, H, W] integer array."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integer tokens, got {arr.dtype}")
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(f"{name}: {arr.shape[1]} tokens per row is not a square grid")
        return arr.reshape(arr.shape[0], side, side)
    if arr.ndim == 3:
        return arr
    raise ValueError(f"{name} must be [N, H*W] or [N, H, W], got shape {arr.shape}")


def from_strings(rows: list[str] | str) -> np.ndarray:
    """Tokens [H, W] of a maze drawn in the dataset's characters ("# SGo"), one string per row."""
    if isinstance(rows, str):
        rows = rows.strip("\n").split("\n")
    if len({len(r) for r in rows}) != 1:
        raise ValueError("maze rows must all have the same length")
    lut = {c: i + 1 for i, c in enumerate(CHARSET)}
    try:
        return np.array([[lut[c] for c in r] for r in rows], np.uint8)
    except KeyError as e:
        raise ValueError(f"unknown maze character {e.args[0]!r}; expected {CHARSET!r}") from e


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """Per cell, how many of its 4 neighbours are in `mask` ([N, H, W] bool)."""
    m = mask.astype(np.int8)
    n = np.zeros_like(m)
    n[:, 1:, :] += m[:, :-1, :]
    n[:, :-1, :] += m[:, 1:, :]
    n[:, :, 1:] += m[:, :, :-1]
    n[:, :, :-1] += m[:, :, 1:]
    return n


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[:, 1:, :] |= mask[:, :-1, :]
    out[:, :-1, :] |= mask[:, 1:, :]
    out[:, :, 1:] |= mask[:, :, :-1]
    out[:, :, :-1] |= mask[:, :, 1:]
    return out


def shortest_path_lengths(inputs: Any) -> np.ndarray:
    """Breadth-first S->G distance (moves) over open, S and G cells of each input maze.

    Returns:
      int [N]; -1 where the maze lacks exactly one S and one G or G cannot be reached.
    """
    mazes = _as_mazes(inputs, "inputs")
    n = mazes.shape[0]
    dist = np.full(n, -1, np.int64)
    start, goal = mazes == START, mazes == GOAL
    ok = (start.sum((1, 2)) == 1) & (goal.sum((1, 2)) == 1)
    active = np.flatnonzero(ok)
    passable = (mazes == OPEN) | start | goal
    reached = start[active]
    passable, goal = passable[active], goal[active]
    step = 0
    while active.size:
        hit = (reached & goal).any((1, 2))
        dist[active[hit]] = step
        grown = _dilate(reached) & passable
        stuck = (grown == reached).all((1, 2))
        keep = ~hit & ~stuck
        active, reached, passable, goal = active[keep], grown[keep], passable[keep], goal[keep]
        step += 1
    return dist


def exact(pred: Any, label: Any) -> np.ndarray:
    """Whether each prediction equals its label on all non-PAD label cells (bool [N])."""
    p, y = _as_mazes(pred, "pred"), _as_mazes(label, "label")
    if p.shape != y.shape:
        raise ValueError(f"pred {p.shape} and label {y.shape} differ in shape")
    return ((p == y) | (y == PAD)).all((1, 2))


def _path_shape(pred: Any, inputs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ok [N], cells [N, H, W], inputs [N, H, W], moves [N]): the lenient conditions except the
    length (walls, S and G untouched, 'o' on open cells only, the degrees of a simple path), the
    cells P (S, G and the 'o' cells) and |P| - 1."""
    p, x = _as_mazes(pred, "pred"), _as_mazes(inputs, "inputs")
    if p.shape != x.shape:
        raise ValueError(f"pred {p.shape} and inputs {x.shape} differ in shape")
    start, goal = x == START, x == GOAL
    ok = (start.sum((1, 2)) == 1) & (goal.sum((1, 2)) == 1)
    # Walls, S and G untouched, no S or G elsewhere, 'o' only on open cells.
    ok &= ((p == WALL) | (x != WALL)).all((1, 2))
    ok &= ((p == START) == start).all((1, 2)) & ((p == GOAL) == goal).all((1, 2))
    path = p == PATH
    ok &= (~path | (x == OPEN)).all((1, 2))
    cells = path | start | goal
    deg = _neighbours(cells)
    ok &= ((deg == 1) | ~(start | goal)).all((1, 2))
    ok &= ((deg == 2) | ~path).all((1, 2))
    return ok, cells, x, cells.sum((1, 2)) - 1


def lenient(pred: Any, inputs: Any) -> np.ndarray:
    """Whether each prediction marks a shortest S->G path of its input maze (bool [N]).

    See the module docstring for the exact conditions.
    """
    ok, _, x, moves = _path_shape(pred, inputs)
    result = np.zeros(x.shape[0], bool)
    idx = np.flatnonzero(ok)
    if idx.size:
        dist = shortest_path_lengths(x[idx])
        result[idx] = (dist >= 0) & (dist == moves[idx])
    return result


def valid_path(pred: Any, inputs: Any) -> np.ndarray:
    """Whether each prediction marks one simple S->G path of its input maze, of any length
    (bool [N]): the conditions of `lenient` with connectivity instead of the length (every cell
    of P is reached from S through P, which rules out the disjoint cycles the degree conditions
    allow). Stricter than the official `maze_classify` "valid" (LDT's `experiments/maze/data.py`:
    S, G and the path cells connected, no detached islands, branches allowed): an accepted answer
    that fails here is broken, branching or disconnected (their WRONG_INVALID, plus branching
    answers they count as WRONG_VALID); one that passes but is not `lenient` is a longer path."""
    ok, cells, x, _ = _path_shape(pred, inputs)
    reached = cells & (x == START)
    while True:
        grown = _dilate(reached) & cells
        if (grown == reached).all():
            break
        reached = grown
    return ok & (reached == cells).all((1, 2))


def summary(pred: Any, label: Any, inputs: Any) -> dict:
    """Counts and accuracies over the real mazes (one S and one G in the input; padding rows,
    e.g. all-PAD, are left out).

    Returns:
      {"count", "exact", "lenient", "exact_accuracy", "lenient_accuracy"}.
    """
    x = _as_mazes(inputs, "inputs")
    real = ((x == START).sum((1, 2)) == 1) & ((x == GOAL).sum((1, 2)) == 1)
    e = exact(pred, label) & real
    le = lenient(pred, inputs) & real
    n = int(real.sum())
    return {
        "count": n,
        "exact": int(e.sum()),
        "lenient": int(le.sum()),
        "exact_accuracy": float(e.sum()) / max(n, 1),
        "lenient_accuracy": float(le.sum()) / max(n, 1),
    }
