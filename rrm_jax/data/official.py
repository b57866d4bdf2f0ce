"""The official HRM/TRM numpy dataset format: load, validate and write one split.

Layout, as written by the official `dataset/build_*_dataset.py` builders and read by the official
`puzzle_dataset.py`::

    <root>/identifiers.json                        index -> name; index 0 is "<blank>"
    <root>/<split>/dataset.json                    the split's metadata (`Metadata`)
    <root>/<split>/<set>__inputs.npy               [examples, seq_len] small ints
    <root>/<split>/<set>__labels.npy               [examples, seq_len] small ints
    <root>/<split>/<set>__puzzle_identifiers.npy   [puzzles] embedding id of each puzzle
    <root>/<split>/<set>__puzzle_indices.npy       [puzzles + 1] CSR offsets: puzzle -> examples
    <root>/<split>/<set>__group_indices.npy        [groups + 1] CSR offsets: group -> puzzles

A group is one original puzzle plus its augmented variants; the official training sampler draws one
puzzle per group per epoch (see `rrm_jax.data.sampler`). The set is "all" in every official builder.

Every problem found while loading is raised as `DataError`, whose message starts with the full path
of the offending file, so a broken dataset folder is diagnosed from the message alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import numpy as np

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
METADATA_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
BLANK_IDENTIFIER = "<blank>"

# Token range checks run over row chunks of about this many elements, so validating a
# 400k x 900 split never allocates more than a few tens of MB of temporaries.
_CHUNK_ELEMENTS = 1 << 24


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Metadata:
    """The contents of `dataset.json` (official `PuzzleDatasetMetadata`)."""

    seq_len: int
    vocab_size: int
    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    total_puzzles: int
    sets: tuple[str, ...]


@dataclasses.dataclass
class PuzzleData:
    """One set of one split: token arrays plus the CSR indices over puzzles and groups."""

    metadata: Metadata
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    @property
    def num_examples(self) -> int:
        """Number of example rows."""
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self) -> int:
        """Number of puzzles (each a CSR range of examples)."""
        return int(self.puzzle_indices.shape[0]) - 1

    @property
    def num_groups(self) -> int:
        """Number of groups (each a CSR range of puzzles)."""
        return int(self.group_indices.shape[0]) - 1


def _array_path(split_dir: str, set_name: str, field: str) -> str:
    return os.path.join(split_dir, f"{set_name}__{field}.npy")


def _load_array(path: str, mmap: bool) -> np.ndarray:
    if not os.path.isfile(path):
        raise DataError(f"{path}: missing file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: empty file")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from e


def _read_json(path: str) -> object:
    if not os.path.isfile(path):
        raise DataError(f"{path}: missing file")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable or malformed JSON ({e})") from e


def _parse_metadata(raw: object, path: str, count_puzzles: Callable[[], int]) -> Metadata:
    """Type-checks dataset.json; `count_puzzles` derives total_puzzles when it is absent."""
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    required = [f.name for f in dataclasses.fields(Metadata) if f.name != "total_puzzles"]
    missing = [k for k in required if k not in raw]
    if missing:
        raise DataError(f"{path}: missing keys {missing}")

    def integer(key: str, optional: bool = False) -> int | None:
        value = raw[key]
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{path}: '{key}' must be an integer, got {value!r}")
        return value

    mean = raw["mean_puzzle_examples"]
    if isinstance(mean, bool) or not isinstance(mean, int | float):
        raise DataError(f"{path}: 'mean_puzzle_examples' must be a number, got {mean!r}")
    sets = raw["sets"]
    if not isinstance(sets, list) or not sets or not all(isinstance(s, str) for s in sets):
        raise DataError(f"{path}: 'sets' must be a non-empty list of strings, got {sets!r}")
    # HRM-built data has no total_puzzles (TRM added it); derive it from the puzzle index.
    total_puzzles = integer("total_puzzles") if "total_puzzles" in raw else count_puzzles()
    return Metadata(
        seq_len=integer("seq_len"),
        vocab_size=integer("vocab_size"),
        pad_id=integer("pad_id"),
        ignore_label_id=integer("ignore_label_id", optional=True),
        blank_identifier_id=integer("blank_identifier_id"),
        num_puzzle_identifiers=integer("num_puzzle_identifiers"),
        total_groups=integer("total_groups"),
        mean_puzzle_examples=float(mean),
        total_puzzles=total_puzzles,
        sets=tuple(sets),
    )


def load_split(
    root: str | os.PathLike, split: str, set_name: str = "all", *, mmap: bool = True
) -> PuzzleData:
    """Loads and validates one set of one split of an official-format dataset.

    Args:
      root: the dataset folder (holding `identifiers.json` and one folder per split).
      split: the split folder name, e.g. "train" or "test".
      set_name: the set inside the split; "all" in every official builder.
      mmap: memory-map inputs and labels (official `puzzle_dataset.py` does); the small index
        arrays are always read into memory, as there.

    Returns:
      The validated `PuzzleData`.

    Raises:
      DataError: naming the missing, unreadable or inconsistent file.
    """
    split_dir = os.path.join(os.fspath(root), split)
    meta_path = os.path.join(split_dir, METADATA_FILE)
    raw = _read_json(meta_path)
    # Report the first missing array before reading any of them.
    for field in FIELDS:
        path = _array_path(split_dir, set_name, field)
        if not os.path.isfile(path):
            raise DataError(f"{path}: missing file")
    arrays = {
        field: _load_array(
            _array_path(split_dir, set_name, field), mmap and field in ("inputs", "labels")
        )
        for field in FIELDS
    }

    def count_puzzles() -> int:
        if isinstance(raw, dict) and isinstance(raw.get("sets"), list) and len(raw["sets"]) > 1:
            return sum(
                _load_array(_array_path(split_dir, s, "puzzle_indices"), False).shape[0] - 1
                for s in raw["sets"]
            )
        return int(arrays["puzzle_indices"].shape[0]) - 1

    metadata = _parse_metadata(raw, meta_path, count_puzzles)
    data = PuzzleData(metadata=metadata, **arrays)
    validate(data, split_dir, set_name=set_name)
    return data


def load_identifiers(root: str | os.PathLike) -> list[str]:
    """Reads `<root>/identifiers.json`: puzzle identifier index -> name (0 is "<blank>")."""
    path = os.path.join(os.fspath(root), IDENTIFIERS_FILE)
    names = _read_json(path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected a JSON list of strings")
    return names


def _check_offsets(offsets: np.ndarray, end: int, what: str, path: str) -> None:
    """CSR offsets: 1-D, start at 0, non-decreasing, end at the number of `what`."""
    if offsets.ndim != 1 or offsets.shape[0] == 0:
        raise DataError(f"{path}: expected 1-D CSR offsets, got shape {offsets.shape}")
    if offsets[0] != 0:
        raise DataError(f"{path}: offsets must start at 0, got {offsets[0]}")
    decreasing = np.flatnonzero(np.diff(offsets.astype(np.int64)) < 0)
    if decreasing.size:
        i = int(decreasing[0])
        raise DataError(
            f"{path}: offsets must be non-decreasing, got {offsets[i]} then {offsets[i + 1]} "
            f"at positions {i}, {i + 1}"
        )
    if offsets[-1] != end:
        raise DataError(
            f"{path}: offsets must end at the number of {what} ({end}), got {offsets[-1]} "
            f"(length {offsets.shape[0]})"
        )


def _check_range(tokens: np.ndarray, high: int, allowed: int | None, path: str, what: str) -> None:
    """Every entry in [0, high), apart from `allowed`; chunked over rows, vectorised inside."""
    if tokens.size == 0:
        return
    rows = max(1, _CHUNK_ELEMENTS // max(1, tokens.size // tokens.shape[0]))
    for start in range(0, tokens.shape[0], rows):
        chunk = np.asarray(tokens[start : start + rows])
        if chunk.min() >= 0 and chunk.max() < high:
            continue  # fast path: one min and one max per chunk
        chunk = chunk.astype(np.int64)
        bad = (chunk < 0) | (chunk >= high)
        if allowed is not None:
            bad &= chunk != allowed
        if bad.any():
            index = np.unravel_index(int(np.flatnonzero(bad)[0]), chunk.shape)
            where = (start + int(index[0]),) + tuple(int(i) for i in index[1:])
            extra = f" (or the ignore label {allowed})" if allowed is not None else ""
            raise DataError(
                f"{path}: {what} must lie in [0, {high}){extra}, found {chunk[index]} at {where}"
            )


def validate(data: PuzzleData, source: str | os.PathLike, *, set_name: str = "all") -> None:
    """Checks that the arrays are consistent with each other and with the metadata.

    Args:
      data: the split to check.
      source: the split folder the data comes from (or goes to); messages name
        `<source>/<set>__<field>.npy` or `<source>/dataset.json`. For data held only in memory,
        any label.
      set_name: the set name used in the file names.

    Raises:
      DataError: the first problem found, naming the file.
    """
    source = os.fspath(source)
    meta_path = os.path.join(source, METADATA_FILE)
    path = {field: _array_path(source, set_name, field) for field in FIELDS}
    m = data.metadata

    if m.seq_len < 1 or m.vocab_size < 1 or m.num_puzzle_identifiers < 1:
        raise DataError(
            f"{meta_path}: seq_len, vocab_size and num_puzzle_identifiers must be positive, got "
            f"{m.seq_len}, {m.vocab_size}, {m.num_puzzle_identifiers}"
        )
    if not 0 <= m.pad_id < m.vocab_size:
        raise DataError(f"{meta_path}: pad_id {m.pad_id} outside [0, vocab_size={m.vocab_size})")
    if not 0 <= m.blank_identifier_id < m.num_puzzle_identifiers:
        raise DataError(
            f"{meta_path}: blank_identifier_id {m.blank_identifier_id} outside "
            f"[0, num_puzzle_identifiers={m.num_puzzle_identifiers})"
        )
    if set_name not in m.sets:
        raise DataError(f"{meta_path}: set '{set_name}' not listed in sets {list(m.sets)}")
    for field in FIELDS:
        array = getattr(data, field)
        if not np.issubdtype(array.dtype, np.integer):
            raise DataError(f"{path[field]}: expected an integer dtype, got {array.dtype}")

    inputs, labels = data.inputs, data.labels
    if inputs.ndim != 2 or inputs.shape[1] != m.seq_len:
        raise DataError(
            f"{path['inputs']}: expected 2-D [examples, seq_len={m.seq_len}], "
            f"got shape {inputs.shape}"
        )
    if labels.shape != inputs.shape:
        raise DataError(
            f"{path['labels']}: shape {labels.shape} differs from inputs shape {inputs.shape}"
        )
    if inputs.shape[0] == 0:
        raise DataError(f"{path['inputs']}: empty dataset (zero examples)")

    _check_offsets(data.puzzle_indices, data.num_examples, "examples", path["puzzle_indices"])
    ids = data.puzzle_identifiers
    if ids.ndim != 1 or ids.shape[0] != data.num_puzzles:
        raise DataError(
            f"{path['puzzle_identifiers']}: expected shape ({data.num_puzzles},) (one id per "
            f"puzzle in puzzle_indices), got {ids.shape}"
        )
    _check_offsets(data.group_indices, data.num_puzzles, "puzzles", path["group_indices"])
    _check_range(ids, m.num_puzzle_identifiers, None, path["puzzle_identifiers"], "identifiers")
    _check_range(inputs, m.vocab_size, None, path["inputs"], "tokens")
    _check_range(labels, m.vocab_size, m.ignore_label_id, path["labels"], "labels")

    # The totals drive the official step count (`total_steps`); with several sets they cover
    # all of them, so they can only be checked against a single-set split.
    if len(m.sets) == 1:
        if m.total_groups != data.num_groups or m.total_puzzles != data.num_puzzles:
            raise DataError(
                f"{meta_path}: total_groups={m.total_groups}, total_puzzles={m.total_puzzles} "
                f"but the arrays hold {data.num_groups} groups and {data.num_puzzles} puzzles"
            )


def _save_atomic(path: str, write: Callable[[object], None], mode: str) -> None:
    # Write beside the target and rename, so that a split read through a memory map can be
    # rewritten in place and an interrupted write never leaves a truncated file.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, mode) as f:
        write(f)
    os.replace(tmp, path)


def write_split(
    root: str | os.PathLike,
    split: str,
    data: PuzzleData,
    *,
    set_name: str = "all",
    identifiers: list[str] | None = None,
) -> None:
    """Writes one split in the official layout, after validating it.

    Args:
      root: the dataset folder; `<root>/<split>/` is created if needed.
      split: the split folder name.
      data: the split; written with its own dtypes and metadata.
      set_name: the set name in the array file names.
      identifiers: if given, written to `<root>/identifiers.json` (index -> name, index 0 is
        "<blank>", length num_puzzle_identifiers); if None, that file is left as it is.

    Raises:
      DataError: if the data is inconsistent.
      ValueError: if `identifiers` does not match the metadata.
    """
    root = os.fspath(root)
    split_dir = os.path.join(root, split)
    validate(data, split_dir, set_name=set_name)
    if identifiers is not None:
        if len(identifiers) != data.metadata.num_puzzle_identifiers or not all(
            isinstance(n, str) for n in identifiers
        ):
            raise ValueError(
                f"identifiers must be {data.metadata.num_puzzle_identifiers} strings "
                f"(num_puzzle_identifiers), got {len(identifiers)}"
            )
    os.makedirs(split_dir, exist_ok=True)
    for field in FIELDS:
        array = np.asarray(getattr(data, field))
        _save_atomic(
            _array_path(split_dir, set_name, field), lambda f, a=array: np.save(f, a), "wb"
        )
    record = dataclasses.asdict(data.metadata)
    record["sets"] = list(record["sets"])
    _save_atomic(os.path.join(split_dir, METADATA_FILE), lambda f: json.dump(record, f), "w")
    if identifiers is not None:
        names = list(identifiers)
        _save_atomic(os.path.join(root, IDENTIFIERS_FILE), lambda f: json.dump(names, f), "w")


def from_examples(
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    vocab_size: int,
    pad_id: int = 0,
    ignore_label_id: int | None = 0,
    puzzle_identifiers: np.ndarray | None = None,
    num_puzzle_identifiers: int = 1,
    group_ids: np.ndarray | None = None,
) -> PuzzleData:
    """Builds a split where every example is its own puzzle and its own group.

    This is the shape of the official Sudoku and Maze builders without stored augmentation:
    puzzle_indices = group_indices = arange(N + 1), identifiers all 0 (the blank id) unless given,
    mean_puzzle_examples = 1. With `group_ids`, consecutive examples sharing an id form one group
    (the sampler draws one of them per group and epoch), e.g. the valid answers of one puzzle.

    Args:
      inputs: [N, seq_len] integer tokens.
      labels: [N, seq_len] integer targets.
      vocab_size: number of token values.
      pad_id: the padding token.
      ignore_label_id: the label value excluded from the loss (official builders: 0 = PAD).
      puzzle_identifiers: [N] ids; zeros if None.
      num_puzzle_identifiers: size of the identifier space.
      group_ids: [N] the group of each example: 0, 1, 2, ... non-decreasing without gaps;
        None: every example its own group.

    Returns:
      The validated `PuzzleData` (arrays keep the dtypes given).
    """
    inputs = np.asarray(inputs)
    labels = np.asarray(labels)
    if inputs.ndim != 2:
        raise DataError(
            f"from_examples/all__inputs.npy: expected 2-D [examples, seq_len], got shape "
            f"{inputs.shape}"
        )
    n = int(inputs.shape[0])
    if puzzle_identifiers is None:
        puzzle_identifiers = np.zeros(n, dtype=np.int32)
    offsets = np.arange(n + 1, dtype=np.int32)
    groups = offsets.copy()
    if group_ids is not None:
        ids = np.asarray(group_ids).reshape(-1)
        steps = np.diff(ids)
        if ids.shape[0] != n or (n and (ids[0] != 0 or np.any((steps != 0) & (steps != 1)))):
            raise DataError(
                "from_examples: group_ids must hold one id per example, 0, 1, 2, ... "
                "non-decreasing without gaps"
            )
        starts = np.flatnonzero(np.diff(ids, prepend=-1) != 0)
        groups = np.append(starts, n).astype(np.int32)
    metadata = Metadata(
        seq_len=int(inputs.shape[1]),
        vocab_size=vocab_size,
        pad_id=pad_id,
        ignore_label_id=ignore_label_id,
        blank_identifier_id=0,
        num_puzzle_identifiers=num_puzzle_identifiers,
        total_groups=int(groups.shape[0]) - 1,
        mean_puzzle_examples=1.0,
        total_puzzles=n,
        sets=("all",),
    )
    data = PuzzleData(
        metadata=metadata,
        inputs=inputs,
        labels=labels,
        puzzle_identifiers=np.asarray(puzzle_identifiers),
        puzzle_indices=offsets,
        group_indices=groups,
    )
    validate(data, "from_examples")
    return data
