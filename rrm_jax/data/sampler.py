"""Training and evaluation batches with the official HRM/TRM sampling semantics.

Train, as the official `puzzle_dataset.py` `_iter_train` / `_sample_batch`: an *iteration* is a
block of `epochs_per_iter` epochs. Its group order is the concatenation of `epochs_per_iter`
independent permutations of all groups. A batch walks that order: for each group it picks ONE
random puzzle (variant) of the group and appends that puzzle's examples in a random order without
replacement, truncated to what still fits, until the global batch is full. A batch that cannot be
filled at the end of an iteration is dropped, never padded, and the next iteration starts. So one
epoch is one random variant of every group (Sudoku-Extreme 1k: 1000 examples, not 1,001,000).
Each process takes its contiguous slice of the global batch.

Eval, as the official `_iter_test`: sequential chunks of the global batch over all examples in
order; the last chunk is padded (pad_id inputs, -100 labels, the blank identifier) and a `valid`
mask marks the real rows.

Deliberate differences from the official code:

1. Every random draw is seeded. The official code draws the group order and puzzle picks from
   `Philox(seed + iteration)` but the order of a puzzle's examples from the global, unseeded
   `np.random`. Here every draw comes from a Philox generator keyed by a `SeedSequence` over
   (purpose, seed, counters): the group permutation, the puzzle pick and the augmentation variant
   of each walk position from (seed, iteration, epoch); the order of examples inside the picked
   puzzles from (seed, iteration, walk position where the batch starts). The batch stream is thus a
   pure function of (seed, position) and the official stream is matched in distribution, not
   bit for bit (it cannot be: part of it is unseeded).
2. Each epoch of an iteration has its own generator, where the official code draws all the
   permutations of an iteration from one; so a sampler only materialises the epochs it is walking
   (O(groups) memory and work per epoch, even with `epochs_per_iter` in the thousands), and
   `set_state` resumes anywhere in O(1).
3. The iterator is infinite (iterations are counted from 0); the official dataset is re-iterated
   once per iteration by the training loop.
4. Augmentation can run on the fly (the official builders store 1 original + num_aug augmented
   copies per group): with `augment` and `num_aug > 0`, each walk position draws a variant v
   uniform in {0..num_aug}; v = 0 is the stored example, v > 0 replaces every example appended
   from that pick by `augment(inputs_row, labels_row, augment_rng(seed, group, v))`. The examples
   of one pick share v, as the examples of one stored variant share its transform in the official
   ARC builder, and since the generator is rebuilt for every row they share the transform too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from rrm_jax.data.official import Metadata, PuzzleData

IGNORE_LABEL = -100

AugmentFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]

# Domain separation: the first word of every SeedSequence names what the generator is for, so
# the streams for (seed, iteration, epoch), (seed, iteration, start) and (seed, group, variant)
# never coincide.
_PURPOSE_EPOCH = 1
_PURPOSE_BATCH = 2
_PURPOSE_AUGMENT = 3
_EPOCH_CACHE = 4


def _generator(*words: int) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(list(words))))


def augment_rng(seed: int, group: int, variant: int) -> np.random.Generator:
    """The generator handed to `augment` for variant `variant` (>= 1) of group `group`.

    A fresh generator in the same state for every call, so an augmented example is a
    deterministic function of (example, variant, seed) and can be recomputed, e.g. to invert the
    transform when voting.
    """
    return _generator(_PURPOSE_AUGMENT, seed, group, variant)


def total_steps(metadata: Metadata, epochs: int, global_batch_size: int) -> int:
    """Training steps for `epochs` epochs, as the official `pretrain.py` counts them.

    Official: `int(epochs * total_groups * mean_puzzle_examples / global_batch_size)`. It ignores
    the batches dropped at iteration ends, so it slightly overestimates the batches a sampler
    yields per epoch; the official loop simply keeps iterating until this many steps are done.
    """
    return int(epochs * metadata.total_groups * metadata.mean_puzzle_examples / global_batch_size)


def _local_batch_size(global_batch_size: int, process_index: int, process_count: int) -> int:
    if global_batch_size < 1:
        raise ValueError(f"global_batch_size must be positive, got {global_batch_size}")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} outside [0, {process_count})")
    if global_batch_size % process_count:
        raise ValueError(
            f"global batch size {global_batch_size} must be a multiple of the process count "
            f"{process_count}"
        )
    return global_batch_size // process_count


def _map_labels(labels: np.ndarray, ignore_label_id: int | None) -> np.ndarray:
    # Official `_collate_batch`: labels equal to ignore_label_id become IGNORE_LABEL_ID (-100).
    if ignore_label_id is not None:
        labels[labels == ignore_label_id] = IGNORE_LABEL
    return labels


@dataclasses.dataclass(frozen=True)
class Selection:
    """Where the rows of one local training batch come from (all arrays [B_local])."""

    example_index: np.ndarray  # row in data.inputs / data.labels
    puzzle_index: np.ndarray  # puzzle the row belongs to
    group_index: np.ndarray  # group the puzzle belongs to
    variant: np.ndarray  # on-the-fly augmentation variant; 0 = the stored example


class _EpochPlan(NamedTuple):
    groups: np.ndarray  # [G] the epoch's group permutation
    puzzles: np.ndarray  # [G] the puzzle picked in each group
    variants: np.ndarray  # [G] augmentation variant of each pick
    sizes: np.ndarray  # [G] examples in each picked puzzle
    cumsum: np.ndarray  # [G + 1] running total of sizes


class TrainSampler:
    """Infinite, resumable training batches with the official group/variant semantics.

    Batches are dicts of `inputs` int32 [B_local, seq_len], `labels` int32 [B_local, seq_len]
    (ignore_label_id mapped to -100) and `puzzle_identifiers` int32 [B_local]; never padded.

    Args:
      data: the training split.
      global_batch_size: examples per step over all processes.
      seed: non-negative; with the position it determines every batch.
      epochs_per_iter: epochs per iteration (official: the eval interval); a batch that cannot
        be filled at the end of an iteration is dropped.
      augment: `augment(inputs_row, labels_row, rng, variant=v) -> (inputs_row, labels_row)` on
        raw token
        rows, used for variants v > 0.
      num_aug: number of augmented variants per stored puzzle (0: no on-the-fly augmentation).
      process_index: this process's slice of the global batch.
      process_count: number of processes; must divide global_batch_size.
    """

    def __init__(
        self,
        data: PuzzleData,
        global_batch_size: int,
        seed: int,
        *,
        epochs_per_iter: int = 1,
        augment: AugmentFn | None = None,
        num_aug: int = 0,
        process_index: int = 0,
        process_count: int = 1,
    ):
        self.local_batch_size = _local_batch_size(global_batch_size, process_index, process_count)
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if epochs_per_iter < 1:
            raise ValueError(f"epochs_per_iter must be positive, got {epochs_per_iter}")
        if num_aug < 0 or (num_aug > 0 and augment is None):
            raise ValueError(f"num_aug={num_aug} needs num_aug >= 0 and an augment function")
        self.data = data
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.epochs_per_iter = epochs_per_iter
        self.augment = augment if num_aug > 0 else None
        self.num_aug = num_aug if augment is not None else 0
        self.process_index = process_index

        self._puzzle_indices = np.asarray(data.puzzle_indices, dtype=np.int64)
        self._group_indices = np.asarray(data.group_indices, dtype=np.int64)
        self._num_groups = data.num_groups
        group_sizes = np.diff(self._group_indices)
        if np.any(group_sizes == 0):
            # Official `_sample_batch` would fail in `rng.integers(low, high)` with low == high.
            raise ValueError(f"group {int(np.argmin(group_sizes))} has no puzzles")
        puzzle_sizes = np.diff(self._puzzle_indices)
        capacity = epochs_per_iter * int(
            np.maximum.reduceat(puzzle_sizes, self._group_indices[:-1]).sum()
        )
        if capacity < global_batch_size:
            # No iteration could ever fill a batch: every one would be dropped, forever.
            raise ValueError(
                f"global batch size {global_batch_size} exceeds the most examples one iteration "
                f"can supply ({capacity}); raise epochs_per_iter or lower the batch size"
            )
        self._iteration = 0
        self._start = 0
        self._epochs: dict[tuple[int, int], _EpochPlan] = {}

    # -- state -----------------------------------------------------------------------------

    def get_state(self) -> dict:
        """The position of the next batch: `{"iteration": int, "start_index": int}`.

        `start_index` is the position in the iteration's group walk (official `start_index`),
        so the state does not depend on the process count.
        """
        return {"iteration": self._iteration, "start_index": self._start}

    def set_state(self, state: dict) -> None:
        """Resumes at a state from `get_state`; the next batches equal the uninterrupted ones."""
        iteration, start = state["iteration"], state["start_index"]
        walk = self.epochs_per_iter * self._num_groups
        if not (isinstance(iteration, int) and isinstance(start, int)):
            raise ValueError(f"state values must be integers, got {state!r}")
        if iteration < 0 or not 0 <= start <= walk:
            raise ValueError(f"state {state!r} outside iteration >= 0, 0 <= start <= {walk}")
        self._iteration, self._start = iteration, start

    # -- sampling --------------------------------------------------------------------------

    def _epoch_plan(self, iteration: int, epoch: int) -> _EpochPlan:
        key = (iteration, epoch)
        if key in self._epochs:
            return self._epochs[key]
        rng = _generator(_PURPOSE_EPOCH, self.seed, iteration, epoch)
        groups = rng.permutation(self._num_groups)
        # Official: `puzzle_id = rng.integers(group_indices[g], group_indices[g + 1])` per group.
        puzzles = rng.integers(self._group_indices[groups], self._group_indices[groups + 1])
        # Drawn last, so the order and the picks do not depend on num_aug.
        if self.num_aug:
            variants = rng.integers(0, self.num_aug + 1, size=self._num_groups)
        else:
            variants = np.zeros(self._num_groups, dtype=np.int64)
        sizes = self._puzzle_indices[puzzles + 1] - self._puzzle_indices[puzzles]
        plan = _EpochPlan(groups, puzzles, variants, sizes, np.concatenate([[0], np.cumsum(sizes)]))
        if len(self._epochs) >= _EPOCH_CACHE:
            del self._epochs[next(iter(self._epochs))]  # oldest first: the walk moves forward
        self._epochs[key] = plan
        return plan

    def _walk(self, iteration: int, start: int) -> tuple[list[np.ndarray], int] | None:
        """Picks from walk position `start` until the global batch is full, or None if it can't.

        Returns [groups, puzzles, variants, sizes, appended counts] per pick and the next start.
        """
        need, pos = self.global_batch_size, start
        walk = self.epochs_per_iter * self._num_groups
        parts: list[list[np.ndarray]] = []
        while need > 0 and pos < walk:
            epoch, offset = divmod(pos, self._num_groups)
            plan = self._epoch_plan(iteration, epoch)
            # First pick at which the running total reaches what the batch still needs.
            end = int(np.searchsorted(plan.cumsum, plan.cumsum[offset] + need, side="left"))
            end = min(end, self._num_groups)
            sl = slice(offset, end)
            take = plan.sizes[sl].copy()
            got = int(take.sum())
            if got > need:
                take[-1] -= got - need  # official: append_size = min(puzzle_size, remaining)
            parts.append(
                [plan.groups[sl], plan.puzzles[sl], plan.variants[sl], plan.sizes[sl], take]
            )
            need -= min(got, need)
            pos = epoch * self._num_groups + end
        if need > 0:
            return None  # official `_iter_train`: drop the last incomplete batch
        return [np.concatenate(p) for p in zip(*parts, strict=True)], pos

    def _global_selection(self, iteration: int, start: int, picks: list[np.ndarray]) -> Selection:
        groups, puzzles, variants, sizes, take = picks
        first = self._puzzle_indices[puzzles]
        if np.all(sizes == 1):
            local = np.zeros(sizes.shape[0], dtype=np.int64)  # one example: nothing to order
        else:
            # Official: `np.random.choice(puzzle_size, append_size, replace=False)` per pick, i.e.
            # the first append_size entries of a random permutation of the puzzle's examples.
            rng = _generator(_PURPOSE_BATCH, self.seed, iteration, start)
            pick = np.repeat(np.arange(sizes.shape[0]), sizes)
            rank = np.arange(pick.shape[0]) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            order = np.lexsort((rng.random(pick.shape[0]), pick))  # shuffle within each pick
            keep = rank < np.repeat(take, sizes)
            local = rank[order][keep]
        return Selection(
            example_index=np.repeat(first, take) + local,
            puzzle_index=np.repeat(puzzles, take),
            group_index=np.repeat(groups, take),
            variant=np.repeat(variants, take),
        )

    def next_selection(self) -> Selection:
        """Advances by one batch and returns where this process's rows come from."""
        while True:
            found = self._walk(self._iteration, self._start)
            if found is not None:
                break
            self._iteration, self._start = self._iteration + 1, 0
        picks, next_start = found
        selection = self._global_selection(self._iteration, self._start, picks)
        self._start = next_start
        rows = slice(
            self.process_index * self.local_batch_size,
            (self.process_index + 1) * self.local_batch_size,
        )
        return Selection(*(getattr(selection, f.name)[rows] for f in dataclasses.fields(Selection)))

    def collate(self, selection: Selection) -> dict[str, np.ndarray]:
        """Gathers, augments and converts the rows of a selection into a batch."""
        raw_inputs = self.data.inputs[selection.example_index]
        raw_labels = self.data.labels[selection.example_index]
        inputs = raw_inputs.astype(np.int32)
        labels = raw_labels.astype(np.int32)
        if self.augment is not None:
            for i in np.flatnonzero(selection.variant):
                rng = augment_rng(
                    self.seed, int(selection.group_index[i]), int(selection.variant[i])
                )
                new_inputs, new_labels = self.augment(
                    raw_inputs[i], raw_labels[i], rng, variant=int(selection.variant[i])
                )
                if (
                    np.shape(new_inputs) != inputs.shape[1:]
                    or np.shape(new_labels) != inputs.shape[1:]
                ):
                    raise ValueError(
                        f"augment returned shapes {np.shape(new_inputs)}, {np.shape(new_labels)}; "
                        f"expected {inputs.shape[1:]}"
                    )
                inputs[i], labels[i] = new_inputs, new_labels
        identifiers = self.data.puzzle_identifiers[selection.puzzle_index].astype(np.int32)
        return {
            "inputs": inputs,
            "labels": _map_labels(labels, self.data.metadata.ignore_label_id),
            "puzzle_identifiers": identifiers,
        }

    def __iter__(self) -> TrainSampler:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return self.collate(self.next_selection())


