"""What the Sudoku-Extreme and Maze-Hard TFDS builders share: sources, checks, features.

A builder mixes `SourcedPuzzleBuilder` in before `tfds.core.GeneratorBasedBuilder` and sets
`ENCODING`, `SPLITS`, `URLS` and `HOMEPAGE`; it may override `transform(split, examples)` (e.g.
the Sudoku 1k subsample). Every split is read and checked before anything is written, so a bad
source never leaves a readable dataset behind.
"""

from __future__ import annotations

import sys
from typing import Any

import tensorflow_datasets as tfds

from rrm_jax.data import puzzle_sources


class SourcedPuzzleBuilder:
    """Mixin for `tfds.core.GeneratorBasedBuilder`: one example per puzzle, from CSVs or the
    official numpy folders (`source_dir=` / the manual folder) or the download URLs."""

    ENCODING: puzzle_sources.Encoding
    SPLITS: tuple[str, ...] = ("train", "test")
    URLS: dict[str, str] = {}
    HOMEPAGE = ""

    def __init__(
        self,
        *,
        source_dir: str | None = None,
        source_format: str = "auto",
        splits: tuple[str, ...] | None = None,
        **kwargs: Any,
    ):
        """Args beyond TFDS's: the source folder, its format ("auto", "csv", "official"), and
        the splits to build (default all)."""
        self._splits = puzzle_sources.check_builder_args(source_format, splits, self.SPLITS)
        self._source_dir = source_dir
        self._source_format = source_format
        kwargs.setdefault("file_format", puzzle_sources.FILE_FORMAT)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        e = self.ENCODING
        return tfds.core.DatasetInfo(
            builder=self,
            description=sys.modules[type(self).__module__].__doc__,
            features=puzzle_sources.features(e.seq_len),
            supervised_keys=("inputs", "labels"),
            homepage=self.HOMEPAGE,
            metadata=puzzle_sources.puzzle_metadata(e.seq_len, e.vocab_size),
            disable_shuffling=True,
        )

    def transform(self, split: str, examples: puzzle_sources.Examples):
        """Hook applied to each split after reading (default: none)."""
        return examples

    def _split_generators(self, dl_manager):
        source = puzzle_sources.resolve_source(
            self.name,
            dl_manager,
            source_dir=self._source_dir,
            source_format=self._source_format,
            splits=self._splits,
            urls=self.URLS,
        )
        examples = {s: self.transform(s, source.read(s, self.ENCODING)) for s in self._splits}
        return {split: self._generate_examples(ex) for split, ex in examples.items()}

    def _generate_examples(self, examples: puzzle_sources.Examples):
        yield from examples.generate()
