"""ARC grids and the official 30x30 token canvas: validation, encoding, the official crop, keys.

A grid is a 2-D uint8 array of colours 0..9 of at most 30x30 cells. It sits on a 30x30 canvas at
a top-left offset; colour c is token c + 2 (2..11), PAD is 0, and EOS (1) fills the row directly
below the grid (across its columns) and the column directly right of it (across its rows) where
those lie inside the canvas; the cell below-right stays PAD. The canvas is flattened row-major to
900 tokens (the official `np_grid_to_seq_translational_augment`). Vocabulary 12.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_GRID = 30
SEQ_LEN = MAX_GRID * MAX_GRID
PAD_ID = 0
EOS_ID = 1
COLOUR_OFFSET = 2  # colour c <-> token c + 2
NUM_COLOURS = 10
VOCAB_SIZE = NUM_COLOURS + 2
IGNORE_LABEL_ID = 0

Grid = np.ndarray


def task_location(task_id: str, where: str | os.PathLike | None) -> str:
    """``task 'id' (where)``: how errors name a task and, when known, its file."""
    return f"task {task_id!r}" + (f" ({os.fspath(where)})" if where is not None else "")


def to_grid(
    grid: Any,
    *,
    task_id: str = "?",
    where: str | os.PathLike | None = None,
    allow_empty: bool = False,
) -> Grid:
    """Checks one ARC grid and returns it as a C-contiguous 2-D uint8 array.

    Args:
      grid: nested lists (JSON) or an integer array.
      task_id: named in errors.
      where: a file or other location named in errors.
      allow_empty: accept a grid with no cells (shape (0, w) or (h, 0), any dtype), as the
        evaluator does for what a prediction may decode to; tasks never hold one.

    Returns:
      A uint8 array of shape (rows, columns), rows, columns <= 30 (and >= 1 unless allow_empty).

    Raises:
      ValueError: ragged rows, not 2-D, empty, larger than 30x30, non-integer values or a colour
        outside 0..9; the message names the task (and `where`).
    """
    at = task_location(task_id, where)
    try:
        arr = np.array(grid)
    except ValueError as e:  # numpy >= 1.24 refuses ragged nested lists
        raise ValueError(f"{at}: ragged grid ({e})") from None
    empty_ok = allow_empty and arr.size == 0
    if arr.dtype == object and not empty_ok:
        raise ValueError(f"{at}: ragged grid or non-numeric cells")
    if arr.ndim != 2:
        raise ValueError(f"{at}: a grid must be 2-D, got shape {arr.shape}")
    if arr.shape[0] > MAX_GRID or arr.shape[1] > MAX_GRID:
        raise ValueError(f"{at}: grid of shape {arr.shape} is larger than {MAX_GRID}x{MAX_GRID}")
    if empty_ok:
        return np.zeros(arr.shape, np.uint8)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{at}: empty grid of shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{at}: grid cells must be integers, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= NUM_COLOURS:
        bad = arr[(arr < 0) | (arr >= NUM_COLOURS)][0]
        raise ValueError(f"{at}: colour {bad} outside 0..9")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_grid(grid: Any) -> Grid:
    """Validates a grid as the evaluator reads one: `to_grid`, empty grids allowed."""
    return to_grid(grid, task_id="<grid>", allow_empty=True)


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def encode_into(canvas: np.ndarray, grid: Grid, r: int, c: int) -> None:
    """Writes `grid` at (r, c) of a zeroed 30x30 uint8 canvas, with its EOS border."""
    h, w = grid.shape
    canvas[r : r + h, c : c + w] = grid + COLOUR_OFFSET
    if r + h < MAX_GRID:
        canvas[r + h, c : c + w] = EOS_ID
    if c + w < MAX_GRID:
        canvas[r : r + h, c + w] = EOS_ID


def check_offset(shape: tuple[int, int], offset: Sequence[int]) -> tuple[int, int]:
    """(row, column) as ints, checked to keep a grid of `shape` inside the canvas."""
    r, c = (int(x) for x in offset)
    if r < 0 or c < 0 or r + shape[0] > MAX_GRID or c + shape[1] > MAX_GRID:
        raise ValueError(
            f"offset {(r, c)} puts a {shape[0]}x{shape[1]} grid outside the "
            f"{MAX_GRID}x{MAX_GRID} canvas"
        )
    return r, c


def encode_grid(grid: Any, offset: Sequence[int] = (0, 0)) -> np.ndarray:
    """One grid -> 900 uint8 tokens (official `np_grid_to_seq_translational_augment`).

    Args:
      grid: colours 0..9, at most 30x30 (an empty grid gives its EOS cells only, if any).
      offset: (row, column) of the grid's top-left cell on the 30x30 canvas.

    Returns:
      uint8[900]: PAD 0, EOS 1 on the row below and the column right of the grid (inside the
      canvas only; the corner cell stays PAD), colour c as c + 2; row-major.
    """
    grid = as_grid(grid)
    r, c = check_offset(grid.shape, offset)
    canvas = np.zeros((MAX_GRID, MAX_GRID), np.uint8)
    encode_into(canvas, grid, r, c)
    return canvas.reshape(SEQ_LEN)


def encode_pair(
    inp: Any, out: Any, offset: Sequence[int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """An (input, output) pair -> (inputs, labels) token rows sharing one offset."""
    return encode_grid(inp, offset), encode_grid(out, offset)


# ---------------------------------------------------------------------------------------------
# Decoding: the official crop
# ---------------------------------------------------------------------------------------------


def as_canvases(tokens: Any) -> np.ndarray:
    """[900], [30, 30], [N, 900] or [N, 30, 30] tokens -> [N, 30, 30] canvases."""
    tokens = np.asarray(tokens)
    if tokens.ndim == 1 and tokens.shape[0] == SEQ_LEN:
        return tokens.reshape(1, MAX_GRID, MAX_GRID)
    if tokens.ndim == 2 and tokens.shape == (MAX_GRID, MAX_GRID):
        return tokens[None]
    if tokens.ndim == 2 and tokens.shape[1] == SEQ_LEN:
        return tokens.reshape(-1, MAX_GRID, MAX_GRID)
    if tokens.ndim == 3 and tokens.shape[1:] == (MAX_GRID, MAX_GRID):
        return tokens
    raise ValueError(
        f"expected {SEQ_LEN} tokens or a {MAX_GRID}x{MAX_GRID} canvas per row, got shape "
        f"{tokens.shape}"
    )


def crop_sizes(tokens: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the grid `decode_grid` crops from each canvas, vectorised.

    Args:
      tokens: [N, 900] or [N, 30, 30] token canvases (or one canvas).

    Returns:
      (rows [N], cols [N]) int arrays; (0, 0) where the top-left cell is not a colour.
    """
    canvas = as_canvases(tokens)
    n = canvas.shape[0]
    colour = (canvas >= COLOUR_OFFSET) & (canvas < COLOUR_OFFSET + NUM_COLOURS)
    # Leading run of colour cells in each canvas row (argmin finds the first non-colour cell).
    run = np.where(colour.all(-1), MAX_GRID, np.argmin(colour, axis=-1))
    # The usable width after row r shrinks to the narrowest leading run seen so far.
    width = np.minimum.accumulate(run, axis=1)
    area = width * np.arange(1, MAX_GRID + 1)
    best = np.argmax(area, axis=1)  # first (fewest rows) among equal largest areas
    idx = np.arange(n)
    found = area[idx, best] > 0
    rows = np.where(found, best + 1, 0)
    cols = np.where(found, width[idx, best], 0)
    return rows, cols


