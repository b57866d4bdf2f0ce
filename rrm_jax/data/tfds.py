"""TFDS builders of the repository's `datasets/` folder: load them, prepare them, read splits.

    python -m rrm_jax.data.tfds --name=maze_hard --config=default --data_dir=DIR [--source_dir=SRC]

The builders (`datasets/<name>/<name>_dataset_builder.py`, one `Builder` class each) store
original puzzles only, one example per puzzle, with an `index` feature (the row in the source)
that fixes their order. They are written as `array_record` files and read back through
`tfds.data_source`: that is the one TFDS path that needs no TensorFlow (`as_dataset` and the
`tfrecord` format do).

The repository's `datasets` folder is not a Python package (the name belongs to the Hugging Face
library), so a builder is loaded from its file path (`load_builder`), which also registers it with
TFDS under its name. This needs the source tree: an editable install or a checkout.

`load_split` returns the official-format `PuzzleData` that the trainer consumes: every example its
own puzzle and group, identifiers 0, `ignore_label_id` 0, as the official Sudoku and Maze builders.

The shared reading code of the CSV and official-numpy sources (`Encoding`, `Examples`,
`read_csv`, `read_official`, `resolve_source`) lives here too, so that each builder file only
states its benchmark's format.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gc
import importlib.util
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import rrm_jax
from rrm_jax.data import official
from rrm_jax.data.official import DataError, PuzzleData

FILE_FORMAT = "array_record"
NAMES = ("sudoku_extreme", "maze_hard", "sudoku_generated")
SOURCE_FORMATS = ("auto", "csv", "official")
# CSV rows are tokenised this many at a time (one join, one table look-up per chunk).
_CSV_CHUNK = 1 << 16
# Examples are read back through `__getitems__` this many at a time.
_READ_CHUNK = 1 << 15


# ---------------------------------------------------------------------------------------------
# Locating and loading the builders.
# ---------------------------------------------------------------------------------------------


def datasets_dir() -> Path:
    """The repository's `datasets/` folder (beside the `rrm_jax` package of a source tree)."""
    root = Path(rrm_jax.__file__).resolve().parents[1] / "datasets"
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: no dataset builders folder here. The TFDS builders live in the repository's "
            "datasets/ folder, which a non-editable install does not ship: install with "
            "`pip install -e .` from a checkout, or run from the checkout."
        )
    return root


