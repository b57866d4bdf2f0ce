"""Unconditional Sudoku generation, scored by the rules (GRAM Sec. 4.3, Table 2, App. D.5).

The paper reports the fraction of sampled boards that are valid Sudoku solutions (99.05% over
100K boards) and that all valid boards were distinct. Here, over every sample of every row:

- `valid`: complete boards whose rows, columns and boxes each hold every digit once;
- `unique`: distinct valid boards / valid boards (1.0: no board generated twice);
- `novel`: distinct valid boards absent from the training boards / distinct valid boards
  (memorisation shows as a low value);
- `distinct`: the number of distinct valid boards.
"""

from __future__ import annotations

import numpy as np

from rrm_jax.data import sudoku


def board_of(seq_len: int) -> sudoku.Board:
    """The Sudoku board with `seq_len` cells (4x4, 6x6 with 2x3 boxes, 9x9, 16x16)."""
    shapes = {16: (2, 2), 36: (2, 3), 81: (3, 3), 256: (4, 4)}
    if seq_len not in shapes:
        raise ValueError(f"no Sudoku board has {seq_len} cells")
    return sudoku.Board(*shapes[seq_len])


def valid_boards(tokens, board: sudoku.Board) -> np.ndarray:
    """bool [N]: each row of `tokens` [N, cells] (official encoding, digits 2..N+1) is a
    complete valid Sudoku."""
    t = np.asarray(tokens).astype(np.int64)
    if t.ndim != 2 or t.shape[1] != board.cells:
        raise ValueError(f"tokens must be [N, {board.cells}], got {t.shape}")
    n, br, bc = board.size, board.box_rows, board.box_cols
    digits = t - 1  # 1..n on valid cells
    g = digits.reshape(-1, n, n)
    boxes = g.reshape(-1, n // br, br, n // bc, bc).transpose(0, 1, 3, 2, 4).reshape(-1, n, n)
    units = np.concatenate([g, g.transpose(0, 2, 1), boxes], axis=1)  # [N, 3n, n]
    complete = np.all((digits >= 1) & (digits <= n), axis=1)
    return complete & np.all(np.sort(units, axis=-1) == np.arange(1, n + 1), axis=(1, 2))


def metrics(samples, train_boards=None) -> dict[str, float]:
    """valid, unique, novel, distinct over `samples` [..., cells] (every sample counts)."""
    flat = np.asarray(samples).reshape(-1, np.asarray(samples).shape[-1])
    ok = valid_boards(flat, board_of(flat.shape[1]))
    good = flat[ok].astype(np.int64)
    distinct = np.unique(good, axis=0) if len(good) else good
    out = {
        "valid": float(ok.mean()) if len(ok) else 0.0,
        "unique": len(distinct) / len(good) if len(good) else 0.0,
        "distinct": float(len(distinct)),
    }
    if train_boards is not None:
        seen = {row.tobytes() for row in np.asarray(train_boards).astype(np.int64)}
        new = sum(row.tobytes() not in seen for row in distinct)
        out["novel"] = new / len(distinct) if len(distinct) else 0.0
    return out
