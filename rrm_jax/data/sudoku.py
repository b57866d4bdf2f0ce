"""Offline Sudoku generation, exact solving and the official Sudoku-Extreme augmentation.

Boards are N x N grids with boxes of ``box_rows x box_cols`` cells (N = box_rows * box_cols),
e.g. 4x4 (2x2 boxes), 6x6 (2x3 boxes) and 9x9 (3x3 boxes). Grids are flat, row-major arrays of
length N * N with 0 = blank and 1..N = digits. Model tokens are ``value + 1`` (see ``encode``),
matching the HRM/TRM dataset builders: 0 = PAD, 1 = blank, 2..N+1 = digits.

Everything here is pure numpy/Python and deterministic in the seeds passed in.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

# A domain tag mixed into the seed entropy so that generation never shares a stream with other
# seeded draws of the same user-facing integers.
_GENERATE_TAG = 0x5D0C0

# Tokens are stored as uint8, so value + 1 must fit: N + 1 <= 255.
_MAX_SIZE = 254


@dataclasses.dataclass(frozen=True)
class Board:
    """Sudoku geometry: an N x N grid split into boxes of ``box_rows x box_cols`` cells."""

    box_rows: int
    box_cols: int

    def __post_init__(self) -> None:
        for name in ("box_rows", "box_cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"Board.{name} must be a positive int, got {value!r}")
        if self.box_rows * self.box_cols > _MAX_SIZE:
            raise ValueError(f"board side {self.box_rows * self.box_cols} exceeds {_MAX_SIZE}")

    @property
    def size(self) -> int:
        """Side length N (also the number of digits)."""
        return self.box_rows * self.box_cols

    @property
    def cells(self) -> int:
        """Number of cells, N * N."""
        return self.size * self.size

    @property
    def vocab_size(self) -> int:
        """Token vocabulary size: PAD + blank + N digits."""
        return self.size + 2

    def __str__(self) -> str:
        return f"{self.box_rows}x{self.box_cols}"


_BOARD_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_board(spec: str) -> Board:
    """Parse a box-shape spec such as ``"3x3"`` (9x9 board) or ``"2x3"`` (6x6 board).

    Args:
      spec: ``"<box_rows>x<box_cols>"``.

    Returns:
      The corresponding ``Board``.
    """
    match = _BOARD_RE.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f"invalid board spec {spec!r}: expected '<box_rows>x<box_cols>', e.g. '3x3' or '2x3'"
        )
    rows, cols = int(match.group(1)), int(match.group(2))
    if rows < 1 or cols < 1:
        raise ValueError(f"invalid board spec {spec!r}: box dimensions must be >= 1")
    return Board(rows, cols)


# ---------------------------------------------------------------------------------------------
# Geometry and the exact solver.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Geometry:
    size: int
    row_of: tuple[int, ...]
    col_of: tuple[int, ...]
    box_of: tuple[int, ...]


@functools.cache
def _geometry(box_rows: int, box_cols: int) -> _Geometry:
    n = box_rows * box_cols
    row_of = tuple(i // n for i in range(n * n))
    col_of = tuple(i % n for i in range(n * n))
    # Boxes are numbered row-major; there are n // box_cols = box_rows boxes per band.
    box_of = tuple((i // n // box_rows) * box_rows + i % n // box_cols for i in range(n * n))
    return _Geometry(n, row_of, col_of, box_of)


def _most_constrained(
    empties: list[int],
    k: int,
    m: int,
    rows: list[int],
    cols: list[int],
    boxes: list[int],
    geo: _Geometry,
) -> tuple[int, int, int]:
    """(index j >= k in `empties`, its candidate bitmask, candidate count) of the empty cell
    with the fewest candidates; stops early at a forced (1) or dead (0) cell."""
    full = (1 << geo.size) - 1
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    best_j, best_cand, best_n = k, 0, geo.size + 1
    for j in range(k, m):
        cell = empties[j]
        cand = full & ~(rows[row_of[cell]] | cols[col_of[cell]] | boxes[box_of[cell]])
        cnt = cand.bit_count()
        if cnt < best_n:
            best_n, best_j, best_cand = cnt, j, cand
            if cnt <= 1:
                break
    return best_j, best_cand, best_n


def _search(grid: list[int], geo: _Geometry, limit: int) -> tuple[int, int, list[int] | None]:
    """Counts solutions of ``grid`` (Python ints, 0 = blank) up to ``limit``.

    Returns (num_solutions, guesses, first_solution). A guess is one trial placement at a cell
    with two or more candidates; forced cells (one candidate) are free, so a puzzle solvable by
    naked singles alone scores 0.
    """
    n = geo.size
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    rows = [0] * n
    cols = [0] * n
    boxes = [0] * n
    empties: list[int] = []
    for i, v in enumerate(grid):
        if v:
            bit = 1 << (v - 1)
            r, c, b = row_of[i], col_of[i], box_of[i]
            if (rows[r] | cols[c] | boxes[b]) & bit:
                return 0, 0, None  # duplicate given: no solution at all
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
        else:
            empties.append(i)

    work = list(grid)
    m = len(empties)
    count = 0
    guesses = 0
    first: list[int] | None = None

    def dfs(k: int) -> bool:
        """Fills empties[k:]; returns True once `limit` solutions were found (stop)."""
        nonlocal count, guesses, first
        if k == m:
            count += 1
            if first is None:
                first = list(work)
            return count >= limit
        # Most-constrained cell first: it keeps the tree small and makes forced moves free.
        best_j, best_cand, best_n = _most_constrained(empties, k, m, rows, cols, boxes, geo)
        if best_n == 0:
            return False
        empties[k], empties[best_j] = empties[best_j], empties[k]
        cell = empties[k]
        r, c, b = row_of[cell], col_of[cell], box_of[cell]
        branching = best_n > 1
        cand = best_cand
        stop = False
        while cand:
            bit = cand & -cand
            cand ^= bit
            if branching:
                guesses += 1
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            work[cell] = bit.bit_length()
            stop = dfs(k + 1)
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
            if stop:
                break
        work[cell] = 0
        empties[k], empties[best_j] = empties[best_j], empties[k]
        return stop

    dfs(0)
    return count, guesses, first


def _check_grid(grid: np.ndarray, board: Board, name: str) -> np.ndarray:
    arr = np.asarray(grid)
    if arr.shape != (board.cells,):
        raise ValueError(
            f"{name} must have shape ({board.cells},) for a {board} board, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > board.size):
        raise ValueError(f"{name} values must lie in 0..{board.size}")
    return arr


@dataclasses.dataclass
class SolveResult:
    """Outcome of ``solve``.

    Attributes:
      num_solutions: number of solutions found, capped at ``max_solutions``.
      solution: the first solution found (uint8, shape (cells,)), or None when there is none.
      nodes: number of search guesses (trial placements at cells with >= 2 candidates); the
        difficulty rating. Forced placements are not counted.
    """

    num_solutions: int
    solution: np.ndarray | None
    nodes: int


def solve(puzzle: np.ndarray, board: Board, *, max_solutions: int = 2) -> SolveResult:
    """Exact backtracking solver (bitmask candidates, most-constrained cell first).

    Args:
      puzzle: flat grid, shape (cells,), 0 = blank, 1..N = digits.
      board: board geometry.
      max_solutions: stop after this many solutions (2 suffices to test uniqueness).

    Returns:
      A ``SolveResult``. Duplicate givens in a row/column/box yield ``num_solutions == 0``.
    """
    if max_solutions < 1:
        raise ValueError(f"max_solutions must be >= 1, got {max_solutions}")
    arr = _check_grid(puzzle, board, "puzzle")
    count, nodes, first = _search(
        arr.tolist(), _geometry(board.box_rows, board.box_cols), max_solutions
    )
    solution = None if first is None else np.asarray(first, dtype=np.uint8)
    return SolveResult(num_solutions=count, solution=solution, nodes=nodes)


def _units(grid2d: np.ndarray, board: Board) -> np.ndarray:
    """Stacks rows, columns and boxes of an (N, N) grid into a (3N, N) array."""
    n, br, bc = board.size, board.box_rows, board.box_cols
    boxes = grid2d.reshape(n // br, br, n // bc, bc).transpose(0, 2, 1, 3).reshape(n, n)
    return np.concatenate([grid2d, grid2d.T, boxes], axis=0)


def is_solution(grid: np.ndarray, board: Board) -> bool:
    """True iff ``grid`` (shape (cells,)) is a complete, valid Sudoku for ``board``."""
    arr = np.asarray(grid)
    if arr.shape != (board.cells,) or not np.issubdtype(arr.dtype, np.integer):
        return False
    n = board.size
    units = np.sort(_units(arr.reshape(n, n).astype(np.int64), board), axis=1)
    return bool(np.all(units == np.arange(1, n + 1)))


# ---------------------------------------------------------------------------------------------
# Generation.
# ---------------------------------------------------------------------------------------------


def _random_full_grid(board: Board, rng: np.random.Generator) -> list[int]:
    """Randomised backtracking fill of an empty board (MRV, per-cell random digit order)."""
    geo = _geometry(board.box_rows, board.box_cols)
    n, cells = geo.size, board.cells
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    # One random digit order per cell, drawn up front so the hot loop makes no rng calls.
    orders = rng.permuted(np.tile(np.arange(1, n + 1), (cells, 1)), axis=1).tolist()
    # A random scan order randomises MRV tie-breaking as well.
    empties = rng.permutation(cells).tolist()
    rows = [0] * n
    cols = [0] * n
    boxes = [0] * n
    grid = [0] * cells

    def dfs(k: int) -> bool:
        if k == cells:
            return True
        best_j, best_cand, best_n = _most_constrained(empties, k, cells, rows, cols, boxes, geo)
        if best_n == 0:
            return False
        empties[k], empties[best_j] = empties[best_j], empties[k]
        cell = empties[k]
        r, c, b = row_of[cell], col_of[cell], box_of[cell]
        for digit in orders[cell]:
            bit = 1 << (digit - 1)
            if not best_cand & bit:
                continue
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            grid[cell] = digit
            if dfs(k + 1):
                return True
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
        grid[cell] = 0
        empties[k], empties[best_j] = empties[best_j], empties[k]
        return False

    if not dfs(0):  # every board shape admits a solution, so this cannot happen
        raise RuntimeError(f"failed to fill an empty {board} board")
    return grid


def _has_other_solution(puzzle: list[int], cell: int, digit: int, geo: _Geometry) -> bool:
    """Whether ``puzzle`` (with ``cell`` blank) has a solution where ``cell`` != ``digit``.

    Puzzle already has the solution with ``digit`` at ``cell``, so uniqueness is equivalent to
    every other digit there being unsatisfiable; each check needs only one solution (limit 1),
    which is far cheaper than counting to 2 on the whole puzzle.
    """
    n = geo.size
    r, c, b = geo.row_of[cell], geo.col_of[cell], geo.box_of[cell]
    used = 0
    for i, v in enumerate(puzzle):
        if v and (geo.row_of[i] == r or geo.col_of[i] == c or geo.box_of[i] == b):
            used |= 1 << (v - 1)
    found = False
    for alt in range(1, n + 1):
        if alt == digit or used & (1 << (alt - 1)):
            continue
        puzzle[cell] = alt
        found = _search(puzzle, geo, 1)[0] > 0
        if found:
            break
    puzzle[cell] = 0
    return found


def _make_puzzle(
    board: Board, rng: np.random.Generator, min_givens: int
) -> tuple[list[int], list[int]]:
    geo = _geometry(board.box_rows, board.box_cols)
    solution = _random_full_grid(board, rng)
    puzzle = list(solution)
    givens = board.cells
    # One pass suffices for minimality: removing more clues only adds solutions, so a clue that
    # could not be removed earlier can never become removable later.
    for cell in rng.permutation(board.cells).tolist():
        if givens <= min_givens:
            break
        digit = puzzle[cell]
        puzzle[cell] = 0
        if _has_other_solution(puzzle, cell, digit, geo):
            puzzle[cell] = digit
        else:
            givens -= 1
    return puzzle, solution


def generate(
    board: Board, num: int, seed: int, *, min_givens: int | None = None
) -> dict[str, np.ndarray]:
    """Generates ``num`` distinct puzzles, each with a unique solution.

    A random complete grid is filled by randomised backtracking, then clues are removed in a
    random order, keeping each removal only if the solution stays unique, until ``min_givens``
    clues remain or no clue can be removed (a minimal puzzle).

    Args:
      board: board geometry.
      num: number of puzzles.
      seed: non-negative int; the output is a deterministic function of (board, num, seed), and
        a smaller ``num`` yields a prefix of a larger one.
      min_givens: stop removing clues at this many givens; None removes down to a minimal puzzle.

    Returns:
      ``{"puzzles": uint8 [num, cells], "solutions": uint8 [num, cells],
      "rating": int32 [num] (``solve(puzzle).nodes``), "givens": int32 [num]}``.
    """
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if min_givens is not None and not 0 <= min_givens <= board.cells:
        raise ValueError(f"min_givens must lie in 0..{board.cells}, got {min_givens}")
    floor = 0 if min_givens is None else min_givens
    rng = np.random.default_rng(
        np.random.SeedSequence([_GENERATE_TAG, seed, board.box_rows, board.box_cols])
    )
    puzzles = np.zeros((num, board.cells), dtype=np.uint8)
    solutions = np.zeros((num, board.cells), dtype=np.uint8)
    rating = np.zeros((num,), dtype=np.int32)
    givens = np.zeros((num,), dtype=np.int32)
    seen: set[bytes] = set()
    # Small boards have few distinct puzzles (4x4 has only 288 grids); bail out instead of
    # looping forever when `num` exceeds what the board (at this min_givens) can supply.
    max_duplicates = 100 + 20 * num
    duplicates = 0
    i = 0
    while i < num:
        puzzle, solution = _make_puzzle(board, rng, floor)
        p = np.asarray(puzzle, dtype=np.uint8)
        key = p.tobytes()
        if key in seen:
            duplicates += 1
            if duplicates > max_duplicates:
                raise RuntimeError(
                    f"only {i} distinct {board} puzzles after {duplicates} duplicates; "
                    f"num={num} is too large for this board"
                )
            continue
        result = solve(p, board, max_solutions=2)
        s = np.asarray(solution, dtype=np.uint8)
        # Cheap end-to-end check of the removal logic; failure would mean a solver bug.
        if result.num_solutions != 1 or not np.array_equal(result.solution, s):
            raise RuntimeError("generated puzzle does not have the expected unique solution")
        seen.add(key)
        puzzles[i] = p
        solutions[i] = s
        rating[i] = result.nodes
        givens[i] = int(np.count_nonzero(p))
        i += 1
    return {"puzzles": puzzles, "solutions": solutions, "rating": rating, "givens": givens}


# ---------------------------------------------------------------------------------------------
# Augmentation (the official "shuffle_sudoku", generalised to any box shape).
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Transform:
    digit_map: np.ndarray  # [N + 1], digit_map[0] == 0
    transpose: bool
    row_perm: np.ndarray  # [N], new row i takes old row row_perm[i]
    col_perm: np.ndarray  # [N], new col j takes old col col_perm[j]


def _draw_transform(board: Board, rng: np.random.Generator) -> _Transform:
    """Draws a validity-preserving transform in the official draw order."""
    n, br, bc = board.size, board.box_rows, board.box_cols
    digit_map = np.concatenate([[0], rng.permutation(np.arange(1, n + 1))])
    # Always drawn so the remaining draws line up across board shapes, but only honoured for
    # square boxes: transposing a board with 2x3 boxes yields 3x2 boxes, a different puzzle
    # type, so non-square boards are never transposed.
    transpose = bool(rng.random() < 0.5) and br == bc
    # Bands are groups of box_rows rows (there are n // br = bc of them); stacks are groups of
    # box_cols columns (br of them). Permuting bands/stacks and lines within them keeps boxes.
    bands = rng.permutation(n // br)
    row_perm = np.concatenate([band * br + rng.permutation(br) for band in bands])
    stacks = rng.permutation(n // bc)
    col_perm = np.concatenate([stack * bc + rng.permutation(bc) for stack in stacks])
    return _Transform(digit_map, transpose, row_perm, col_perm)


def _apply_transform(x: np.ndarray, board: Board, t: _Transform) -> np.ndarray:
    """Official order: transpose (if drawn), then new[i] = old[row_perm[i//N]*N + col_perm[i%N]],
    then the digit map. Returns the input dtype."""
    n = board.size
    grid = np.asarray(x).reshape(n, n)
    if t.transpose:
        grid = grid.T
    moved = grid[t.row_perm[:, None], t.col_perm[None, :]].reshape(-1)
    return t.digit_map[moved].astype(np.asarray(x).dtype)


def augment(
    puzzle: np.ndarray, solution: np.ndarray, board: Board, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Applies one random Sudoku symmetry to a puzzle/solution pair.

    The same transform (digit relabelling, transpose for square boxes only, band/row and
    stack/column permutations) is applied to both arrays, so validity and uniqueness are kept.

    Args:
      puzzle: flat grid, shape (cells,), 0 = blank.
      solution: flat solved grid, shape (cells,).
      board: board geometry.
      rng: source of randomness (consumed).

    Returns:
      (augmented_puzzle, augmented_solution), each with its input's dtype.
    """
    p = _check_grid(puzzle, board, "puzzle")
    s = _check_grid(solution, board, "solution")
    t = _draw_transform(board, rng)
    return _apply_transform(p, board, t), _apply_transform(s, board, t)


# ---------------------------------------------------------------------------------------------
# Token encoding.
# ---------------------------------------------------------------------------------------------


def encode(grid: np.ndarray) -> np.ndarray:
    """Grid values to tokens (official encoding): 0 = PAD (never produced), 1 = blank,
    2..N+1 = digits 1..N.

    Args:
      grid: integer array of grid values (any shape), 0 = blank.

    Returns:
      ``grid + 1`` with the input's integer dtype (uint8 stays uint8).
    """
    arr = np.asarray(grid)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"grid must have an integer dtype, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= np.iinfo(arr.dtype).max):
        raise ValueError("grid values must be >= 0 and leave room for +1 in the dtype")
    return (arr + 1).astype(arr.dtype)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Inverse of ``encode``: tokens back to grid values (0 = blank).

    Args:
      tokens: integer token array; 0 (PAD) is not a grid value and raises ValueError.

    Returns:
      ``tokens - 1`` with the input's integer dtype.
    """
    arr = np.asarray(tokens)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"tokens must have an integer dtype, got {arr.dtype}")
    if arr.size and arr.min() < 1:
        raise ValueError("token 0 is PAD (or negative) and has no grid value")
    return (arr - 1).astype(arr.dtype)
