"""Shared set-up of the dataset builder tests: quiet TFDS, the optional real data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

# Real benchmark files, when a `shared/data` folder sits beside the repository.
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL_MAZE = REAL_DATA / "maze-30x30-hard-1k" / "alphaXiv_TRM"
REAL_SUDOKU = REAL_DATA / "sudoku-extreme" / "ML-TRM_sudoku-extreme-full"


@pytest.fixture(autouse=True, scope="session")
def _quiet_tfds():
    tfds.disable_progress_bar()
    yield


@pytest.fixture
def real_maze() -> Path:
    if not (REAL_MAZE / "test" / "all__inputs.npy").is_file():
        pytest.skip(f"real Maze-Hard data absent ({REAL_MAZE})")
    return REAL_MAZE


@pytest.fixture
def real_sudoku() -> Path:
    if not (REAL_SUDOKU / "train" / "all__inputs.npy").is_file():
        pytest.skip(f"real Sudoku-Extreme data absent ({REAL_SUDOKU})")
    return REAL_SUDOKU
