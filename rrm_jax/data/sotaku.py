"""Sotaku's data protocol (github `chenglou/sotaku`, `iters/exp_baseline_lr2e3.py` and
`iters/eval_more_iters.py`): rating buckets, the reverse curriculum, the stratified test subset.

- Training pool: the first `sotaku.train_first` rows of the Sudoku-Extreme train split (the
  reference: `dataset[:2700000]`, the source CSV's order, which is this package's `index` order).
- Rating buckets, as the reference's `RATING_BUCKETS`: 0, 1-2, 3-10, 11-50, 51-1000 (a rating
  outside every bucket is never drawn nor tested).
- Reverse curriculum (`PHASES`): from step s on, the pool is the buckets whose LOWER bound is at
  least the phase's threshold t (the reference's `k[0] >= min_rating`). So the thresholds
  21, 6, 1, 0 of the reference select ratings >= 51, >= 11, >= 1 and all: "rating 21+" in its log
  messages is really the 51+ bucket. Reproduced as coded.
- Batches: the reference draws bucket counts from a multinomial over the bucket sizes, then rows
  uniformly with replacement inside each bucket, then shuffles: that is i.i.d. uniform draws with
  replacement over the union, which is what `CurriculumSampler` does (seeded per step from
  numpy's Philox, so a batch is a pure function of (seed, step) and resuming is exact; the
  reference's unseeded torch/numpy draws are matched in distribution, not bit for bit).
- Test subset (`eval_more_iters.py`): the test rows grouped by bucket in source order; Python's
  `random.seed(42)`; for each bucket in the order buckets first appear in the data, a bucket with
  more than 5,000 rows is replaced by `random.sample(rows, 5000)`; the subset lists the buckets in
  bucket order (0, 1-2, ...), each in its sampled order. `stratified_subset` repeats those calls
  exactly, so on the same CSV it selects the same 25,000 puzzles in the same order. (The training
  script's own evaluation draws its subset without a seed; the reported iteration curve comes from
  `eval_more_iters.py`.)

Ratings are read from the prepared TFDS split (`rating` and `index` features); the `official`
numpy format has none. The hooks: `select` (called by `train.loop.init_data` for model "sotaku")
and `CurriculumSampler` (built by the training loop when `sotaku.curriculum` is set).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random

import numpy as np

from rrm_jax.data import official
from rrm_jax.data.official import DataError, PuzzleData

RATING_BUCKETS = ((0, 0, "0"), (1, 2, "1-2"), (3, 10, "3-10"), (11, 50, "11-50"), (51, 1000, "51+"))
# The reference's PHASES: (first step, threshold on the bucket's lower bound).
REFERENCE_CURRICULUM = "0:21,10000:6,20000:1,30000:0"
_PURPOSE = 0x507A  # domain tag of the curriculum sampler's seed words


def bucket_of(ratings: np.ndarray) -> np.ndarray:
    """Bucket number (index into RATING_BUCKETS) of each rating; -1 outside every bucket."""
    ratings = np.asarray(ratings)
    out = np.full(ratings.shape, -1, np.int64)
    for i, (lo, hi, _) in enumerate(RATING_BUCKETS):
        out[(ratings >= lo) & (ratings <= hi)] = i
    return out


def parse_curriculum(text: str) -> list[tuple[int, int]]:
    """Parses "start:threshold,..." into [(start_step, threshold)], starts increasing from 0."""
    phases = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        start, _, threshold = part.partition(":")
        try:
            phases.append((int(start), int(threshold)))
        except ValueError:
            raise ValueError(f"curriculum phase {part!r} is not start:threshold") from None
    if not phases or phases[0][0] != 0:
        raise ValueError(f"curriculum {text!r} must start at step 0")
    if any(b[0] <= a[0] for a, b in zip(phases, phases[1:], strict=False)):
        raise ValueError(f"curriculum {text!r}: phase starts must increase")
    return phases


def threshold_at(phases: list[tuple[int, int]], step: int) -> int:
    """The threshold of the phase holding `step` (the last phase runs on forever)."""
    current = phases[0][1]
    for start, threshold in phases:
        if step >= start:
            current = threshold
    return current


def phase_pool(ratings: np.ndarray, threshold: int) -> np.ndarray:
    """Rows whose bucket's lower bound is >= threshold (the reference's phase buckets)."""
    buckets = bucket_of(ratings)
    keep = [i for i, (lo, _, _) in enumerate(RATING_BUCKETS) if lo >= threshold]
    return np.flatnonzero(np.isin(buckets, keep))


def stratified_subset(ratings, per_bucket: int = 5000, seed: int = 42) -> np.ndarray:
    """Row numbers of the reference's stratified test subset, in its order (see the docstring)."""
    buckets: dict[int, list[int]] = {}  # insertion order = first appearance, as the reference
    for i, b in enumerate(bucket_of(ratings).tolist()):
        if b >= 0:
            buckets.setdefault(b, []).append(i)
    rng = random.Random(seed)  # the same stream as random.seed(seed) + random.sample
    for b in buckets:
        if len(buckets[b]) > per_bucket:
            buckets[b] = rng.sample(buckets[b], per_bucket)
    return np.asarray([i for b in sorted(buckets) for i in buckets[b]], np.int64)


