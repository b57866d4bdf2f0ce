"""The ARC TFDS dataset (``datasets/arc_agi/``): loading its builder, building it, reading it back.

One record per task: its pairs as flattened uint8 cells plus int32 [n, 2] shapes per side, its
augmentation list and the number of trials it took, and its position in the official processing
order (see the builder's docstring).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.arc.augment import AugList
from rrm_jax.data.arc.grids import NUM_COLOURS
from rrm_jax.data.arc.replay import official_rng
from rrm_jax.data.arc.tasks import PAIR_KEYS, Task

BUILDER_NAME = "arc_agi"


def builder_file() -> str:
    """``datasets/arc_agi/arc_agi_dataset_builder.py`` of the source tree."""
    return str(rrm_tfds.builder_path(BUILDER_NAME))


def load_builder_class() -> type:
    """The ARC TFDS `Builder`, imported by file path (never as ``datasets.``: that name is Hugging
    Face's) and registered with TFDS as "arc_agi"."""
    return rrm_tfds.load_builder(BUILDER_NAME)


def build(
    data_dir: str | os.PathLike,
    config: str | Any = "arc1_only",
    **builder_kwargs: Any,
):
    """Prepares one config of the ARC builder into `data_dir` (array_record); returns the builder.

    `builder_kwargs`: ``source_dir=``, ``conceptarc_dir=``, ``num_aug=``, ``seed=`` (see the
    builder's docstring).
    """
    builder = load_builder_class()(config=config, data_dir=os.fspath(data_dir), **builder_kwargs)
    builder.download_and_prepare()
    return builder


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _grids(cells: np.ndarray, shapes: np.ndarray) -> list[np.ndarray]:
    shapes = np.asarray(shapes, np.int64).reshape(-1, 2)
    sizes = shapes[:, 0] * shapes[:, 1]
    if int(sizes.sum()) != cells.shape[0]:
        raise ValueError("stored grid cells do not match their shapes")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [
        np.asarray(cells[bounds[i] : bounds[i + 1]], np.uint8).reshape(shapes[i])
        for i in range(len(shapes))
    ]


def record_to_task(record: Mapping[str, Any]) -> Task:
    """A stored record -> its task (grids unflattened, keys in the source order)."""
    task: Task = {}
    keys = ("test", "train") if bool(record["test_first"]) else ("train", "test")
    for key in keys:
        ins = _grids(record[f"{key}_input_cells"], record[f"{key}_input_shapes"])
        outs = _grids(record[f"{key}_output_cells"], record[f"{key}_output_shapes"])
        task[key] = [{"input": i, "output": o} for i, o in zip(ins, outs, strict=True)]
    return task


def task_to_record(task: Task) -> dict[str, Any]:
    """The grid features of a task: flattened uint8 cells and int32 [n, 2] shapes per side."""
    keys = [k for k in task if k in PAIR_KEYS]
    record: dict[str, Any] = {"test_first": keys[0] == "test"}
    for key in PAIR_KEYS:
        for side in ("input", "output"):
            grids = [pair[side] for pair in task[key]]
            record[f"{key}_{side}_cells"] = np.concatenate([g.reshape(-1) for g in grids]).astype(
                np.uint8
            )
            record[f"{key}_{side}_shapes"] = np.asarray([g.shape for g in grids], np.int32)
    return record


def _config_dir(data_dir: str, config_name: str) -> str:
    base = os.path.join(data_dir, BUILDER_NAME, config_name)
    versions = sorted(
        (
            d
            for d in glob.glob(os.path.join(base, "*"))
            if os.path.isfile(os.path.join(d, "dataset_info.json"))
        ),
        key=lambda d: tuple(int(x) if x.isdigit() else 0 for x in os.path.basename(d).split(".")),
    )
    if not versions:
        raise FileNotFoundError(
            f"{base}: no prepared ARC dataset here (build it with rrm_jax.data.arc.build or "
            "the builder's download_and_prepare)"
        )
    return versions[-1]


def load_built(
    data_dir: str | os.PathLike, config: str | Any = "arc1_only", *, with_rng: bool = False
):
    """Reads a prepared ARC dataset back: original tasks, their augmentation lists, test tasks.

    The records are read with TFDS's data source of the prepared folder (array_record, no
    TensorFlow), then put in the stored processing order (TFDS writes them in its own order).

    Args:
      data_dir: the TFDS data folder given to the builder.
      config: the config name (or config object) that was built, e.g. "arc1_only".
      with_rng: also return the official generator positioned after augmentation
        (`official_rng`), so that ``materialize(tasks, aug_lists, test_tasks=test_tasks,
        seed=rng)`` gives the arrays of the official builder run on the same source files.

    Returns:
      (tasks, aug_lists, test_tasks[, rng]): task id -> task in processing order, task id ->
      [(tid, perm uint8[10])], and the test-set task ids in order.
    """
    import tensorflow_datasets as tfds

    name = config if isinstance(config, str) else config.name
    builder = tfds.builder_from_directory(_config_dir(os.fspath(data_dir), name))
    meta = dict(builder.info.metadata or {})
    sources = builder.as_data_source()
    subsets = list(meta.get("subsets") or sources.keys())
    records = []
    for subset in subsets:
        source = sources[subset]
        records.extend(source[i] for i in range(len(source)))
    records.sort(key=lambda r: int(r["order"]))
    if [int(r["order"]) for r in records] != list(range(len(records))):
        raise ValueError(f"{data_dir}: stored processing order is not 0..{len(records) - 1}")
    tasks: dict[str, Task] = {}
    aug_lists: dict[str, AugList] = {}
    test_tasks: list[str] = []
    for r in records:
        task_id = _text(r["task_id"])
        tasks[task_id] = record_to_task(r)
        tids = np.asarray(r["aug_tid"]).reshape(-1)
        perms = np.asarray(r["aug_perm"], np.uint8).reshape(-1, NUM_COLOURS)
        aug_lists[task_id] = [(int(t), p.copy()) for t, p in zip(tids, perms, strict=True)]
        if bool(r["is_test_task"]):
            test_tasks.append(task_id)
    if not with_rng:
        return tasks, aug_lists, test_tasks
    subset_trials = [
        [int(r["aug_trials"]) for r in records if _text(r["subset"]) == subset]
        for subset in subsets
    ]
    rng = official_rng(subset_trials, int(meta["seed"]))
    return tasks, aug_lists, test_tasks, rng
