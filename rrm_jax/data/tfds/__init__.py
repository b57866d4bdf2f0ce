"""TFDS builders of the repository's `datasets/` folder: load them, prepare them, read splits.

    python -m rrm_jax.data.tfds --name=maze_hard --config=default --data_dir=DIR [--source_dir=SRC]

The builders (`datasets/<name>/<name>_dataset_builder.py`, one `Builder` class each) store
original puzzles only, one example per puzzle, with an `index` feature (the row in the source)
that fixes their order. They are written as `array_record` files and read back through
`tfds.data_source`: that is the one TFDS path that needs no TensorFlow (`as_dataset` and the
`tfrecord` format do).

- `builders`: the `datasets/` folder, loading a builder by file path (`load_builder`, which also
  registers it with TFDS), `builder`, `prepare`.
- `reader`: `data_source`, `read_examples` (a fast reader of every example) and `load_split`,
  which returns the official-format `PuzzleData` that the trainer consumes: every example its
  own puzzle and group, identifiers 0, `ignore_label_id` 0, as the official Sudoku and Maze
  builders.
- `cli`: the command line.

The code the builders share to read their sources and state their features is
`rrm_jax.data.puzzle_sources` (and `rrm_jax.data.puzzle_examples`).
"""

from __future__ import annotations

from rrm_jax.data.puzzle_examples import FILE_FORMAT
from rrm_jax.data.tfds.builders import (
    NAMES,
    builder,
    builder_path,
    datasets_dir,
    load_builder,
    load_module,
    prepare,
)
from rrm_jax.data.tfds.cli import main
from rrm_jax.data.tfds.reader import data_source, load_split, read_examples

__all__ = [
    "FILE_FORMAT",
    "NAMES",
    "builder",
    "builder_path",
    "data_source",
    "datasets_dir",
    "load_builder",
    "load_module",
    "load_split",
    "main",
    "prepare",
    "read_examples",
]
