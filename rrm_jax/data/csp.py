"""Offline generators of the multi-solution CSP benchmarks and what their TFDS builders store.

The N-Queens and graph 3-colouring tasks of the GRAM paper (arXiv 2605.19376, App. C.2); the
token layouts, rule checkers and solution enumerators are `rrm_jax.eval.csp`'s. Both builders
(`datasets/n_queens`, `datasets/graph_coloring`) call `n_queens_splits` / `graph_coloring_splits`
and write the result with `features` and `metadata`.

A puzzle (one input) may have several valid answers. Every stored example carries
`num_solutions`, the number of valid answers of its input, and `group`, the puzzle's number
within its split. With `train_targets="all"` (the default) the train split holds one example per
(puzzle, valid answer), the examples of one puzzle consecutive and sharing its `group`;
`rrm_jax.data.tfds.load_split` makes each puzzle one official *group* (its answers the group's
puzzles), so the trainer's sampler draws one random answer of every puzzle per epoch (an epoch
is one pass over the puzzles, not over the answers). With `train_targets="one"` every puzzle is
stored once, with one answer drawn with the seed. The test split always holds every puzzle once,
with one answer drawn with the seed: scoring is by the rules (`rrm_jax.eval.csp`), not against
it. (The draws come from `np.random.default_rng([seed, 1, s])`, s = 0 for train and 1 for test,
so the test split does not depend on `train_targets`.)
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rrm_jax.eval import csp

TRAIN_TARGETS = ("all", "one")
# Graphs are drawn this many at a time (the stream of draws does not depend on it).
_GRAPH_BATCH = 4096
# Graphs whose colourings are enumerated at once (bounds the [graphs, colourings] mask).
_COLORING_CHUNK = 1024


@dataclasses.dataclass
class CSPExamples:
    """One split of a CSP benchmark, ready to be written (`index` = row position)."""

    inputs: np.ndarray  # uint8 [N, seq_len]
    labels: np.ndarray  # uint8 [N, seq_len]
    group: np.ndarray  # int64 [N]; the puzzle (distinct input) within the split, 0, 1, ...
    num_solutions: np.ndarray  # int32 [N]; valid answers of the example's input
    source: list[str]  # [N]

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self) -> int:
        return int(self.group[-1]) + 1 if len(self) else 0

    def generate(self) -> Iterator[tuple[int, dict]]:
        """(key, example) pairs for `_generate_examples`; the key is `index`."""
        for i in range(len(self)):
            yield (
                i,
                {
                    "inputs": self.inputs[i],
                    "labels": self.labels[i],
                    "rating": -1,
                    "index": i,
                    "source": self.source[i],
                    "group": int(self.group[i]),
                    "num_solutions": int(self.num_solutions[i]),
                },
            )


def _check_targets(train_targets: str) -> None:
    if train_targets not in TRAIN_TARGETS:
        raise ValueError(f"train_targets must be one of {TRAIN_TARGETS}, got {train_targets!r}")


def _split_rows(
    ids: np.ndarray, offsets: np.ndarray, every: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (into a table sorted by puzzle) and group numbers of the puzzles `ids`: all their
    answers (`every`) or one drawn from `rng`."""
    counts = offsets[ids + 1] - offsets[ids]
    if not every:
        return offsets[ids] + rng.integers(counts), np.arange(ids.shape[0], dtype=np.int64)
    rows = np.concatenate([np.arange(offsets[u], offsets[u + 1]) for u in ids.tolist()])
    return rows.astype(np.int64), np.repeat(np.arange(ids.shape[0], dtype=np.int64), counts)


# ----------------------------------------------------------------------------------------------
# N-Queens


def default_removed(n: int) -> tuple[int, ...]:
    """Queens removed from a solution: n-3, n-2, n-1, leaving 1 to 3 (the paper's 5-7 for 8x8
    and 7-9 for 10x10)."""
    return tuple(k for k in (n - 3, n - 2, n - 1) if k >= 1)


