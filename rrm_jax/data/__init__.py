"""Input pipeline: the official numpy format, generated Sudoku, samplers, augmentations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from rrm_jax.data import official, sudoku
from rrm_jax.data.official import DataError, Metadata, PuzzleData


@dataclasses.dataclass
class Datasets:
    train: PuzzleData
    test: PuzzleData
    augment: Callable | None  # (inputs_row, labels_row, rng) -> (inputs_row, labels_row)
    num_aug: int

    @property
    def metadata(self) -> Metadata:
        return self.train.metadata


def sudoku_augmenter(board: sudoku.Board) -> Callable:
    """Official Sudoku augmentation on token rows (digit map, bands/stacks, transpose)."""

    def augment(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        puzzle, solution = sudoku.augment(sudoku.decode(inputs), sudoku.decode(labels), board, rng)
        return sudoku.encode(puzzle), sudoku.encode(solution)

    return augment


def _board_from_seq_len(seq_len: int, where: str) -> sudoku.Board:
    side = int(round(seq_len**0.5))
    shapes = {4: (2, 2), 9: (3, 3), 16: (4, 4), 6: (2, 3)}
    if side * side != seq_len or side not in shapes:
        raise DataError(f"{where}: seq_len={seq_len} is not a Sudoku board this augmentation knows")
    return sudoku.Board(*shapes[side])


def generated_sudoku(
    board: sudoku.Board, num_train: int, num_test: int, seed: int, min_givens: int = 0
):
    """Distinct generated puzzles, split into disjoint train and test sets (official encoding)."""
    gen = sudoku.generate(board, num_train + num_test, seed, min_givens=min_givens or None)
    inputs = sudoku.encode(gen["puzzles"])
    labels = sudoku.encode(gen["solutions"])
    make = lambda sl: official.from_examples(inputs[sl], labels[sl], vocab_size=board.vocab_size)
    return make(slice(0, num_train)), make(slice(num_train, None)), gen


def build(config_data) -> Datasets:
    """Builds the train/test data named by a config's `data` block."""
    d = config_data
    if d.source == "sudoku":
        board = sudoku.parse_board(d.board)
        train, test, _ = generated_sudoku(board, d.num_train, d.num_test, d.seed, d.min_givens)
    elif d.source == "official":
        train = official.load_split(d.path, d.train_split, d.set_name)
        test = official.load_split(d.path, d.test_split, d.set_name)
        for field in ("seq_len", "vocab_size"):
            a, b = getattr(train.metadata, field), getattr(test.metadata, field)
            if a != b:
                raise DataError(
                    f"{d.path}: {field} differs between {d.train_split} ({a}) and "
                    f"{d.test_split} ({b})"
                )
    else:
        raise ValueError(f"unknown data.source {d.source!r}")
    augment = None
    if d.augmentation == "sudoku":
        if d.source == "sudoku":
            augment = sudoku_augmenter(sudoku.parse_board(d.board))
        else:
            augment = sudoku_augmenter(_board_from_seq_len(train.metadata.seq_len, d.path))
    return Datasets(train, test, augment, d.num_aug if augment else 0)


__all__ = ["Datasets", "DataError", "Metadata", "PuzzleData", "build", "generated_sudoku"]