def take_rows(data: PuzzleData, rows: np.ndarray) -> PuzzleData:
    """The examples `rows` of a one-example-per-puzzle split, as a new split."""
    if data.num_puzzles != data.num_examples or data.num_groups != data.num_examples:
        raise DataError("sotaku's selections need one example per puzzle and group")
    m = data.metadata
    return official.from_examples(
        data.inputs[rows],
        data.labels[rows],
        vocab_size=m.vocab_size,
        pad_id=m.pad_id,
        ignore_label_id=m.ignore_label_id,
        puzzle_identifiers=data.puzzle_identifiers[rows],
        num_puzzle_identifiers=m.num_puzzle_identifiers,
    )


@functools.lru_cache(maxsize=4)
def read_ratings(name: str, config: str, split: str, data_dir: str) -> np.ndarray:
    """int32 ratings of a prepared TFDS split, in `index` order (the order `load_split` gives)."""
    from tensorflow_datasets.proto import tf_example_pb2

    from rrm_jax.data.tfds.reader import data_source

    raw = data_source(name, config or None, split, data_dir or None, raw=True)
    n = len(raw)
    index = np.zeros((n,), np.int64)
    rating = np.zeros((n,), np.int32)
    chunk = 1 << 15
    for start in range(0, n, chunk):
        records = raw.__getitems__(list(range(start, min(n, start + chunk))))
        for j, r in enumerate(records):
            f = tf_example_pb2.Example.FromString(r).features.feature
            if "rating" not in f:
                raise DataError(f"{name}/{config} ({split}) stores no rating")
            index[start + j] = f["index"].int64_list.value[0]
            rating[start + j] = f["rating"].int64_list.value[0]
    return rating[np.argsort(index, kind="stable")]


def ratings_for(config_data, split: str) -> np.ndarray:
    d = config_data
    if d.source != "tfds":
        raise DataError("sotaku's rating curriculum and test subset need data.source='tfds'")
    data_dir = os.path.expanduser(d.data_dir) if d.data_dir else ""
    return read_ratings(d.name, d.config, split, data_dir)


def select(data, config):
    """`data` (a `rrm_jax.data.Datasets`) with the train split cut to its first
    `sotaku.train_first` rows (0: all) and the test split replaced by the stratified subset
    when `sotaku.test_subset="stratified"`."""
    s = config.sotaku
    if s.train_first and s.train_first < data.train.num_examples:
        data = dataclasses.replace(data, train=take_rows(data.train, np.arange(s.train_first)))
    if s.test_subset == "stratified":
        ratings = ratings_for(config.data, config.data.test_split)
        if ratings.shape[0] != data.test.num_examples:
            raise DataError("test ratings do not line up with the test split")
        rows = stratified_subset(ratings, s.test_per_bucket, s.test_seed)
        data = dataclasses.replace(data, test=take_rows(data.test, rows))
    return data


class CurriculumSampler:
    """Training batches drawn i.i.d. with replacement from the curriculum phase's pool.

    The interface of `data.sampler.TrainSampler` (iterator of `inputs`, `labels`,
    `puzzle_identifiers` batches; `get_state`/`set_state`), without augmentation. Batch k is
    drawn from the pool of step k's phase, with a generator keyed by (seed, k).
    """

    def __init__(
        self,
        data: PuzzleData,
        ratings: np.ndarray,
        global_batch_size: int,
        seed: int,
        curriculum: str,
        *,
        process_index: int = 0,
        process_count: int = 1,
    ):
        if global_batch_size % process_count:
            raise ValueError("the global batch must divide by the process count")
        ratings = np.asarray(ratings)[: data.num_examples]
        if ratings.shape[0] != data.num_examples:
            raise DataError("fewer ratings than training examples")
        self.data = data
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.process_index = process_index
        self.seed = seed
        self.phases = parse_curriculum(curriculum)
        self.pools = {t: phase_pool(ratings, t) for _, t in self.phases}
        for t, pool in self.pools.items():
            if pool.size == 0:
                raise DataError(f"curriculum threshold {t}: no training rows in its buckets")
        self._step = 0

    def get_state(self) -> dict:
        return {"step": self._step}

    def set_state(self, state: dict) -> None:
        step = state["step"]
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"bad sampler state {state!r}")
        self._step = step

    def next_rows(self) -> np.ndarray:
        """This process's example rows of the next batch (advances by one batch)."""
        pool = self.pools[threshold_at(self.phases, self._step)]
        rng = np.random.Generator(
            np.random.Philox(np.random.SeedSequence([_PURPOSE, self.seed, self._step]))
        )
        rows = pool[rng.integers(0, pool.size, self.global_batch_size)]
        self._step += 1
        lo = self.process_index * self.local_batch_size
        return rows[lo : lo + self.local_batch_size]

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        rows = self.next_rows()
        labels = self.data.labels[rows].astype(np.int32)
        ignore = self.data.metadata.ignore_label_id
        if ignore is not None:
            labels[labels == ignore] = -100
        return {
            "inputs": self.data.inputs[rows].astype(np.int32),
            "labels": labels,
            "puzzle_identifiers": self.data.puzzle_identifiers[rows].astype(np.int32),
        }


def make_sampler(data, config, process_index: int = 0, process_count: int = 1):
    """The training loop's sampler for a config with `sotaku.curriculum` set."""
    ratings = ratings_for(config.data, config.data.train_split)
    return CurriculumSampler(
        data.train,
        ratings,
        config.train.global_batch_size,
        config.train.seed,
        config.sotaku.curriculum,
        process_index=process_index,
        process_count=process_count,
    )
