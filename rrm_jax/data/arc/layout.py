"""The official ARC layout: original tasks and augmentation lists -> train/test `PuzzleData`.

As the official builder: groups = tasks, puzzles = variants (the original first, then its
augmentations), examples = pairs. The demonstration pairs of every task go to the train split;
the test pairs of the test-set tasks make the test split, those of every other task are appended
to its train puzzle (in the task's key order). A variant has one puzzle identifier, shared by its
train and test puzzles (see `identifiers`), numbered in train order from 1; 0 is ``"<blank>"``.
Train examples are translated (`translation_offsets`); test examples never move.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from rrm_jax.data import official
from rrm_jax.data.arc.augment import Rng, as_rng, translation_offsets
from rrm_jax.data.arc.grids import (
    IGNORE_LABEL_ID,
    MAX_GRID,
    PAD_ID,
    SEQ_LEN,
    VOCAB_SIZE,
    check_offset,
    encode_into,
)
from rrm_jax.data.arc.identifiers import BLANK_IDENTIFIER, BLANK_IDENTIFIER_ID, identifier_name
from rrm_jax.data.arc.tasks import Pair, Task, task_pairs, task_to_json, validate_task
from rrm_jax.data.arc.transforms import IDENTITY_PERM, check_tid, colour_map, dihedral, perm_string
from rrm_jax.data.official import Metadata, PuzzleData, validate


def _metadata(num_ids: int, groups: int, puzzles: int, examples: int) -> Metadata:
    return Metadata(
        seq_len=SEQ_LEN,
        vocab_size=VOCAB_SIZE,
        pad_id=PAD_ID,
        ignore_label_id=IGNORE_LABEL_ID,
        blank_identifier_id=BLANK_IDENTIFIER_ID,
        num_puzzle_identifiers=num_ids,
        total_groups=groups,
        mean_puzzle_examples=examples / puzzles,
        total_puzzles=puzzles,
        sets=("all",),
    )


def _split_pairs(task: Task, is_test: bool) -> tuple[list[Pair], list[Pair]]:
    """(train-split pairs, test-split pairs) of a task, in the official order."""
    if is_test:
        return list(task["train"]), list(task["test"])
    return task_pairs(task), []


def _normalise_aug_list(task_id: str, augs: Iterable) -> list[tuple[int, np.ndarray]]:
    out = []
    for tid, perm in augs:
        out.append((check_tid(int(tid)), colour_map(perm)))
    names = {(t, perm_string(p)) for t, p in out}
    if len(names) != len(out):
        raise ValueError(f"task {task_id!r}: repeated augmentation in its list")
    if (0, IDENTITY_PERM) in names:
        raise ValueError(f"task {task_id!r}: the identity cannot be an augmentation")
    return out


@dataclasses.dataclass
class SplitPlan:
    """Which pairs form which puzzles and groups of one split (the official order).

    Group g is task `task_ids[g]`; its puzzles are the original (variant 0) and one per entry of
    `augs[g]` (variant k applies `augs[g][k - 1]` = (dihedral id, colour table)); every puzzle of
    the group has the pairs `pairs[g]`. `example_pair[e]` is the pair index of example e.
    """

    task_ids: list[str]
    pairs: list[list[Pair]]
    augs: list[list[tuple[int, np.ndarray]]]
    puzzle_identifiers: np.ndarray  # int32 [P]
    puzzle_indices: np.ndarray  # int32 [P + 1], puzzles -> examples
    group_indices: np.ndarray  # int32 [G + 1], groups -> puzzles
    example_pair: np.ndarray  # int32 [E]
    num_identifiers: int

    @property
    def num_examples(self) -> int:
        return int(self.puzzle_indices[-1])

    def grids(self, group: int, variant: int, pair: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, output) grids of one example: the pair, augmented by the puzzle's variant."""
        p = self.pairs[group][pair]
        if variant == 0:
            return p["input"], p["output"]
        tid, table = self.augs[group][variant - 1]
        return dihedral(table[p["input"]], tid), dihedral(table[p["output"]], tid)

    def metadata(self) -> Metadata:
        return _metadata(
            self.num_identifiers,
            len(self.task_ids),
            len(self.puzzle_identifiers),
            self.num_examples,
        )


