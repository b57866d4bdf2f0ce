"""Maze-Hard (30x30 mazes, HRM/TRM): the official 1000 train + 1000 test mazes, un-augmented.

Source, first found: `source_dir=` (builder argument) or the TFDS manual folder, holding either
the official CSVs (`train.csv`, `test.csv`; columns `source,question,answer,rating`; question and
answer are 900-character strings over "# SGo") or the official numpy conversion
(`train/`, `test/`, as written by the official `dataset/build_maze_dataset.py`; there the rating
and source are unknown: -1 and ""); else the Hugging Face CSVs (`sapientinc/maze-30x30-hard-1k`).

Tokens as the official builder: the index of the character in "# SGo" plus 1 ('#' wall 1,
' ' open 2, 'S' start 3, 'G' goal 4, 'o' path 5), PAD 0, vocab 6, seq_len 900. The official
dihedral augmentation (off by default there) is not stored: this holds the original mazes only.

Load it through `rrm_jax.data.tfds` (`load_builder("maze_hard")`), never as `import datasets...`.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import puzzle_builder, puzzle_sources

CHARSET = "# SGo"
SEQ_LEN = 900
VOCAB_SIZE = len(CHARSET) + 1
SPLITS = ("train", "test")
URLS = {
    split: f"https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k/resolve/main/{split}.csv"
    for split in SPLITS
}

ENCODING = puzzle_sources.Encoding(
    name="maze_hard",
    seq_len=SEQ_LEN,
    vocab_size=VOCAB_SIZE,
    token_of={c: i + 1 for i, c in enumerate(CHARSET)},
    question_chars=CHARSET,
    answer_chars=CHARSET,
    char_of={i + 1: c for i, c in enumerate(CHARSET)},
)


def to_strings(tokens: np.ndarray) -> list[str]:
    """Official tokens [N, 900] -> the CSV question/answer strings (exact inverse)."""
    return ENCODING.to_strings(tokens)


def to_tokens(strings: list[str]) -> np.ndarray:
    """CSV strings -> official uint8 tokens [N, 900], as `dataset/build_maze_dataset.py`."""
    return ENCODING.to_tokens(strings)


class Builder(puzzle_builder.SourcedPuzzleBuilder, tfds.core.GeneratorBasedBuilder):
    """Maze-Hard 30x30, original mazes, one example each, `index` = row in the source."""

    name = "maze_hard"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Original 1000 + 1000 mazes, array_record."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="default", description="All train and test mazes."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put train.csv and test.csv of sapientinc/maze-30x30-hard-1k, or the official numpy "
        "folder (train/, test/), in the manual folder, or pass source_dir=."
    )
    ENCODING = ENCODING
    SPLITS = SPLITS
    URLS = URLS
    HOMEPAGE = "https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k"