def n_queens_splits(
    n: int,
    removed: Sequence[int] | None = None,
    *,
    train_fraction: float = 0.85,
    seed: int = 0,
    max_inputs: int = 0,
    train_targets: str = "all",
) -> dict[str, CSPExamples]:
    """The N-Queens benchmark: every (solution, removed queens) pair, split by distinct input.

    All solutions of the n-queens problem (`csp.queens_solutions`) with every subset of k of
    their queens removed, for each k in `removed`: the rest is the input, the solution a label.
    An input reached from several solutions is one puzzle whose valid completions are exactly
    those solutions (any completion of it is a solution containing it, reached by removing the
    other k queens), so `num_solutions` counts them. The distinct inputs are shuffled with
    `seed` (`np.random.default_rng(seed).permutation`); the first round(train_fraction * U)
    go to train, the rest to test, so no input is in both. `max_inputs` > 0 keeps only that
    many of the shuffled inputs (a seeded subsample, for boards too large to use whole).
    """
    _check_targets(train_targets)
    removed = tuple(default_removed(n) if removed is None else removed)
    if not removed or any(not 1 <= k <= n for k in removed) or len(set(removed)) != len(removed):
        raise ValueError(f"removed must be distinct counts in [1, {n}], got {removed}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    solutions = csp.queens_solutions(n)
    if solutions.shape[0] == 0:
        raise ValueError(f"the {n}-queens problem has no solution")
    num_sol = solutions.shape[0]
    queens = solutions[:, :, None] == np.arange(n)  # [S, n, n]
    inputs, solution_of = [], []
    for k in removed:
        combos = np.asarray(list(itertools.combinations(range(n), k)), dtype=np.int64)
        keep = np.ones((combos.shape[0], n), dtype=bool)
        keep[np.arange(combos.shape[0])[:, None], combos] = False
        x = queens[:, None] & keep[None, :, :, None]  # [S, C, n, n]
        inputs.append(x.reshape(-1, n * n))
        solution_of.append(np.repeat(np.arange(num_sol), combos.shape[0]))
    pairs = np.concatenate(inputs)
    solution_of = np.concatenate(solution_of)
    _, puzzle_of = np.unique(np.packbits(pairs, axis=1), axis=0, return_inverse=True)
    puzzle_of = puzzle_of.reshape(-1)
    order = np.lexsort((solution_of, puzzle_of))  # by puzzle, then solution (lexicographic)
    num_puzzles = int(puzzle_of.max()) + 1
    offsets = np.concatenate([[0], np.cumsum(np.bincount(puzzle_of, minlength=num_puzzles))])

    perm = np.random.default_rng(seed).permutation(num_puzzles)
    if max_inputs:
        perm = perm[:max_inputs]
    n_train = int(round(train_fraction * perm.shape[0]))
    if not 0 < n_train < perm.shape[0]:
        raise ValueError(
            f"{perm.shape[0]} distinct inputs cannot be split {train_fraction}:"
            f"{1 - train_fraction:.2f} with both splits non-empty"
        )
    out = {}
    for s, (split, ids, every) in enumerate(
        (("train", perm[:n_train], train_targets == "all"), ("test", perm[n_train:], False))
    ):
        rows, group = _split_rows(ids, offsets, every, np.random.default_rng([seed, 1, s]))
        pair = order[rows]
        x = pairs[pair]
        counts = (offsets[ids + 1] - offsets[ids])[group]
        kept = x.sum(1)
        out[split] = CSPExamples(
            inputs=x.astype(np.uint8) + csp.EMPTY,
            labels=csp.queens_boards(solutions[solution_of[pair]], n),
            group=group,
            num_solutions=counts.astype(np.int32),
            source=[f"n_queens n={n} removed={n - int(q)}" for q in kept.tolist()],
        )
    return out


# ----------------------------------------------------------------------------------------------
# Graph colouring


def random_graphs(
    n: int, edge_prob: float, count: int, seed: int, max_draws: int = 0
) -> np.ndarray:
    """`count` distinct 3-colourable Erdos-Renyi G(n, p) graphs, edge indicators bool
    [count, n(n-1)/2], in the order they are drawn.

    Each edge of the strict upper triangle (row-major) is present independently with
    probability `edge_prob`, drawn from `np.random.default_rng(seed).random`; a graph that is
    not 3-colourable, or equal (same adjacency matrix) to one kept before, is skipped.
    `max_draws` (default 1000 * count + 10^5) bounds the search.
    """
    t = csp.triangle_len(n)
    if not 0.0 <= edge_prob <= 1.0:
        raise ValueError(f"edge_prob must lie in [0, 1], got {edge_prob}")
    if count > 2**t:
        raise ValueError(f"{n} nodes have only {2**t} graphs, {count} distinct ones asked")
    rng = np.random.default_rng(seed)
    max_draws = max_draws or 1000 * count + 100_000
    kept: list[np.ndarray] = []
    seen: set[bytes] = set()
    drawn = 0
    while len(kept) < count:
        if drawn >= max_draws:
            raise ValueError(
                f"only {len(kept)} distinct 3-colourable graphs among {drawn} draws of "
                f"G({n}, {edge_prob}); {count} asked"
            )
        edges = rng.random((_GRAPH_BATCH, t)) < edge_prob
        drawn += _GRAPH_BATCH
        colourable = csp.proper_colorings_mask(edges.astype(np.uint8) + csp.NO_EDGE, n).any(1)
        for row in np.flatnonzero(colourable).tolist():
            key = np.packbits(edges[row]).tobytes()
            if key in seen:
                continue
            seen.add(key)
            kept.append(edges[row])
            if len(kept) == count:
                break
    return np.stack(kept) if kept else np.zeros((0, t), dtype=bool)


def graph_coloring_splits(
    n: int,
    edge_prob: float,
    num_train: int,
    num_test: int,
    *,
    seed: int = 0,
    train_targets: str = "all",
) -> dict[str, CSPExamples]:
    """The graph 3-colouring benchmark: `random_graphs(n, edge_prob, num_train + num_test,
    seed)`, the first `num_train` for train and the rest for test (distinct graphs, so the
    splits are disjoint). The answers of a graph are its distinct canonical proper colourings
    (`csp.graph_colorings`), `num_solutions` their number."""
    _check_targets(train_targets)
    if num_train < 1 or num_test < 1:
        raise ValueError(f"num_train and num_test must be >= 1, got {num_train}, {num_test}")
    t = csp.triangle_len(n)
    graphs = random_graphs(n, edge_prob, num_train + num_test, seed)
    tokens = np.zeros((graphs.shape[0], t + n), dtype=np.uint8)
    tokens[:, :t] = graphs.astype(np.uint8) + csp.NO_EDGE  # node positions stay PAD (0)
    colorings = csp.canonical_colorings(n)
    source = f"erdos_renyi n={n} p={edge_prob}"
    out = {}
    for s, (split, ids, every) in enumerate(
        (
            ("train", np.arange(num_train), train_targets == "all"),
            ("test", np.arange(num_train, num_train + num_test), False),
        )
    ):
        label_rng = np.random.default_rng([seed, 1, s])
        graph_of, coloring_of, counts = [], [], []
        for start in range(0, ids.shape[0], _COLORING_CHUNK):
            chunk = ids[start : start + _COLORING_CHUNK]
            mask = csp.proper_colorings_mask(tokens[chunk], n)
            c = mask.sum(1)
            counts.append(c)
            if every:
                g, r = np.nonzero(mask)  # row-major: by graph, colourings in lexicographic order
                graph_of.append(chunk[g])
                coloring_of.append(r)
            else:
                pick = label_rng.integers(c)
                graph_of.append(chunk)
                coloring_of.append(np.argmax(np.cumsum(mask, axis=1) > pick[:, None], axis=1))
        counts = np.concatenate(counts)
        graph_of = np.concatenate(graph_of)
        group = graph_of - ids[0]
        out[split] = CSPExamples(
            inputs=tokens[graph_of],
            labels=csp.coloring_labels(colorings[np.concatenate(coloring_of)], n),
            group=group.astype(np.int64),
            num_solutions=counts[group].astype(np.int32),
            source=[source] * graph_of.shape[0],
        )
    return out


# ----------------------------------------------------------------------------------------------
# What the builders store, and reading it back


def features(seq_len: int):
    """The puzzle builders' features (`puzzle_examples.features`) plus `group` (int64) and
    `num_solutions` (int32)."""
    import tensorflow_datasets as tfds

    return tfds.features.FeaturesDict(
        {
            "inputs": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "labels": tfds.features.Tensor(shape=(seq_len,), dtype=np.uint8),
            "rating": tfds.features.Scalar(dtype=np.int32),
            "index": tfds.features.Scalar(dtype=np.int64),
            "source": tfds.features.Text(),
            "group": tfds.features.Scalar(dtype=np.int64),
            "num_solutions": tfds.features.Scalar(dtype=np.int32),
        }
    )


def metadata(task: str, n: int, seq_len: int, vocab_size: int):
    """`metadata.json`: what `load_split` needs (PAD 0, ignore label 0) plus the task and n."""
    import tensorflow_datasets as tfds

    return tfds.core.MetadataDict(
        seq_len=seq_len, vocab_size=vocab_size, pad_id=0, ignore_label_id=0, task=task, n=n
    )


def solution_counts(
    name: str, config: Any, split: str, data_dir: str | os.PathLike | None
) -> np.ndarray:
    """`num_solutions` of every example of a prepared split, int64 in `index` order (the order
    of `load_split`'s rows)."""
    from rrm_jax.data import tfds as rrm_tfds

    ex = rrm_tfds.read_examples(name, config, split, data_dir)
    if "num_solutions" not in ex:
        raise ValueError(f"{name}: the dataset stores no num_solutions")
    return ex["num_solutions"][np.argsort(ex["index"], kind="stable")]


__all__ = [
    "TRAIN_TARGETS",
    "CSPExamples",
    "default_removed",
    "features",
    "graph_coloring_splits",
    "metadata",
    "n_queens_splits",
    "random_graphs",
    "solution_counts",
]
