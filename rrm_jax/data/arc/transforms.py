"""The official ARC augmentation of one grid: a colour map, then one of the 8 dihedral symmetries.

A variant of a grid is ``dihedral(colour_map[grid], tid)``: tid 0 identity, 1/2/3 rotation by
90/180/270 degrees counter-clockwise (``np.rot90``), 4 ``fliplr``, 5 ``flipud``, 6 transpose,
7 anti-transpose (``fliplr(rot90(.))``); the builders' colour maps fix 0 and permute 1..9.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rrm_jax.data.arc.grids import NUM_COLOURS

# DIHEDRAL_INVERSE[tid] undoes dihedral(., tid).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
IDENTITY_PERM = "0123456789"


def check_tid(tid: int) -> int:
    """`tid` as an int, checked to be a dihedral transform id 0..7 (bools and floats refused)."""
    if isinstance(tid, bool) or not isinstance(tid, int | np.integer) or not 0 <= tid < 8:
        raise ValueError(f"dihedral transform id must be an int in 0..7, got {tid!r}")
    return int(tid)


def dihedral(grid: Any, tid: int) -> np.ndarray:
    """The 8 symmetries of the square (official `dihedral_transform`; may return a view).

    0 identity, 1 rot90, 2 rot180, 3 rot270 (counter-clockwise, ``np.rot90``), 4 ``fliplr``,
    5 ``flipud``, 6 transpose, 7 ``fliplr(rot90(.))`` (anti-transpose).
    """
    tid = check_tid(tid)
    grid = np.asarray(grid)
    if tid == 0:
        return grid
    if tid <= 3:
        return np.rot90(grid, k=tid)
    if tid == 4:
        return np.fliplr(grid)
    if tid == 5:
        return np.flipud(grid)
    if tid == 6:
        return grid.T
    return np.fliplr(np.rot90(grid, k=1))


def inverse_dihedral(grid: Any, tid: int) -> np.ndarray:
    """Undoes `dihedral(., tid)` (official `inverse_dihedral_transform`): rotations 1 and 3
    swap, the others are their own inverse."""
    return dihedral(grid, DIHEDRAL_INVERSE[check_tid(tid)])


def colour_map(perm: Any, *, fix_zero: bool = True) -> np.ndarray:
    """A colour permutation -> the uint8[10] look-up table ``new = table[old]``.

    Args:
      perm: the 10-digit string of an identifier (e.g. "0481963275"), 10 ints, or 9 ints
        permuting 1..9 (0 is prepended).
      fix_zero: require colour 0 to map to 0, as every map the builders draw does. The
        evaluators (and their official inverse) accept any permutation of 0..9.

    Raises:
      ValueError: not a permutation of 0..9 (fixing 0, if asked).
    """
    if isinstance(perm, str):
        if not re.fullmatch(r"[0-9]{10}", perm):
            raise ValueError(f"colour permutation string must be 10 digits, got {perm!r}")
        table = np.array([int(ch) for ch in perm], dtype=np.int64)
    else:
        table = np.asarray(perm).astype(np.int64).reshape(-1)
        if table.shape == (NUM_COLOURS - 1,):
            table = np.concatenate([[0], table])
    if (
        table.shape != (NUM_COLOURS,)
        or (fix_zero and table[0] != 0)
        or not np.array_equal(np.sort(table), np.arange(NUM_COLOURS))
    ):
        fixing = " fixing 0" if fix_zero else ""
        raise ValueError(f"not a colour permutation of 0..9{fixing}: {perm!r}")
    return table.astype(np.uint8)


def inverse_colour_map(perm: Any, *, fix_zero: bool = True) -> np.ndarray:
    """The uint8[10] table undoing `colour_map(perm)` (``argsort``, as the official inverse)."""
    return np.argsort(colour_map(perm, fix_zero=fix_zero)).astype(np.uint8)


def perm_string(perm: Any) -> str:
    """The 10-digit form of a colour permutation, as written in identifiers."""
    return "".join(str(int(x)) for x in colour_map(perm))


def augment_grid(grid: Any, tid: int, perm: Any) -> np.ndarray:
    """``dihedral(colour_map(perm)[grid], tid)`` as a contiguous uint8 array.

    `perm` may be any permutation of 0..9 (the builders' fix 0); `grid` any array of colours.
    """
    table = colour_map(perm, fix_zero=False)
    return np.ascontiguousarray(dihedral(table[np.asarray(grid, np.uint8)], tid))


def inverse_augment_grid(grid: Any, tid: int, perm: Any) -> np.ndarray:
    """Undoes `augment_grid` (official `inverse_aug`): inverse colours of the inverse dihedral.

    Returns:
      uint8 array of the original puzzle's orientation and colours.
    """
    inverse = inverse_colour_map(perm, fix_zero=False)
    return np.ascontiguousarray(inverse[inverse_dihedral(np.asarray(grid, np.uint8), tid)])
