"""Input pipeline: data sources, samplers, on-the-fly augmentations.

Sources (`data.source`): "official" (the HRM/TRM numpy format at `data.path`), "sudoku" (the
offline generator, in memory), "tfds" (this project's TFDS builders in `datasets/`, prepared into
`data.data_dir` from `data.source_dir` on first use). Every source yields official-layout
`PuzzleData` for the sampler; augmentations are applied on the fly from stored originals.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from rrm_jax.data import official, sudoku
from rrm_jax.data.official import DataError, Metadata, PuzzleData


@dataclasses.dataclass
class Datasets:
    train: PuzzleData
    test: PuzzleData
    augment: Callable | None  # (inputs_row, labels_row, rng, variant=v) -> (inputs, labels)
    num_aug: int
    identifiers: list[str] | None = None  # puzzle id -> name (ARC scoring inverts augmentations)
    test_puzzles: dict | None = None  # the original test-set tasks (ARC scoring)
    # "arc", "maze", "sudoku", "n_queens", "graph_coloring" (multi-solution: scored by the rules
    # of `rrm_jax.eval.csp`), "snowflake" (rule-checked by `rrm_jax.eval.snowflake`),
    # "sudoku_generation" (samples of an empty board, `rrm_jax.eval.generation`) or "":
    # which task-specific evaluator applies
    kind: str = ""

    @property
    def metadata(self) -> Metadata:
        return self.train.metadata


def sudoku_augmenter(board: sudoku.Board) -> Callable:
    """Official Sudoku augmentation on token rows (digit map, bands/stacks, transpose)."""

    def augment(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, variant=0):
        puzzle, solution = sudoku.augment(sudoku.decode(inputs), sudoku.decode(labels), board, rng)
        return sudoku.encode(puzzle), sudoku.encode(solution)

    return augment


def dihedral_augmenter(side: int) -> Callable:
    """The 8 dihedral transforms of a square grid (variant v = transform id 1..7; v = 0 is the
    original): the official Maze augmentation (`build_maze_dataset.py --aug`), on the fly."""

    def augment(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, variant=0):
        from rrm_jax.data.arc import dihedral  # the shared transform table

        if not 0 <= variant <= 7:
            raise ValueError(f"dihedral augmentation has variants 0..7, got {variant}")
        t = lambda row: dihedral(np.asarray(row).reshape(side, side), variant).reshape(-1)
        return t(inputs), t(labels)

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
    elif d.source == "tfds" and d.name == "arc_agi":
        return _load_arc(d)
    elif d.source == "tfds":
        train, test = _load_tfds(d)
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
    where = d.path or d.name
    if d.augmentation == "sudoku":
        if d.source == "sudoku" or d.name == "sudoku_generated":
            augment = sudoku_augmenter(sudoku.parse_board(d.config or d.board))
        else:
            augment = sudoku_augmenter(_board_from_seq_len(train.metadata.seq_len, where))
    elif d.augmentation == "dihedral":
        side = int(round(train.metadata.seq_len**0.5))
        if side * side != train.metadata.seq_len:
            raise DataError(
                f"{where}: dihedral augmentation needs a square grid, "
                f"seq_len={train.metadata.seq_len}"
            )
        augment = dihedral_augmenter(side)
    kind = {
        "maze_hard": "maze",
        "sudoku_extreme": "sudoku",
        "sudoku_generated": "sudoku",
        "n_queens": "n_queens",
        "graph_coloring": "graph_coloring",
        "snowflake_sudoku": "snowflake",
    }.get(d.name if d.source == "tfds" else "", "sudoku" if d.source == "sudoku" else "")
    if d.get("task", "solve") == "generate":  # GRAM's unconditional generator (App. D.5)
        if kind != "sudoku":
            raise DataError(f"{where or d.source}: data.task='generate' needs a Sudoku source")
        from rrm_jax.data import generation

        train = generation.unconditional(train, max_examples=d.generate_boards)
        test = generation.unconditional(test)
        kind = "sudoku_generation"
    return Datasets(train, test, augment, d.num_aug if augment else 0, kind=kind)


def _load_arc(d) -> Datasets:
    """ARC: the builder stores original tasks and their augmentation lists; the splits are
    laid out as the official builder's and encoded on demand (`arc.lazy_splits`)."""
    from rrm_jax.data import arc

    data_dir = os.path.expanduser(d.data_dir) if d.data_dir else None
    kwargs = {k: getattr(d, k) for k in ("source_dir", "conceptarc_dir") if getattr(d, k)}
    builder = arc.build(data_dir, d.config or "arc1_only", num_aug=d.num_aug, **kwargs)
    tasks, aug_lists, test_tasks = arc.load_built(data_dir, builder.builder_config.name)
    train, test, identifiers, test_puzzles = arc.lazy_splits(
        tasks, aug_lists, test_tasks=test_tasks, seed=d.seed
    )
    if test is None:
        raise DataError(f"{d.name}/{d.config}: the config has no test-set tasks")
    return Datasets(
        train, test, None, 0, identifiers=identifiers, test_puzzles=test_puzzles, kind="arc"
    )


def _load_tfds(d) -> tuple[PuzzleData, PuzzleData]:
    """Prepares (once) and reads a TFDS builder's splits; see `rrm_jax.data.tfds`."""
    from rrm_jax.data import tfds as rrm_tfds

    data_dir = os.path.expanduser(d.data_dir) if d.data_dir else None
    kwargs = {"source_dir": d.source_dir} if d.source_dir else {}
    rrm_tfds.prepare(d.name, d.config or None, data_dir, **kwargs)
    splits = [
        rrm_tfds.load_split(d.name, d.config or None, s, data_dir)
        for s in (d.train_split, d.test_split)
    ]
    return splits[0], splits[1]


__all__ = ["Datasets", "DataError", "Metadata", "PuzzleData", "build", "generated_sudoku"]
