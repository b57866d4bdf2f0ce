"""Sudoku-Extreme (HRM/TRM): 9x9 puzzles, original (un-augmented), one example each.

Configs:
  full: every train and test row of the source.
  1k:   1000 training puzzles drawn as the official `--subsample-size 1000` does
        (`np.random.choice(n, 1000, replace=False)`), but from a recorded seed
        (`np.random.RandomState(subsample_seed)`, seed 0); the official draw is unseeded, so no
        two official builds share a subset. A source with 1000 rows or fewer is kept whole, as
        there. Test: the full test split (422,786 puzzles officially).

Source, first found: `source_dir=` (builder argument) or the TFDS manual folder, holding either
the official CSVs (`train.csv`, `test.csv`; columns `source,question,answer,rating`; '.' blank)
or the official numpy conversion (`train/`, `test/`, as written by the official
`dataset/build_sudoku_dataset.py`; there the rating and source are unknown: -1 and ""; stored
augmentations, if any, are dropped); else the Hugging Face CSVs (`sapientinc/sudoku-extreme`).
A source that lacks a split (e.g. a train-only numpy folder) is built with `splits=("train",)`.

Tokens as the official builder: digit + 1, so 1 = blank, 2..10 = digits 1..9, PAD 0, vocab 11,
seq_len 81. A question may write a blank as '.' or '0' (the official builder maps both to 0).
The official augmentation is applied on the fly by the trainer, not stored.

Load it through `rrm_jax.data.tfds` (`load_builder("sudoku_extreme")`), never as
`import datasets...`.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import puzzle_builder, puzzle_sources

SEQ_LEN = 81
VOCAB_SIZE = 11
SPLITS = ("train", "test")
URLS = {
    split: f"https://huggingface.co/datasets/sapientinc/sudoku-extreme/resolve/main/{split}.csv"
    for split in SPLITS
}
DIGITS = "123456789"

ENCODING = puzzle_sources.Encoding(
    name="sudoku_extreme",
    seq_len=SEQ_LEN,
    vocab_size=VOCAB_SIZE,
    token_of={".": 1, "0": 1, **{d: int(d) + 1 for d in DIGITS}},
    question_chars="." + "0" + DIGITS,
    answer_chars=DIGITS,
    char_of={1: ".", **{int(d) + 1: d for d in DIGITS}},
)


@dataclasses.dataclass
class SudokuExtremeConfig(tfds.core.BuilderConfig):
    """`subsample_size`: training puzzles kept (None: all); `subsample_seed`: the draw's seed."""

    subsample_size: int | None = None
    subsample_seed: int = 0


class Builder(puzzle_builder.SourcedPuzzleBuilder, tfds.core.GeneratorBasedBuilder):
    """Sudoku-Extreme, original puzzles, `index` = row in the source split."""

    name = "sudoku_extreme"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Original puzzles, array_record, seeded 1k subsample."}
    BUILDER_CONFIGS = [
        SudokuExtremeConfig(name="full", description="Every train and test puzzle."),
        SudokuExtremeConfig(
            name="1k",
            description="1000 training puzzles (seed 0; the official draw is unseeded), full test.",
            subsample_size=1000,
            subsample_seed=0,
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put train.csv and test.csv of sapientinc/sudoku-extreme, or the official numpy folder "
        "(train/, test/), in the manual folder, or pass source_dir=."
    )

    ENCODING = ENCODING
    SPLITS = SPLITS
    URLS = URLS
    HOMEPAGE = "https://huggingface.co/datasets/sapientinc/sudoku-extreme"

    def transform(self, split: str, examples: puzzle_sources.Examples):
        """The train split of a subsampling config keeps its seeded subsample."""
        if split != "train":
            return examples
        config = self.builder_config
        return puzzle_sources.subsample(examples, config.subsample_size, config.subsample_seed)
