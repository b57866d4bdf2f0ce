"""Reading the sources of the CSV benchmarks (Sudoku-Extreme, Maze-Hard) for their builders.

A benchmark's splits come either as the official CSVs (`<split>.csv`: `source,question,answer,
rating`) or as an official-format numpy folder (`<split>/dataset.json`, `<split>/all__*.npy`);
`resolve_source` finds them, `Source.read` reads one split as `Examples`, checked against the
benchmark's `Encoding`. Every problem raises `DataError` naming the file (and the row).

The builders import this module only: it re-exports what they store (`puzzle_examples`).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np

from rrm_jax.data import official
from rrm_jax.data.official import DataError
from rrm_jax.data.puzzle_examples import (
    FILE_FORMAT,
    Encoding,
    Examples,
    features,
    puzzle_metadata,
    subsample,
)

SOURCE_FORMATS = ("auto", "csv", "official")
# CSV rows are tokenised this many at a time (one join, one table look-up per chunk).
_CSV_CHUNK = 1 << 16

__all__ = [
    "FILE_FORMAT",
    "SOURCE_FORMATS",
    "Encoding",
    "Examples",
    "Source",
    "check_builder_args",
    "features",
    "official_split_missing",
    "puzzle_metadata",
    "read_csv",
    "read_official",
    "resolve_source",
    "subsample",
]


def _parse_rating(text: str, path: str, where: str) -> int:
    text = text.strip()
    if not text:
        return -1
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise DataError(f"{path}: {where}: rating {text!r} is not an integer")
    return int(value)


def read_csv(path: str | os.PathLike, encoding: Encoding) -> Examples:
    """Reads one official CSV split (`source,question,answer,rating`, header first).

    Every problem raises `DataError` naming the file, the line and the data row (0-based, the
    row's `index`): a missing or empty file, a missing column, a row with the wrong number of
    fields, a question or answer of the wrong length or with a character outside the
    benchmark's set, a non-integer rating.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: missing file")
    q_table = encoding.table(encoding.question_chars)
    a_table = encoding.table(encoding.answer_chars)
    n_len = encoding.seq_len
    inputs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ratings: list[int] = []
    sources: list[str] = []
    interned: dict[str, str] = {}
    questions: list[str] = []
    answers: list[str] = []
    lines: list[int] = []
    first_row = 0

    def flush() -> None:
        nonlocal first_row
        for strings, table, chars, what, out in (
            (questions, q_table, encoding.question_chars, "question", inputs),
            (answers, a_table, encoding.answer_chars, "answer", labels),
        ):
            joined = "".join(strings)
            if not joined.isascii():
                r = next(i for i, s in enumerate(strings) if not s.isascii())
                c = next(j for j, ch in enumerate(strings[r]) if not ch.isascii())
                raise DataError(
                    f"{path}: line {lines[r]} (row {first_row + r}): {what} character "
                    f"{strings[r][c]!r} at position {c} is not one of {chars!r}"
                )
            raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
            tokens = table[raw]
            if tokens.min() < 0:
                flat = int(np.flatnonzero(tokens < 0)[0])
                r, c = divmod(flat, n_len)
                raise DataError(
                    f"{path}: line {lines[r]} (row {first_row + r}): {what} character "
                    f"{chr(raw[flat])!r} at position {c} is not one of {chars!r}"
                )
            out.append(tokens.astype(np.uint8).reshape(len(strings), n_len))
        first_row += len(questions)
        questions.clear()
        answers.clear()
        lines.clear()

    try:
        f = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise DataError(f"{path}: unreadable ({e})") from e
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file (expected the header line)")
            columns = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
            missing = [c for c in ("question", "answer") if c not in columns]
            if missing:
                raise DataError(
                    f"{path}: line 1: header {header} lacks the column(s) {missing} "
                    "(expected source,question,answer,rating)"
                )
            iq, ia = columns.index("question"), columns.index("answer")
            i_src = columns.index("source") if "source" in columns else None
            i_rating = columns.index("rating") if "rating" in columns else None
            row_number = 0
            for row in reader:
                line = reader.line_num
                where = f"line {line} (row {row_number})"
                if len(row) != len(columns):
                    raise DataError(
                        f"{path}: {where}: {len(row)} fields, expected {len(columns)} "
                        f"({','.join(columns)})"
                    )
                q, a = row[iq], row[ia]
                for what, s in (("question", q), ("answer", a)):
                    if len(s) != n_len:
                        raise DataError(
                            f"{path}: {where}: {what} has {len(s)} characters, expected {n_len}"
                        )
                questions.append(q)
                answers.append(a)
                lines.append(line)
                ratings.append(
                    -1 if i_rating is None else _parse_rating(row[i_rating], path, where)
                )
                src = "" if i_src is None else row[i_src]
                sources.append(interned.setdefault(src, src))
                row_number += 1
                if len(questions) == _CSV_CHUNK:
                    flush()
        except csv.Error as e:
            raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from e
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e})") from e
    if questions:
        flush()
    if not inputs:
        raise DataError(f"{path}: no data rows after the header")
    n = len(ratings)
    return Examples(
        np.concatenate(inputs),
        np.concatenate(labels),
        np.asarray(ratings, dtype=np.int32),
        np.arange(n, dtype=np.int64),
        sources,
    )