def builder_path(name: str) -> Path:
    """`datasets/<name>/<name>_dataset_builder.py`, checked to exist."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"invalid builder name {name!r}")
    path = datasets_dir() / name / f"{name}_dataset_builder.py"
    if not path.is_file():
        known = sorted(p.parent.name for p in datasets_dir().glob("*/*_dataset_builder.py"))
        raise FileNotFoundError(f"{path}: no such builder file (builders here: {known})")
    return path


def load_module(name: str) -> ModuleType:
    """Imports `datasets/<name>/<name>_dataset_builder.py` by file path (once per process).

    The module is registered in `sys.modules` as `<name>_dataset_builder`; importing it registers
    its `Builder` with TFDS under `name`, so `tfds.data_source(name, ...)` finds it.
    """
    path = builder_path(name)
    module_name = f"{name}_dataset_builder"
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "")).resolve() != path.resolve():
            raise ImportError(
                f"{path}: a different module named {module_name} is already imported "
                f"(from {getattr(loaded, '__file__', '?')})"
            )
        return loaded
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
    return module


def load_builder(name: str) -> type:
    """The `Builder` class of `datasets/<name>/`, loaded by file path and registered with TFDS."""
    builder_cls = getattr(load_module(name), "Builder", None)
    if builder_cls is None:
        raise ImportError(f"{builder_path(name)}: defines no `Builder` class")
    return builder_cls


def builder(name: str, config: Any = None, data_dir: str | os.PathLike | None = None, **kwargs):
    """An instance of the `name` builder (config name or `BuilderConfig`; kwargs to the builder)."""
    cls = load_builder(name)
    if data_dir is not None:
        kwargs["data_dir"] = os.fspath(data_dir)
    return cls(config=config, **kwargs)


def prepare(
    name: str,
    config: Any = None,
    data_dir: str | os.PathLike | None = None,
    *,
    manual_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    **builder_kwargs: Any,
):
    """Builds one config of a builder into `data_dir` as `array_record` files.

    Args:
      name: builder name (`datasets/<name>/`): "sudoku_extreme", "maze_hard", "sudoku_generated".
      config: config name (e.g. "1k") or a `BuilderConfig`; None: the builder's default.
      data_dir: TFDS data folder; the dataset goes to `<data_dir>/<name>/<config>/<version>/`.
      manual_dir: TFDS manual folder (a source folder the builders look in when `source_dir` is
        not given).
      overwrite: rebuild even if the dataset is already there (otherwise an existing one is
        reused as it is, whatever the source).
      **builder_kwargs: builder arguments, e.g. `source_dir=`, `source_format=`, `splits=`.

    Returns:
      The prepared builder.
    """
    import tensorflow_datasets as tfds

    b = builder(name, config, data_dir, **builder_kwargs)
    mode = tfds.download.GenerateMode
    download_config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else os.fspath(manual_dir),
        download_mode=mode.REUSE_CACHE_IF_EXISTS if overwrite else mode.REUSE_DATASET_IF_EXISTS,
    )
    # The builders here default to array_record; a builder restored from an existing dataset
    # refuses a file_format argument, so pass one only where it differs.
    fmt = b.info.file_format
    same = fmt is not None and getattr(fmt, "value", fmt) == FILE_FORMAT
    b.download_and_prepare(
        file_format=None if same else FILE_FORMAT, download_config=download_config
    )
    return b


def data_source(
    name: str,
    config: Any,
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    raw: bool = False,
):
    """`tfds.data_source` of a prepared split (never downloads nor builds; DataError if absent).

    Args:
      name: builder name.
      config: config name, None (the default config) or a custom `BuilderConfig` (read through
        the builder's `as_data_source`, which `tfds.data_source` calls for named configs).
      split: a split name, e.g. "train".
      data_dir: the TFDS data folder it was prepared in.
      raw: return the serialised records (bytes) instead of decoded examples.
    """
    import tensorflow_datasets as tfds

    b = builder(name, config, data_dir)
    full = f"{name}/{b.builder_config.name}" if b.builder_config else name
    if not b.is_prepared():
        raise DataError(
            f"{b.data_dir}: no prepared dataset {full} here; build it first, e.g. "
            f"`python -m rrm_jax.data.tfds --name={name} --config={b.builder_config.name} "
            "--data_dir=...`"
        )
    if split not in b.info.splits:
        raise DataError(
            f"{b.data_dir}: dataset {full} has no split {split!r} (it has {sorted(b.info.splits)})"
        )
    method = tfds.decode.DeserializeMethod
    deserialize = method.RAW_BYTES if raw else method.DESERIALIZE_AND_DECODE
    if config is not None and not isinstance(config, str):
        return b.as_data_source(split=split, deserialize_method=deserialize)
    return tfds.data_source(
        full,
        split=split,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        download=False,
        deserialize_method=deserialize,
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int64_rows(lists: list, length: int) -> np.ndarray:
    """`Int64List` protos, each of `length` values, as an int64 array [rows, length].

    Fast path: small non-negative values (< 128) are one byte each in the packed encoding, so when
    every serialised list is exactly header + `length` bytes none of which has the continuation
    bit, the payloads are the values themselves; otherwise the lists are converted value by value.
    """
    header = b"\n" + _varint(length)  # field 1 (value), wire type 2 (packed)
    blobs = [values.SerializeToString() for values in lists]
    size = len(header) + length
    if blobs and all(len(b) == size and b.startswith(header) for b in blobs):
        payload = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), size)
        payload = payload[:, len(header) :]
        if payload.max() < 0x80:  # no continuation bit: one byte per value, exactly `length`
            return payload.astype(np.int64)
    flat = np.fromiter(
        (v for values in lists for v in values.value), dtype=np.int64, count=len(lists) * length
    )
    return flat.reshape(len(lists), length)


def read_examples(name: str, config: Any, split: str, data_dir) -> dict[str, np.ndarray]:
    """Reads `inputs`, `labels` and `index` of every example of a prepared split, stored order."""
    return _read(name, config, split, data_dir)[0]


def _read(name: str, config: Any, split: str, data_dir) -> tuple[dict, Any]:
    """Reads `inputs`, `labels` and `index` of every example of a prepared split, stored order.

    Reads the raw records through `tfds.data_source` in chunks (`__getitems__`) and parses the
    `tf.train.Example` protos directly, which is two to three times faster than TFDS's per-example
    decoding (423k Sudoku rows in under 10 s on one core). The arrays keep the feature dtypes.
    """
    from tensorflow_datasets.proto import tf_example_pb2

    decoded = data_source(name, config, split, data_dir)
    info = decoded.dataset_info
    raw = data_source(name, config, split, data_dir, raw=True)
    specs = info.features
    seq_len = int(specs["inputs"].shape[0])
    where = f"{info.data_dir} ({split})"
    dtypes = {key: np.dtype(specs[key].np_dtype) for key in ("inputs", "labels")}

    def narrow(rows: np.ndarray, key: str) -> np.ndarray:
        # Per chunk, so the int64 intermediates never exceed one chunk.
        dtype = dtypes[key]
        if rows.size and (rows.min() < np.iinfo(dtype).min or rows.max() > np.iinfo(dtype).max):
            raise DataError(f"{where}: {key} values outside {dtype}")
        return rows.astype(dtype)

    n = len(raw)
    out: dict[str, list[np.ndarray]] = {"inputs": [], "labels": [], "index": []}
    # Millions of short-lived proto objects: the cyclic collector only costs time here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for start in range(0, n, _READ_CHUNK):
            records = raw.__getitems__(list(range(start, min(n, start + _READ_CHUNK))))
            feats = [tf_example_pb2.Example.FromString(r).features.feature for r in records]
            for key in ("inputs", "labels"):
                rows = _int64_rows([f[key].int64_list for f in feats], seq_len)
                out[key].append(narrow(rows, key))
            out["index"].append(
                np.array([f["index"].int64_list.value[0] for f in feats], dtype=np.int64)
            )
            del records, feats
    finally:
        if collecting:
            gc.enable()
    arrays = {
        "inputs": np.zeros((0, seq_len), dtypes["inputs"]),
        "labels": np.zeros((0, seq_len), dtypes["labels"]),
        "index": np.zeros((0,), np.int64),
    }
    if n:
        arrays = {key: np.concatenate(chunks) for key, chunks in out.items()}
    out = arrays
    # The decoded path must agree with the fast one: check the first and last examples.
    for i in {0, n - 1} if n else ():
        item = decoded[i]
        if not (
            np.array_equal(np.asarray(item["inputs"]), out["inputs"][i])
            and np.array_equal(np.asarray(item["labels"]), out["labels"][i])
            and int(item["index"]) == int(out["index"][i])
        ):
            raise DataError(f"{where}: example {i} parses differently from TFDS's decoding")
    return out, info


def load_split(
    name: str,
    config: Any,
    split: str,
    data_dir: str | os.PathLike | None,
) -> PuzzleData:
    """Reads one prepared split as an official-format `PuzzleData`, in `index` order.

    Every example is its own puzzle and group, identifiers 0, `num_puzzle_identifiers` 1,
    `pad_id` 0 and `ignore_label_id` 0, as the official Sudoku and Maze builders write them; the
    vocabulary size is the one the builder recorded in the dataset's metadata.

    Raises:
      DataError: the dataset or split is absent, or its content is inconsistent.
    """
    arrays, info = _read(name, config, split, data_dir)
    where = f"{info.data_dir} ({split})"
    meta = dict(info.metadata or {})
    if "vocab_size" not in meta:
        raise DataError(f"{where}: the dataset's metadata.json records no vocab_size")
    order = np.argsort(arrays["index"], kind="stable")
    index = arrays["index"][order]
    if index.size and np.any(index[1:] == index[:-1]):
        raise DataError(f"{where}: duplicate `index` values")
    return official.from_examples(
        arrays["inputs"][order],
        arrays["labels"][order],
        vocab_size=int(meta["vocab_size"]),
        pad_id=int(meta.get("pad_id", 0)),
        ignore_label_id=meta.get("ignore_label_id", 0),
    )


# ---------------------------------------------------------------------------------------------
# Shared source reading for the CSV benchmarks (Sudoku-Extreme, Maze-Hard).
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How one benchmark's 'question'/'answer' strings map to tokens.

    Attributes:
      name: the benchmark, for messages.
      seq_len: characters per string = tokens per example.
      vocab_size: token vocabulary (PAD 0 included).
      token_of: character -> token (several characters may share a token).
      question_chars: characters allowed in a question.
      answer_chars: characters allowed in an answer.
      char_of: token -> the character written back by `to_strings` (the canonical one).
    """

    name: str
    seq_len: int
    vocab_size: int
    token_of: Mapping[str, int]
    question_chars: str
    answer_chars: str
    char_of: Mapping[int, str]

    def table(self, chars: str) -> np.ndarray:
        """Byte -> token look-up, -1 for bytes outside `chars`."""
        table = np.full(256, -1, dtype=np.int16)
        for c in chars:
            table[ord(c)] = self.token_of[c]
        return table

    def tokens(self, chars: str) -> np.ndarray:
        """The sorted token values the characters of `chars` map to."""
        return np.unique([self.token_of[c] for c in chars])

    def to_strings(self, tokens: np.ndarray) -> list[str]:
        """Token rows [N, seq_len] back to strings (vectorised; raises on unknown tokens)."""
        tokens = np.asarray(tokens)
        lut = np.zeros(256, dtype=np.uint8)
        known = np.zeros(256, dtype=bool)
        for t, c in self.char_of.items():
            lut[t] = ord(c)
            known[t] = True
        if tokens.size and (tokens.min() < 0 or tokens.max() > 255 or not known[tokens].all()):
            bad = sorted(set(np.unique(tokens).tolist()) - set(self.char_of))
            raise ValueError(f"{self.name}: tokens {bad} have no character")
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(
                f"{self.name}: expected [N, {self.seq_len}] tokens, got {tokens.shape}"
            )
        flat = lut[tokens.astype(np.intp)].tobytes().decode("ascii")
        n = self.seq_len
        return [flat[i * n : (i + 1) * n] for i in range(tokens.shape[0])]

    def to_tokens(self, strings: Sequence[str], chars: str | None = None) -> np.ndarray:
        """Strings back to uint8 tokens [N, seq_len] (ValueError on a bad length or character)."""
        chars = self.question_chars + self.answer_chars if chars is None else chars
        table = self.table("".join(sorted(set(chars))))
        for i, s in enumerate(strings):
            if len(s) != self.seq_len or not s.isascii():
                raise ValueError(f"{self.name}: string {i} has length {len(s)} or non-ASCII text")
        raw = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
        tokens = table[raw].reshape(len(strings), self.seq_len)
        if tokens.size and tokens.min() < 0:
            i = int(np.flatnonzero(tokens.reshape(-1) < 0)[0])
            raise ValueError(
                f"{self.name}: bad character {chr(raw[i])!r} in string {i // self.seq_len}"
            )
        return tokens.astype(np.uint8)


@dataclasses.dataclass
class Examples:
    """Original puzzles of one split, in source order, ready to be written."""

    inputs: np.ndarray  # uint8 [N, seq_len]
    labels: np.ndarray  # uint8 [N, seq_len]
    rating: np.ndarray  # int32 [N]; -1 where unknown
    index: np.ndarray  # int64 [N]; the row in the source
    source: list[str]  # [N]; "" where unknown

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, rows: np.ndarray) -> Examples:
        """The examples at `rows` (their `index` is kept)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Examples(
            self.inputs[rows],
            self.labels[rows],
            self.rating[rows],
            self.index[rows],
            [self.source[i] for i in rows.tolist()],
        )

    def generate(self) -> Iterator[tuple[int, dict]]:
        """(key, example) pairs for `_generate_examples`; the key is `index`."""
        for i in range(len(self)):
            index = int(self.index[i])
            yield (
                index,
                {
                    "inputs": self.inputs[i],
                    "labels": self.labels[i],
                    "rating": int(self.rating[i]),
                    "index": index,
                    "source": self.source[i],
                },
            )


def subsample(examples: Examples, size: int | None, seed: int) -> Examples:
    """The official `subsample_size` draw with a recorded seed, kept in source order.

    The official builders call the unseeded `np.random.choice(n, size, replace=False)` when
    `size < n` and keep every row otherwise; this draws the same way from
    `np.random.RandomState(seed)`, so it equals the official subset after `np.random.seed(seed)`.
    """
    n = len(examples)
    if size is None or size >= n:
        return examples
    rows = np.random.RandomState(seed).choice(n, size, replace=False)
    return examples.take(np.sort(rows))


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


def features(seq_len: int):
    """The feature dict shared by every puzzle builder here."""
    import tensorflow_datasets as tfds

    return tfds.features.FeaturesDict(
        {
            "inputs": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "labels": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "rating": tfds.features.Scalar(dtype=np.int32),
            "index": tfds.features.Scalar(dtype=np.int64),
            "source": tfds.features.Text(),
        }
    )


def puzzle_metadata(seq_len: int, vocab_size: int):
    """`metadata.json` of a prepared dataset: what `load_split` needs to rebuild `PuzzleData`."""
    import tensorflow_datasets as tfds

    return tfds.core.MetadataDict(
        seq_len=seq_len, vocab_size=vocab_size, pad_id=0, ignore_label_id=0
    )


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--name", required=True, help=f"builder: {', '.join(NAMES)}")
    p.add_argument("--config", default=None, help="config name; default: the builder's default")
    p.add_argument("--data_dir", required=True, help="TFDS data folder to write into")
    p.add_argument("--source_dir", default=None, help="folder with the CSVs or official numpy")
    p.add_argument("--source_format", default="auto", choices=SOURCE_FORMATS)
    p.add_argument("--splits", default=None, help="comma-separated, e.g. 'train' (default: all)")
    p.add_argument("--overwrite", action="store_true", help="rebuild an existing dataset")
    a = p.parse_args(argv)
    # Only the arguments given, so that builders without sources (sudoku_generated) take none.
    given = dict(source_dir=a.source_dir, splits=a.splits)
    if a.source_format != "auto":
        given["source_format"] = a.source_format
    kwargs = {k: v for k, v in given.items() if v is not None}
    start = time.perf_counter()
    b = prepare(a.name, a.config, a.data_dir, overwrite=a.overwrite, **kwargs)
    sizes = {split: info.num_examples for split, info in b.info.splits.items()}
    print(f"{b.info.full_name} in {b.data_dir}: {sizes} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
