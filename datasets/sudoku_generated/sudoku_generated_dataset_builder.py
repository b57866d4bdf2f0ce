"""Generated Sudoku (offline): `rrm_jax.data.sudoku.generate` as a TFDS builder.

Exactly the puzzles of `rrm_jax.data.generated_sudoku(board, num_train, num_test, seed,
min_givens)`: distinct puzzles with unique solutions, the first `num_train` for train and the next
`num_test` for test, in that order (`index` = position within the split). `rating` is the exact
solver's number of search guesses. Tokens as the official Sudoku builder: value + 1 (1 = blank),
PAD 0, vocab N + 2 for an N x N board.

Configs (each `num_train=3000, num_test=500, seed=0, min_givens=0`, the defaults of the CPU
preset `rrm_jax.config.cpu_sudoku`, which uses `2x3`):
  2x2: 4x4 boards;  2x3: 6x6 boards;  3x3: 9x9 boards (about 80 s to generate on one core).
Another size, seed or board: pass `config=SudokuGeneratedConfig(name=..., board=..., ...)` with a
name of its own (the name is the dataset's folder).

Load it through `rrm_jax.data.tfds` (`load_builder("sudoku_generated")`), never as
`import datasets...`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import puzzle_sources, sudoku

SPLITS = ("train", "test")


@dataclasses.dataclass
class SudokuGeneratedConfig(tfds.core.BuilderConfig):
    """Box shape ("<rows>x<cols>"), split sizes, generator seed and `min_givens` (0: minimal)."""

    board: str = "2x3"
    num_train: int = 3000
    num_test: int = 500
    seed: int = 0
    min_givens: int = 0


def _config(board: str) -> SudokuGeneratedConfig:
    b = sudoku.parse_board(board)
    return SudokuGeneratedConfig(
        name=board,
        description=f"{b.size}x{b.size} boards ({board} boxes): 3000 train, 500 test, seed 0.",
        board=board,
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """Generated Sudoku of one box shape, `index` = position in the split."""

    name = "sudoku_generated"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "rrm_jax.data.sudoku.generate, array_record."}
    BUILDER_CONFIGS = [_config("2x2"), _config("2x3"), _config("3x3")]
    DEFAULT_CONFIG_NAME = "2x3"

    def __init__(self, **kwargs):
        kwargs.setdefault("file_format", puzzle_sources.FILE_FORMAT)
        super().__init__(**kwargs)

    @property
    def board(self) -> sudoku.Board:
        return sudoku.parse_board(self.builder_config.board)

    def _info(self) -> tfds.core.DatasetInfo:
        board = self.board
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=puzzle_sources.features(board.cells),
            supervised_keys=("inputs", "labels"),
            metadata=puzzle_sources.puzzle_metadata(board.cells, board.vocab_size),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        c = self.builder_config
        board = self.board
        gen = sudoku.generate(
            board, c.num_train + c.num_test, c.seed, min_givens=c.min_givens or None
        )
        inputs = sudoku.encode(gen["puzzles"])
        labels = sudoku.encode(gen["solutions"])
        label = f"rrm_jax.data.sudoku.generate(board={c.board}, seed={c.seed})"
        out = {}
        for split, rows in (
            ("train", slice(0, c.num_train)),
            ("test", slice(c.num_train, c.num_train + c.num_test)),
        ):
            n = rows.stop - rows.start
            out[split] = self._generate_examples(
                puzzle_sources.Examples(
                    inputs[rows],
                    labels[rows],
                    gen["rating"][rows].astype(np.int32),
                    np.arange(n, dtype=np.int64),
                    [label] * n,
                )
            )
        return out

    def _generate_examples(self, examples: puzzle_sources.Examples):
        yield from examples.generate()
