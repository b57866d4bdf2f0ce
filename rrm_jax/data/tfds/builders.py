"""Locating, loading and preparing the TFDS builders of the repository's `datasets/` folder.

The folder is not a Python package (the name `datasets` belongs to the Hugging Face library), so
a builder is loaded from its file path (`load_module`), which also registers it with TFDS under
its name. This needs the source tree: an editable install or a checkout.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import rrm_jax
from rrm_jax.data.puzzle_examples import FILE_FORMAT

NAMES = (
    "sudoku_extreme",
    "maze_hard",
    "sudoku_generated",
    "n_queens",
    "graph_coloring",
    "snowflake_sudoku",
)


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
      name: builder name (`datasets/<name>/`): "sudoku_extreme", "maze_hard", "sudoku_generated",
        "n_queens", "graph_coloring", "snowflake_sudoku".
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
