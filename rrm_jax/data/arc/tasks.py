"""ARC tasks: validation, their JSON form, their variants and the official task hash.

A task is a dict ``{"train": [pair, ...], "test": [pair, ...]}`` (keys in the order of the source
file), a pair ``{"input": grid, "output": grid}``, a grid a 2-D uint8 array of colours 0..9 of at
most 30x30 cells (`validate_task` converts JSON lists).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rrm_jax.data.arc.grids import grid_hash, task_location, to_grid
from rrm_jax.data.arc.transforms import check_tid, colour_map, dihedral

PAIR_KEYS = ("train", "test")

Pair = dict[str, np.ndarray]
Task = dict[str, list[Pair]]


def validate_task(task_id: str, task: Any, *, where: str | os.PathLike | None = None) -> Task:
    """Checks one task and returns it with uint8 grids, keeping the order of its keys.

    Keys other than "train" and "test" (e.g. a "name" field) are dropped. Every pair needs an
    "input" and an "output" (`load_kaggle` fills missing test outputs first, as the official code).

    Raises:
      ValueError: not a dict, no "train" or no "test" pairs, a malformed pair or grid; the
        message names the task id (and `where`).
    """
    at = task_location(task_id, where)
    if not isinstance(task, Mapping):
        raise ValueError(f"{at}: a task must be a dict, got {type(task)}")
    for key in PAIR_KEYS:
        pairs = task.get(key)
        if not isinstance(pairs, list | tuple) or not pairs:
            raise ValueError(f"{at}: no {key!r} pairs")
    out: Task = {}
    for key in task:
        if key not in PAIR_KEYS:
            continue
        converted = []
        for i, pair in enumerate(task[key]):
            if not isinstance(pair, Mapping) or "input" not in pair or "output" not in pair:
                raise ValueError(f"{at}: {key} pair {i} must have 'input' and 'output'")
            converted.append(
                {
                    side: to_grid(pair[side], task_id=f"{task_id}/{key}[{i}].{side}", where=where)
                    for side in ("input", "output")
                }
            )
        out[key] = converted
    return out


def task_to_json(task: Task) -> dict[str, list[dict[str, list[list[int]]]]]:
    """A task as plain JSON lists (the form of `test_puzzles.json`), keeping its key order."""
    return {
        key: [{side: np.asarray(g).tolist() for side, g in pair.items()} for pair in pairs]
        for key, pairs in task.items()
    }


def task_pairs(task: Task) -> list[Pair]:
    """All pairs of a task in its key order (the official order of a non-test task's puzzle)."""
    return [pair for key in task for pair in task[key]]


def augment_task(task: Task, tid: int, perm: Any) -> Task:
    """The variant of a task: `augment_grid` on every grid of every pair, key order kept."""
    table = colour_map(perm)
    tid = check_tid(tid)
    return {
        key: [
            {side: np.ascontiguousarray(dihedral(table[g], tid)) for side, g in pair.items()}
            for pair in pairs
        ]
        for key, pairs in task.items()
    }


def pairs_hash(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> str:
    """The sha256 of the sorted "input|output" `grid_hash`es of (input, output) pairs."""
    hashes = sorted(f"{grid_hash(i)}|{grid_hash(o)}" for i, o in pairs)
    return hashlib.sha256("|".join(hashes).encode()).hexdigest()


def task_hash(task: Task) -> str:
    """Official `puzzle_hash`: the sha256 of the sorted "input|output" grid hashes of all pairs.

    Sorting makes it independent of pair order and of the train/test split of the pairs.
    """
    return pairs_hash((p["input"], p["output"]) for p in task_pairs(task))