def plan_splits(
    tasks: Mapping[str, Any],
    aug_lists: Mapping[str, Iterable] | None,
    *,
    test_tasks: Collection[str],
    style: str = "trm",
) -> tuple[dict[str, SplitPlan | None], list[str], dict[str, Any]]:
    """The official layout of both splits, without encoding anything.

    Returns:
      ({"train": plan, "test": plan or None}, identifier names (index 0 "<blank>"), the raw
      test-set tasks as JSON lists for scoring). See `materialize` for the arguments.
    """
    tasks = {tid_: validate_task(tid_, t) for tid_, t in tasks.items()}
    test_set = set(test_tasks)
    unknown = sorted(test_set - tasks.keys())
    if unknown:
        raise ValueError(f"test tasks not among the tasks: {unknown[:5]}")
    augs = {t: _normalise_aug_list(t, (aug_lists or {}).get(t, ())) for t in tasks}
    extra = sorted(set(aug_lists or {}) - tasks.keys())
    if extra:
        raise ValueError(f"augmentation lists for unknown tasks: {extra[:5]}")

    # Identifiers: train order, original first (the official `identifier_map`).
    identifiers = [BLANK_IDENTIFIER]
    first_ids = {}  # identifier of each task's original puzzle
    for task_id in tasks:
        first_ids[task_id] = len(identifiers)
        identifiers.append(identifier_name(task_id, style=style))
        identifiers.extend(identifier_name(task_id, t, p, style=style) for t, p in augs[task_id])
    if len(set(identifiers)) != len(identifiers):
        seen: set[str] = set()
        dup = next(n for n in identifiers if n in seen or seen.add(n))
        raise ValueError(f"two puzzles share the identifier {dup!r}")

    def plan(split: str) -> SplitPlan | None:
        task_ids, pairs = [], []
        for task_id, task in tasks.items():
            train_pairs, test_pairs = _split_pairs(task, task_id in test_set)
            chosen = train_pairs if split == "train" else test_pairs
            if chosen:
                task_ids.append(task_id)
                pairs.append(chosen)
        if not task_ids:
            return None
        sizes = [
            len(pr) for t, pr in zip(task_ids, pairs, strict=True) for _ in range(1 + len(augs[t]))
        ]
        puzzle_ids = [first_ids[t] + k for t in task_ids for k in range(1 + len(augs[t]))]
        group_sizes = [1 + len(augs[t]) for t in task_ids]
        return SplitPlan(
            task_ids=task_ids,
            pairs=pairs,
            augs=[augs[t] for t in task_ids],
            puzzle_identifiers=np.asarray(puzzle_ids, np.int32),
            puzzle_indices=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32),
            group_indices=np.concatenate([[0], np.cumsum(group_sizes)]).astype(np.int32),
            example_pair=np.concatenate([np.arange(n) for n in sizes]).astype(np.int32),
            num_identifiers=len(identifiers),
        )

    test_puzzles = {t: task_to_json(task) for t, task in tasks.items() if t in test_set}
    return {"train": plan("train"), "test": plan("test")}, identifiers, test_puzzles


