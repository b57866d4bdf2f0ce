"""Prepares one config of a TFDS builder of `datasets/` as `array_record` files.

    python -m rrm_jax.data.tfds --name=maze_hard --config=default --data_dir=DIR [--source_dir=SRC]

An existing dataset is reused as it is, whatever the source, unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import time

from rrm_jax.data.puzzle_sources import SOURCE_FORMATS
from rrm_jax.data.tfds.builders import NAMES, prepare


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m rrm_jax.data.tfds",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
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
