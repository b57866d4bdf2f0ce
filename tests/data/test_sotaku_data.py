"""Sotaku's data protocol (`rrm_jax/data/sotaku.py`): rating buckets, the reverse curriculum's
pools, the stratified test subset drawn as the reference draws it, and the curriculum sampler."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rrm_jax.data import official
from rrm_jax.data import sotaku as sd


def test_buckets_and_the_reference_phase_pools():
    ratings = np.array([0, 1, 2, 3, 10, 11, 20, 21, 50, 51, 999, 1000, 1001, -1])
    np.testing.assert_array_equal(
        sd.bucket_of(ratings), [0, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, -1, -1]
    )
    # Threshold t keeps the buckets whose lower bound is >= t: 21 -> 51+ only (as coded).
    assert ratings[sd.phase_pool(ratings, 21)].tolist() == [51, 999, 1000]
    assert ratings[sd.phase_pool(ratings, 6)].tolist() == [11, 20, 21, 50, 51, 999, 1000]
    assert ratings[sd.phase_pool(ratings, 1)].min() == 1
    assert len(sd.phase_pool(ratings, 0)) == 12  # ratings outside every bucket never drawn


def test_curriculum_phases():
    phases = sd.parse_curriculum(sd.REFERENCE_CURRICULUM)
    assert phases == [(0, 21), (10000, 6), (20000, 1), (30000, 0)]
    got = [sd.threshold_at(phases, s) for s in (0, 9999, 10000, 19999, 20000, 30000, 10**6)]
    assert got == [21, 21, 6, 6, 1, 0, 0]
    for bad in ("", "5:1", "0:1,0:2", "0:x"):
        with pytest.raises(ValueError):
            sd.parse_curriculum(bad)


def reference_subset(ratings, max_test=5000):
    """The selection loop of `eval_more_iters.py`, restated on a list of ratings."""
    names = [b[2] for b in sd.RATING_BUCKETS]
    buckets = {}
    for i, r in enumerate(ratings):
        for lo, hi, name in sd.RATING_BUCKETS:
            if lo <= r <= hi:
                buckets.setdefault(name, []).append(i)
                break
    state = random.getstate()
    try:
        random.seed(42)
        for name in buckets:
            if len(buckets[name]) > max_test:
                buckets[name] = random.sample(buckets[name], max_test)
    finally:
        random.setstate(state)
    return [i for name in sorted(buckets, key=names.index) for i in buckets[name]]


def test_stratified_subset_repeats_the_reference_draw():
    rng = np.random.default_rng(0)
    # Buckets first appear out of bucket order (51+ first), so the draw order matters.
    ratings = np.concatenate([[60, 5, 0], rng.choice([0, 1, 2, 7, 30, 80, 2000], 3000)])
    got = sd.stratified_subset(ratings, per_bucket=300, seed=42)
    assert got.tolist() == reference_subset(ratings.tolist(), 300)
    counts = np.bincount(sd.bucket_of(ratings[got]), minlength=5)
    assert counts.max() == 300 and (np.diff(sd.bucket_of(ratings[got])) >= 0).all()
    assert len(set(got.tolist())) == len(got)


def test_curriculum_sampler_draws_from_the_phase_pool_and_resumes():
    n = 200
    ratings = np.arange(n) % 100  # 0..99
    inputs = np.tile(np.arange(n)[:, None] % 7 + 1, (1, 4))
    labels = inputs + 1
    data = official.from_examples(inputs, labels, vocab_size=10)
    make = lambda **kw: sd.CurriculumSampler(data, ratings, 8, 3, "0:21,2:1,4:0", **kw)
    s = make()
    rows = [s.next_rows() for _ in range(6)]
    assert all(ratings[r].min() >= 51 for r in rows[:2])
    assert all(ratings[r].min() >= 1 for r in rows[2:4])
    assert s.pools[0].size == n and s.pools[21].size == 49 * 2
    resumed = make()
    resumed.set_state({"step": 3})
    np.testing.assert_array_equal(resumed.next_rows(), rows[3])
    halves = [make(process_index=i, process_count=2) for i in (0, 1)]
    for h in halves:
        h.set_state({"step": 5})
    np.testing.assert_array_equal(np.concatenate([h.next_rows() for h in halves]), rows[5])
    batch = next(make())
    assert batch["inputs"].shape == (8, 4) and batch["labels"].dtype == np.int32
    with pytest.raises(official.DataError, match="no training rows"):
        sd.CurriculumSampler(data, np.zeros(n, int), 8, 0, "0:21")