def materialize(
    tasks: Mapping[str, Any],
    aug_lists: Mapping[str, Iterable] | None,
    *,
    test_tasks: Collection[str],
    seed: int | Rng,
    translate: bool = True,
    offsets: Mapping[tuple[str, int], Any] | None = None,
    style: str = "trm",
) -> tuple[PuzzleData, PuzzleData | None, list[str], dict[str, Any]]:
    """Builds the official train/test splits from original tasks and their augmentation lists.

    Groups follow the order of `tasks`; in each group the original puzzle comes first, then one
    puzzle per entry of its augmentation list. Random draws follow the official order: every
    train puzzle (group by group, variant by variant: `translation_offsets`), then every test
    puzzle (its untranslated-example draw only). With a `np.random.RandomState` positioned as the
    official builder's after augmentation (`replay_official`), the arrays are the official ones.
    (`rrm_jax.data.arc.lazy` encodes the same layout on demand instead, for training.)

    Args:
      tasks: task id -> task (validated here), in group order.
      aug_lists: task id -> [(tid, perm)], e.g. from `augmentation_list`; a missing task or None:
        no augmentation.
      test_tasks: ids whose test pairs make the test split (the official `--test-set-name`).
      seed: an int (a fresh `np.random.default_rng`), a Generator or a RandomState (used and
        advanced in place).
      translate: translate train examples (official: yes); if False all offsets are 0.
      offsets: optional (task id, variant index: 0 original, k the k-th augmentation) ->
        int[n, 2] offsets of that train puzzle's examples, used instead of any draw (then `seed`
        is not used for the train split).
      style: identifier names, "trm" or "hrm".

    Returns:
      (train, test, identifiers, test_puzzles): `PuzzleData` in the official layout (uint8
      tokens, int32 indices; test is None without test tasks), the identifier names (index 0
      "<blank>"), and the raw test-set tasks (JSON lists, for scoring: `test_puzzles.json`).

    Raises:
      ValueError: an invalid task, an unknown test task, or a bad augmentation list or offsets.
    """
    rng = as_rng(seed)
    plans, identifiers, test_puzzles = plan_splits(
        tasks, aug_lists, test_tasks=test_tasks, style=style
    )

    def encode(split: str) -> PuzzleData | None:
        plan = plans[split]
        if plan is None:
            return None
        is_train = split == "train"
        n = plan.num_examples
        inputs = np.zeros((n, MAX_GRID, MAX_GRID), np.uint8)
        labels = np.zeros((n, MAX_GRID, MAX_GRID), np.uint8)
        row = 0
        for g, task_id in enumerate(plan.task_ids):
            for k in range(1 + len(plan.augs[g])):
                grids = [plan.grids(g, k, j) for j in range(len(plan.pairs[g]))]
                shapes = [(i.shape, o.shape) for i, o in grids]
                if is_train and offsets is not None:
                    key = (task_id, k)
                    if key not in offsets:
                        raise ValueError(f"offsets has no entry for train puzzle {key}")
                    offs = np.asarray(offsets[key], dtype=np.int64).reshape(-1, 2)
                    if offs.shape[0] != len(grids):
                        raise ValueError(
                            f"offsets {key}: {offs.shape[0]} rows for {len(grids)} examples"
                        )
                else:
                    _, offs = translation_offsets(shapes, rng, translate=is_train and translate)
                for (gi, go), (r, c) in zip(grids, offs, strict=True):
                    r, c = check_offset(
                        (max(gi.shape[0], go.shape[0]), max(gi.shape[1], go.shape[1])), (r, c)
                    )
                    encode_into(inputs[row], gi, r, c)
                    encode_into(labels[row], go, r, c)
                    row += 1
        data = PuzzleData(
            metadata=plan.metadata(),
            inputs=inputs.reshape(n, SEQ_LEN),
            labels=labels.reshape(n, SEQ_LEN),
            puzzle_identifiers=plan.puzzle_identifiers,
            puzzle_indices=plan.puzzle_indices,
            group_indices=plan.group_indices,
        )
        validate(data, f"<materialize>/{split}")
        return data

    train = encode("train")
    test = encode("test")
    if train is None:
        raise ValueError("no tasks: the train split would be empty")
    return train, test, identifiers, test_puzzles


def write_official(
    out_dir: str | os.PathLike,
    train: PuzzleData,
    test: PuzzleData | None,
    identifiers: list[str],
    test_puzzles: Mapping[str, Any],
) -> None:
    """Writes `materialize`'s output as the official folder (``train/``, ``test/``,
    ``identifiers.json``, ``test_puzzles.json``), readable by `rrm_jax.data.official`."""
    out_dir = os.fspath(out_dir)
    official.write_split(out_dir, "train", train, identifiers=identifiers)
    if test is not None:
        official.write_split(out_dir, "test", test)
    with open(os.path.join(out_dir, "test_puzzles.json"), "w") as f:
        json.dump(dict(test_puzzles), f)
