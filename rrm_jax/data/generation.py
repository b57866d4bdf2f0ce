"""Unconditional generation data: complete boards as labels of an empty board (GRAM App. D.5).

GRAM's Sudoku generator is trained on complete solutions with an empty board as the input and
sampled from that same empty board; here any Sudoku split becomes such a split: its DISTINCT
labels (first occurrence order) as labels, every input all blank. `data.task="generate"` applies
it to both splits of a Sudoku source (`rrm_jax.data.build`); evaluation then checks the samples
against the rules, not the labels (`rrm_jax.eval.generation`).
"""

from __future__ import annotations

import numpy as np

from rrm_jax.data import official
from rrm_jax.data.official import DataError, PuzzleData

BLANK = 1  # the official Sudoku encoding: 0 PAD, 1 blank, 2.. digits


def distinct_rows(x: np.ndarray) -> np.ndarray:
    """The distinct rows of `x`, in order of first occurrence."""
    _, first = np.unique(x, axis=0, return_index=True)
    return x[np.sort(first)]


def unconditional(split: PuzzleData, *, max_examples: int = 0) -> PuzzleData:
    """`split`'s distinct complete boards as labels of all-blank inputs (the first
    `max_examples` of them when > 0)."""
    labels = np.asarray(split.labels)
    if np.any(labels <= BLANK):
        raise DataError("generation needs complete boards as labels (no PAD, blank or ignored)")
    boards = distinct_rows(labels)
    if max_examples > 0:
        boards = boards[:max_examples]
    inputs = np.full_like(boards, BLANK)
    return official.from_examples(inputs, boards, vocab_size=split.metadata.vocab_size)