def eval_batches(
    data: PuzzleData,
    global_batch_size: int,
    *,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Every example once, in order, in padded batches (official `_iter_test`).

    Yields dicts of `inputs`, `labels`, `puzzle_identifiers` (as in training) and `valid` bool
    [B_local], False on the padding rows of the last chunk (pad_id inputs, -100 labels,
    blank_identifier_id identifiers).
    """
    local_batch_size = _local_batch_size(global_batch_size, process_index, process_count)
    m = data.metadata
    puzzle_indices = np.asarray(data.puzzle_indices)
    for start in range(0, data.num_examples, global_batch_size):
        end = min(data.num_examples, start + global_batch_size)
        # Official: local_start = start + rank * local_bs, local_end = min(... + local_bs, end).
        lo = start + process_index * local_batch_size
        count = max(0, min(lo + local_batch_size, end) - lo)
        # The puzzle of example i is the last puzzle starting at or before i.
        puzzles = np.searchsorted(puzzle_indices, np.arange(lo, lo + count), side="right") - 1
        inputs = np.full((local_batch_size, m.seq_len), m.pad_id, dtype=np.int32)
        labels = np.full((local_batch_size, m.seq_len), IGNORE_LABEL, dtype=np.int32)
        identifiers = np.full(local_batch_size, m.blank_identifier_id, dtype=np.int32)
        inputs[:count] = data.inputs[lo : lo + count]
        labels[:count] = _map_labels(
            data.labels[lo : lo + count].astype(np.int32), m.ignore_label_id
        )
        identifiers[:count] = data.puzzle_identifiers[puzzles]
        yield {
            "inputs": inputs,
            "labels": labels,
            "puzzle_identifiers": identifiers,
            "valid": np.arange(local_batch_size) < count,
        }