def decode_grid(tokens: Any) -> Grid:
    """One canvas (any array of 900 tokens, e.g. [900] or [30, 30]) -> the grid at its top-left.

    The official crop (the evaluator's `_crop`): scanning rows downward from the top-left, the
    usable width is the run of colour tokens (2..11) at the start of the row, shrunk to the
    narrowest run so far; the largest-area rectangle (rows x usable width) wins, the first (fewest
    rows) among equal areas. EOS, PAD or any other token ends a row's run, so a grid is cut at its
    EOS row/column, a 30-wide or 30-tall grid needs no EOS, and a non-colour cell inside a
    predicted grid cuts the crop there. An untranslated `encode_grid` output decodes to its grid;
    a canvas whose top-left cell is not a colour decodes to an empty (0, 0) grid.

    Returns:
      uint8 [rows, cols] array of colours (token - 2).
    """
    tokens = np.asarray(tokens)
    if tokens.size != SEQ_LEN:
        raise ValueError(
            f"decode_grid takes one canvas of {SEQ_LEN} tokens, got shape {tokens.shape}"
        )
    canvas = tokens.reshape(1, MAX_GRID, MAX_GRID)
    rows, cols = crop_sizes(canvas)
    cells = canvas[0, : rows[0], : cols[0]].astype(np.int64)
    return (cells - COLOUR_OFFSET).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Grid identity
# ---------------------------------------------------------------------------------------------


def grid_key(grid: np.ndarray) -> bytes:
    """Hashable identity of a grid: its shape and its uint8 cells (equal iff the grids are)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    if grid.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {grid.shape}")
    return np.asarray(grid.shape, "<u4").tobytes() + grid.tobytes()


def grid_hash(grid: np.ndarray) -> str:
    """Official `grid_hash`: sha256 over one byte per dimension then the uint8 cells (C order)."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.dtype != np.uint8:
        raise ValueError(f"grid_hash wants a 2-D uint8 grid, got {grid.dtype} {grid.shape}")
    buffer = b"".join(int(x).to_bytes(1, byteorder="big") for x in grid.shape)
    return hashlib.sha256(buffer + grid.tobytes()).hexdigest()
