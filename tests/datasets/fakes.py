"""Tiny fake sources for the dataset builder tests: CSVs in the official layout."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.official import DataError

HEADER = ("source", "question", "answer", "rating")


def write_csv(path: Path, rows: Sequence[Sequence[object]], header=HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def sudoku_rows(n: int, seed: int) -> list[tuple[str, str, str, int]]:
    """Random (not valid) Sudoku-shaped rows: the builder checks format, not Sudoku rules."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(1, 10, size=(n, 81))
    blank = rng.random((n, 81)) < 0.7
    rows = []
    for i in range(n):
        q = "".join("." if b else str(d) for b, d in zip(blank[i], answers[i], strict=True))
        rows.append((f"src{i % 3}", q, "".join(map(str, answers[i])), i % 17))
    return rows


def maze_rows(n: int, seed: int) -> list[tuple[str, str, str, int]]:
    """Random 30x30 strings over "# SGo" (questions without the path 'o')."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        q = rng.choice(list("# SG"), size=900)
        a = np.where((q == " ") & (rng.random(900) < 0.2), "o", q)
        rows.append(("maze", "".join(q), "".join(a), 100 + i))
    return rows


def assert_nothing_readable(name: str, config: str, data_dir: Path) -> None:
    """After a failed build: no prepared dataset, no record file, every reader refuses."""
    b = rrm_tfds.builder(name, config, data_dir)
    assert not b.is_prepared()
    files = (
        [p for p in (data_dir / name).rglob("*") if p.is_file() and ".config" not in p.parts]
        if (data_dir / name).exists()
        else []
    )
    assert files == [], files
    for split in ("train", "test"):
        try:
            rrm_tfds.load_split(name, config, split, data_dir)
        except DataError as e:
            assert "no prepared dataset" in str(e)
        else:
            raise AssertionError("load_split read a failed build")
        try:
            tfds.data_source(
                f"{name}/{config}", split=split, data_dir=os.fspath(data_dir), download=False
            )
        except Exception:  # noqa: BLE001 - any refusal will do
            pass
        else:
            raise AssertionError("tfds.data_source accepted a failed build")
