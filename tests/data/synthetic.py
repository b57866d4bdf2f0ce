"""Small synthetic datasets in the official format, shared by the data tests."""

from __future__ import annotations

import numpy as np

from rrm_jax.data.official import Metadata, PuzzleData


def multi_variant_data(
    seed: int = 0, num_groups: int = 7, *, seq_len: int = 6, vocab: int = 7
) -> PuzzleData:
    """Groups of 1-3 puzzles (variants), each of 1-4 examples; ARC-style ids (one per puzzle,
    0 is the blank); label 0 is the ignore label; input column 0 makes rows distinct."""
    rng = np.random.default_rng(seed)
    puzzles_per_group = rng.integers(1, 4, size=num_groups)
    examples_per_puzzle = rng.integers(1, 5, size=int(puzzles_per_group.sum()))
    n = int(examples_per_puzzle.sum())
    num_puzzles = len(examples_per_puzzle)
    inputs = rng.integers(1, vocab, size=(n, seq_len)).astype(np.uint8)
    inputs[:, 0] = np.arange(n) % vocab
    return PuzzleData(
        metadata=Metadata(
            seq_len=seq_len,
            vocab_size=vocab,
            pad_id=0,
            ignore_label_id=0,
            blank_identifier_id=0,
            num_puzzle_identifiers=1 + num_puzzles,
            total_groups=num_groups,
            mean_puzzle_examples=n / num_puzzles,
            total_puzzles=num_puzzles,
            sets=("all",),
        ),
        inputs=inputs,
        labels=rng.integers(0, vocab, size=(n, seq_len)).astype(np.uint8),
        puzzle_identifiers=np.arange(1, 1 + num_puzzles, dtype=np.int32),
        puzzle_indices=np.concatenate([[0], np.cumsum(examples_per_puzzle)]).astype(np.int32),
        group_indices=np.concatenate([[0], np.cumsum(puzzles_per_group)]).astype(np.int32),
    )
