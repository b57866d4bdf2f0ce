"""Writes generated Sudoku puzzles in the official HRM/TRM numpy format, offline.

    python -m rrm_jax.data.generate --board=3x3 --num_train=1000 --num_test=1000 --out=DIR

Train and test puzzles are distinct, each with a unique solution (see `sudoku.generate`); the
folder then trains any Sudoku row: `--config.data.path=DIR` (add `--config.data.augmentation=sudoku
--config.data.num_aug=1000` for the official augmentation, applied on the fly). A `rating.npy`
per split records each puzzle's difficulty (search guesses of the exact solver).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from rrm_jax.data import generated_sudoku, official, sudoku


def write(
    out: str, board: str, num_train: int, num_test: int, seed: int, min_givens: int = 0
) -> None:
    """Generates and writes `out/{train,test}` and `out/identifiers.json`."""
    b = sudoku.parse_board(board)
    train, test, gen = generated_sudoku(b, num_train, num_test, seed, min_givens)
    for split, data, sl in (
        ("train", train, slice(0, num_train)),
        ("test", test, slice(num_train, None)),
    ):
        official.write_split(out, split, data, identifiers=["<blank>"])
        np.save(os.path.join(out, split, "rating.npy"), gen["rating"][sl])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--board", default="3x3", help="box rows x box cols: 2x2, 2x3, 3x3, ...")
    p.add_argument("--num_train", type=int, default=1000)
    p.add_argument("--num_test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min_givens", type=int, default=0, help="0: minimal puzzles")
    a = p.parse_args(argv)
    write(a.out, a.board, a.num_train, a.num_test, a.seed, a.min_givens)
    print(f"wrote {a.num_train} train and {a.num_test} test {a.board}-box puzzles to {a.out}")


if __name__ == "__main__":
    main()
