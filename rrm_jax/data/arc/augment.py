"""The official random draws of the ARC builder: augmentation lists and translation offsets.

Per task, up to 5 * num_aug trials each draw a dihedral id and a colour permutation; a trial is
kept if the augmented task is new by `task_hash` (the original task counts as seen, so the
identity is never kept), until num_aug variants are kept. Per puzzle, one random example stays
at offset (0, 0) and each other one draws (row, column) offsets uniformly within the canvas.
Every draw takes a `np.random.Generator`, or a `np.random.RandomState` to replay the official
stream (its ``randint`` and ``permutation`` equal numpy's global functions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rrm_jax.data.arc.grids import MAX_GRID, NUM_COLOURS
from rrm_jax.data.arc.tasks import Task, pairs_hash, task_pairs
from rrm_jax.data.arc.transforms import dihedral

# The official builder tries at most this many times num_aug augmentations per task.
AUGMENT_RETRIES_FACTOR = 5

Rng = np.random.Generator | np.random.RandomState
AugList = list[tuple[int, np.ndarray]]


def randint(rng: Rng, low: int, high: int) -> int:
    """One int in [low, high) from either kind of generator."""
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(low, high))
    return int(rng.integers(low, high))


def draw_augmentation(rng: Rng) -> tuple[int, np.ndarray]:
    """One official trial: a tid in 0..7, then a permutation of 1..9 (0 stays)."""
    tid = randint(rng, 0, 8)
    perm = np.concatenate(
        [np.zeros(1, np.uint8), rng.permutation(np.arange(1, NUM_COLOURS, dtype=np.uint8))]
    )
    return tid, perm


def as_rng(seed: int | Rng) -> Rng:
    """A generator as given, or a fresh `np.random.default_rng(seed)` for an int seed."""
    if isinstance(seed, np.random.Generator | np.random.RandomState):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, a numpy Generator or RandomState, got {seed!r}")
    return np.random.default_rng(int(seed))


def augmentation_list(
    task: Task, num_aug: int, rng: Rng, *, return_trials: bool = False
) -> AugList | tuple[AugList, int]:
    """The official de-duplicated augmentations of one task (`convert_single_arc_puzzle`).

    Up to ``5 * num_aug`` trials, each drawing ``tid`` (an int in 0..7) then a permutation of
    1..9 from `rng`; a trial is kept if `task_hash` of the augmented task differs from the
    original's and from every kept one; drawing stops once num_aug are kept (fewer when the
    task has fewer distinct variants). The identity is never kept, nor anything equal to it.

    Args:
      task: a validated task.
      num_aug: augmentations wanted (0: none, and no draws).
      rng: a `np.random.Generator`, or a `np.random.RandomState` (the official stream: its
        ``randint(0, 8)`` and ``permutation`` equal numpy's global functions).
      return_trials: also return the number of trials drawn.

    Returns:
      [(tid, perm uint8[10])] in the order kept (, trials).
    """
    if isinstance(num_aug, bool) or not isinstance(num_aug, int | np.integer) or num_aug < 0:
        raise ValueError(f"num_aug must be a non-negative int, got {num_aug!r}")
    pairs = [(p["input"], p["output"]) for p in task_pairs(task)]
    seen = {pairs_hash(pairs)}
    kept: AugList = []
    trials = 0
    if num_aug > 0:
        for _ in range(AUGMENT_RETRIES_FACTOR * num_aug):
            tid, perm = draw_augmentation(rng)
            trials += 1
            h = pairs_hash(
                (
                    np.ascontiguousarray(dihedral(perm[i], tid)),
                    np.ascontiguousarray(dihedral(perm[o], tid)),
                )
                for i, o in pairs
            )
            if h not in seen:
                seen.add(h)
                kept.append((tid, perm))
            if len(kept) >= num_aug:
                break
    return (kept, trials) if return_trials else kept


def translation_offsets(
    shapes: Sequence[tuple[Sequence[int], Sequence[int]]], rng: Rng, *, translate: bool = True
) -> tuple[int, np.ndarray]:
    """The official untranslated example and the (row, column) offsets of one puzzle.

    As the official builder, per puzzle: ``no_aug = randint(0, n)`` is drawn first (even when not
    translating), then for each example in order other than `no_aug`, when translating,
    ``row = randint(0, 30 - max(h_in, h_out) + 1)`` and
    ``col = randint(0, 30 - max(w_in, w_out) + 1)``.

    Args:
      shapes: per example ((h_in, w_in), (h_out, w_out)).
      rng: a `np.random.Generator`, or a `np.random.RandomState` for the official stream.
      translate: False for the test split (every offset 0; only `no_aug` is drawn).

    Returns:
      (no_aug, int64[n, 2] offsets).
    """
    n = len(shapes)
    if n == 0:
        raise ValueError("a puzzle needs at least one example")
    no_aug = randint(rng, 0, n)
    offsets = np.zeros((n, 2), np.int64)
    if translate:
        for i, (si, so) in enumerate(shapes):
            if i == no_aug:
                continue
            offsets[i, 0] = randint(rng, 0, MAX_GRID - max(si[0], so[0]) + 1)
            offsets[i, 1] = randint(rng, 0, MAX_GRID - max(si[1], so[1]) + 1)
    return no_aug, offsets
