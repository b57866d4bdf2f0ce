"""ARC splits encoded on demand: the official layout without the official multi-GB arrays.

`materialize` writes every example of every augmented variant (ARC-1 with 1000 augmentations:
~3.6M train rows, several GB). Here the same layout (`plan_splits`: groups = tasks, puzzles =
variants sharing one identifier across splits, examples = pairs) keeps only index arrays, and
`inputs`/`labels` rows are encoded when the sampler asks for them. So the trainer stores the
original tasks and their augmentation lists, and augments on the fly.

Translation follows the official rule: per train puzzle one example, chosen at random, stays at
(0, 0), the others get uniform offsets in [0, 30 - max(h_in, h_out)] x [0, 30 - max(w_in,
w_out)] of their augmented grids; test examples never move. The offsets are drawn once, up front
and vectorised, from `seed` (the official builder draws them sequentially from its own stream, so
the numbers differ; `materialize` reproduces that stream exactly where parity needs it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from rrm_jax.data.arc.grids import MAX_GRID, SEQ_LEN, encode_into
from rrm_jax.data.arc.layout import SplitPlan, plan_splits
from rrm_jax.data.official import PuzzleData

# Dihedral ids that swap rows and columns (rot90, rot270, transpose, anti-transpose).
_SWAPS_AXES = np.array([False, True, False, True, False, False, True, True])


class _Rows:
    """Encodes (inputs, labels) rows of a split on demand; remembers the last request."""

    def __init__(self, plan: SplitPlan, offsets: np.ndarray):
        self.plan = plan
        self.offsets = offsets
        self._example_group = np.repeat(
            np.searchsorted(
                plan.group_indices, np.arange(len(plan.puzzle_identifiers)), side="right"
            )
            - 1,
            np.diff(plan.puzzle_indices),
        ).astype(np.int32)
        puzzle_variant = np.arange(len(plan.puzzle_identifiers)) - np.repeat(
            plan.group_indices[:-1], np.diff(plan.group_indices)
        )
        self._example_variant = np.repeat(puzzle_variant, np.diff(plan.puzzle_indices)).astype(
            np.int32
        )
        self._last: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None

    def get(self, index) -> tuple[np.ndarray, np.ndarray]:
        idx = (
            np.arange(self.plan.num_examples)[index]
            if isinstance(index, slice)
            else (np.asarray(index, np.int64).reshape(-1))
        )
        key = idx.tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        inputs = np.zeros((len(idx), MAX_GRID, MAX_GRID), np.uint8)
        labels = np.zeros((len(idx), MAX_GRID, MAX_GRID), np.uint8)
        for row, e in enumerate(idx):
            gi, go = self.plan.grids(
                int(self._example_group[e]),
                int(self._example_variant[e]),
                int(self.plan.example_pair[e]),
            )
            r, c = self.offsets[e]
            encode_into(inputs[row], gi, int(r), int(c))
            encode_into(labels[row], go, int(r), int(c))
        out = (inputs.reshape(-1, SEQ_LEN), labels.reshape(-1, SEQ_LEN))
        self._last = (key, out)
        return out


class LazyTokens:
    """The `inputs` or `labels` array of a split, as far as the sampler uses one: `shape`,
    `dtype`, `len` and row indexing (integer arrays or slices) returning uint8 [k, 900]."""

    def __init__(self, rows: _Rows, which: int):
        self._rows, self._which = rows, which
        self.shape = (rows.plan.num_examples, SEQ_LEN)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._rows.get([index])[self._which][0]
        return self._rows.get(index)[self._which]


def _offsets(plan: SplitPlan, rng: np.random.Generator, translate: bool) -> np.ndarray:
    """int16 [E, 2] offsets of every example (see the module docstring), vectorised."""
    n = plan.num_examples
    offsets = np.zeros((n, 2), np.int16)
    if not translate:
        return offsets
    # Largest input/output extent of every (group, pair), flattened, and each example's row in it.
    extent = np.array(
        [
            (
                max(p["input"].shape[0], p["output"].shape[0]),
                max(p["input"].shape[1], p["output"].shape[1]),
            )
            for pairs in plan.pairs
            for p in pairs
        ],
        np.int32,
    )
    pair_base = np.concatenate([[0], np.cumsum([len(pr) for pr in plan.pairs])])[:-1]
    puzzle_sizes = np.diff(plan.puzzle_indices)
    group_of_puzzle = np.repeat(np.arange(len(plan.task_ids)), np.diff(plan.group_indices))
    tid_of_puzzle = np.concatenate([[0] + [t for t, _ in augs] for augs in plan.augs])
    example_group = np.repeat(group_of_puzzle, puzzle_sizes)
    ext = extent[pair_base[example_group] + plan.example_pair]
    swap = _SWAPS_AXES[np.repeat(tid_of_puzzle, puzzle_sizes)]
    h = np.where(swap, ext[:, 1], ext[:, 0])
    w = np.where(swap, ext[:, 0], ext[:, 1])
    offsets[:, 0] = rng.integers(0, MAX_GRID - h + 1)
    offsets[:, 1] = rng.integers(0, MAX_GRID - w + 1)
    keep = plan.puzzle_indices[:-1] + rng.integers(0, puzzle_sizes)  # one untranslated each
    offsets[keep] = 0
    return offsets


def lazy_splits(
    tasks: Mapping[str, Any],
    aug_lists: Mapping[str, Iterable] | None,
    *,
    test_tasks: Collection[str],
    seed: int,
    style: str = "trm",
) -> tuple[PuzzleData, PuzzleData | None, list[str], dict[str, Any]]:
    """`materialize`'s (train, test, identifiers, test_puzzles), with rows encoded on demand."""
    plans, identifiers, test_puzzles = plan_splits(
        tasks, aug_lists, test_tasks=test_tasks, style=style
    )
    rng = np.random.default_rng([seed, 0xA12C])

    def split(name: str) -> PuzzleData | None:
        plan = plans[name]
        if plan is None:
            return None
        rows = _Rows(plan, _offsets(plan, rng, translate=name == "train"))
        return PuzzleData(
            metadata=plan.metadata(),
            inputs=LazyTokens(rows, 0),
            labels=LazyTokens(rows, 1),
            puzzle_identifiers=plan.puzzle_identifiers,
            puzzle_indices=plan.puzzle_indices,
            group_indices=plan.group_indices,
        )

    train = split("train")
    if train is None:
        raise ValueError("no tasks: the train split would be empty")
    return train, split("test"), identifiers, test_puzzles
