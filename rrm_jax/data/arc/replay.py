"""Replaying the official builder's random stream, for an exact reproduction of its arrays.

The official builder draws everything from numpy's global legacy generator seeded with 42: a
shuffle of each subset's task list, the augmentation trials task by task in that order, then the
untranslated example and offsets puzzle by puzzle. `replay_official` replays that stream with a
`np.random.RandomState`, so ``materialize(**replay_official(...).materialize_args())`` returns
the official arrays byte for byte, given the same source files (TRM's ``kaggle/combined`` JSON,
whose ARC-AGI-1 tasks list their test pairs first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from rrm_jax.data.arc.augment import AugList, augmentation_list, draw_augmentation
from rrm_jax.data.arc.tasks import Task, validate_task

OFFICIAL_SEED = 42


@dataclasses.dataclass
class Plan:
    """The official processing order, augmentation lists and generator state of a build.

    Attributes:
      tasks: task id -> task, in processing order (each subset shuffled, subsets in order).
      subset_of: task id -> subset name.
      aug_lists: task id -> [(tid, perm uint8[10])].
      trials: task id -> augmentation trials drawn (to replay the stream without hashing).
      test_tasks: ids of the test-set tasks, in order.
      rng: the generator positioned after augmentation, where the official builder starts
        drawing offsets; pass it as `materialize(..., seed=plan.rng)` (it is advanced in place).
      seed, num_aug: as given.
    """

    tasks: dict[str, Task]
    subset_of: dict[str, str]
    aug_lists: dict[str, AugList]
    trials: dict[str, int]
    test_tasks: list[str]
    rng: np.random.RandomState
    seed: int
    num_aug: int

    def materialize_args(self) -> dict[str, Any]:
        """Keyword arguments of `materialize` reproducing the official arrays."""
        return dict(
            tasks=self.tasks, aug_lists=self.aug_lists, test_tasks=self.test_tasks, seed=self.rng
        )


def replay_official(
    subsets: Mapping[str, Mapping[str, Any]],
    *,
    test_subsets: Collection[str],
    num_aug: int,
    seed: int = OFFICIAL_SEED,
) -> Plan:
    """Replays the official builder's random stream up to the translations.

    ``np.random.seed(seed)``; per subset in order: shuffle the list of its tasks (source order),
    then, task by task in that order, `augmentation_list`. The test pairs of the tasks of
    `test_subsets` form the test split.

    Args:
      subsets: subset name -> (task id -> task), each in its source-file order.
      test_subsets: the official ``--test-set-name`` (and ``--test-set-name2``).
      num_aug: the official ``--num-aug``.
      seed: the official ``--seed``.

    Returns:
      The `Plan`.

    Raises:
      ValueError: a task id in two subsets (the official code would give them one shared
        identifier), an unknown test subset, or an invalid task.
    """
    unknown = sorted(set(test_subsets) - set(subsets))
    if unknown:
        raise ValueError(f"test subsets {unknown} not among the subsets {list(subsets)}")
    rng = np.random.RandomState(seed)
    tasks: dict[str, Task] = {}
    subset_of: dict[str, str] = {}
    aug_lists: dict[str, AugList] = {}
    trials: dict[str, int] = {}
    test_tasks: list[str] = []
    for subset, subset_tasks in subsets.items():
        items = list(subset_tasks.items())
        rng.shuffle(items)  # as np.random.shuffle on the official list of (name, puzzle)
        for task_id, raw in items:
            if task_id in tasks:
                raise ValueError(
                    f"task {task_id!r} is in both subsets {subset_of[task_id]!r} and {subset!r}"
                )
            task = validate_task(task_id, raw)
            tasks[task_id] = task
            subset_of[task_id] = subset
            if subset in test_subsets:
                test_tasks.append(task_id)
            aug_lists[task_id], trials[task_id] = augmentation_list(
                task, num_aug, rng, return_trials=True
            )
    return Plan(tasks, subset_of, aug_lists, trials, test_tasks, rng, seed, num_aug)


def official_rng(
    subset_trials: Sequence[Sequence[int]], seed: int = OFFICIAL_SEED
) -> np.random.RandomState:
    """The official generator after augmentation, rebuilt without hashing anything.

    Replays the draws of `replay_official`: per subset in order, the shuffle of its task list
    (its length), then per task in processing order its number of augmentation trials (a tid and
    a permutation each).

    Args:
      subset_trials: per subset, the trials of each of its tasks in processing order.
      seed: the official seed.
    """
    rng = np.random.RandomState(seed)
    for trials in subset_trials:
        rng.shuffle(list(range(len(trials))))
        for count in trials:
            for _ in range(int(count)):
                draw_augmentation(rng)
    return rng