def _check_tokens(tokens: np.ndarray, allowed: np.ndarray, path: str, what: str) -> None:
    ok = np.zeros(256, dtype=bool)
    ok[allowed] = True
    bad = ~ok[np.asarray(tokens).astype(np.intp)]
    if bad.any():
        r, c = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
        raise DataError(
            f"{path}: row {r}: {what} token {int(tokens[r, c])} at position {c} is not one of "
            f"{allowed.tolist()}"
        )


def official_split_missing(folder: str | os.PathLike, split: str) -> str | None:
    """The first missing file of `<folder>/<split>/` in the official layout, or None."""
    split_dir = os.path.join(os.fspath(folder), split)
    for path in [os.path.join(split_dir, official.METADATA_FILE)] + [
        os.path.join(split_dir, f"all__{field}.npy") for field in official.FIELDS
    ]:
        if not os.path.isfile(path):
            return path
    return None


def read_official(folder: str | os.PathLike, split: str, encoding: Encoding) -> Examples:
    """Reads the original puzzles of one split of an official-format numpy folder.

    The official builders put each original puzzle first in its group, followed by its stored
    augmentations (if any); this keeps the first puzzle of every group, whose single example is
    the original. The rating and source are not stored there: -1 and "". `index` is the group
    number, i.e. the row among the originals.
    """
    split_dir = os.path.join(os.fspath(folder), split)
    data = official.load_split(folder, split, mmap=False)
    m = data.metadata
    meta_path = os.path.join(split_dir, official.METADATA_FILE)
    if m.seq_len != encoding.seq_len or m.vocab_size != encoding.vocab_size:
        raise DataError(
            f"{meta_path}: seq_len={m.seq_len}, vocab_size={m.vocab_size}; {encoding.name} has "
            f"seq_len={encoding.seq_len}, vocab_size={encoding.vocab_size}"
        )
    sizes = np.diff(data.puzzle_indices)
    originals = data.group_indices[:-1].astype(np.int64)
    if np.any(sizes[originals] != 1):
        g = int(np.flatnonzero(sizes[originals] != 1)[0])
        path = os.path.join(split_dir, "all__puzzle_indices.npy")
        raise DataError(
            f"{path}: puzzle {originals[g]} (first of group {g}) holds {sizes[originals[g]]} "
            f"examples; {encoding.name} has one per puzzle"
        )
    rows = data.puzzle_indices[originals].astype(np.int64)
    inputs = np.asarray(data.inputs)[rows]
    labels = np.asarray(data.labels)[rows]
    _check_tokens(
        inputs,
        encoding.tokens(encoding.question_chars),
        os.path.join(split_dir, "all__inputs.npy"),
        "input",
    )
    _check_tokens(
        labels,
        encoding.tokens(encoding.answer_chars),
        os.path.join(split_dir, "all__labels.npy"),
        "label",
    )
    n = int(rows.shape[0])
    return Examples(
        inputs.astype(np.uint8),
        labels.astype(np.uint8),
        np.full(n, -1, dtype=np.int32),
        np.arange(n, dtype=np.int64),
        [""] * n,
    )


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a CSV benchmark's splits come from: `kind` "csv" (one file per split) or
    "official" (`paths` are the numpy folder for every split)."""

    kind: str
    paths: dict[str, str]

    def read(self, split: str, encoding: Encoding) -> Examples:
        if self.kind == "csv":
            return read_csv(self.paths[split], encoding)
        return read_official(self.paths[split], split, encoding)


def check_builder_args(source_format: str, splits: Sequence[str] | None, known: Sequence[str]):
    """Validates the `source_format` and `splits` builder arguments; returns the split tuple."""
    if source_format not in SOURCE_FORMATS:
        raise ValueError(f"source_format must be one of {SOURCE_FORMATS}, got {source_format!r}")
    if splits is None:
        return tuple(known)
    if isinstance(splits, str):
        splits = [s for s in splits.split(",") if s]
    splits = tuple(splits)
    unknown = [s for s in splits if s not in known]
    if not splits or unknown or len(set(splits)) != len(splits):
        raise ValueError(f"splits must be distinct names among {tuple(known)}, got {splits}")
    return splits


def resolve_source(
    name: str,
    dl_manager,
    *,
    source_dir: str | os.PathLike | None,
    source_format: str,
    splits: Sequence[str],
    urls: Mapping[str, str],
) -> Source:
    """Finds the source of every split, in order: `source_dir`, the TFDS manual folder, the URLs.

    A folder holds either the CSVs (`<split>.csv`) or the official numpy layout
    (`<split>/dataset.json`, `<split>/all__*.npy`); `source_format="auto"` tells them apart. Every
    split asked for must be there, else `DataError` names the missing file (a folder that lacks
    a split can be built with `splits=` naming the ones it has).
    """
    folder = None if source_dir is None else os.fspath(source_dir)
    if folder is None:
        try:
            folder = os.fspath(dl_manager.manual_dir)
        except (AssertionError, ValueError):
            folder = None  # no manual folder given, or it is empty
    if folder is None:
        if source_format == "official":
            raise DataError(f"{name}: source_format='official' needs source_dir (a numpy folder)")
        # Last resort: the official CSVs (needs a network).
        downloaded = dl_manager.download({split: urls[split] for split in splits})
        return Source("csv", {split: os.fspath(downloaded[split]) for split in splits})
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: source folder does not exist")
    kind = source_format
    if kind == "auto":
        if any(os.path.isfile(os.path.join(folder, f"{s}.csv")) for s in urls):
            kind = "csv"
        elif any(os.path.isdir(os.path.join(folder, s)) for s in urls):
            kind = "official"
        else:
            raise DataError(
                f"{folder}: holds neither {name} CSVs ({', '.join(f'{s}.csv' for s in urls)}) "
                f"nor official numpy split folders ({', '.join(f'{s}/' for s in urls)})"
            )
    hint = f"; to build the splits this folder has, pass splits=(...) (asked: {tuple(splits)})"
    if kind == "csv":
        paths = {split: os.path.join(folder, f"{split}.csv") for split in splits}
        for split, path in paths.items():
            if not os.path.isfile(path):
                raise DataError(f"{path}: missing file (the {split!r} split of {name}){hint}")
        return Source("csv", paths)
    for split in splits:
        missing = official_split_missing(folder, split)
        if missing is not None:
            raise DataError(
                f"{missing}: missing file (the {split!r} split of this official {name} folder)"
                f"{hint}"
            )
    return Source("official", {split: folder for split in splits})
