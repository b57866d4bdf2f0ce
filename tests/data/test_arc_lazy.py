"""ARC splits encoded on demand equal the official layout, row by row."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.data import arc
from rrm_jax.data.sampler import TrainSampler, eval_batches

rng = np.random.default_rng(0)


def _grid(h, w):
    return rng.integers(0, 10, (h, w)).tolist()


def _task(n_train, shapes):
    pairs = [{"input": _grid(*s), "output": _grid(*s[::-1])} for s in shapes]
    return {"train": pairs[:n_train], "test": pairs[n_train:]}


TASKS = {
    "a": _task(2, [(3, 4), (5, 2), (2, 2)]),
    "b": _task(3, [(30, 7), (1, 1), (4, 9), (6, 3), (2, 8)]),
    "c": _task(1, [(7, 7), (3, 5)]),
}
TEST_TASKS = ["c", "a"]


@pytest.fixture(scope="module")
def splits():
    augs = {
        t: arc.augmentation_list(arc.validate_task(t, task), 3, np.random.default_rng(1))
        for t, task in TASKS.items()
    }
    eager = arc.materialize(TASKS, augs, test_tasks=TEST_TASKS, seed=0)
    lazy = arc.lazy_splits(TASKS, augs, test_tasks=TEST_TASKS, seed=0)
    plans, _, _ = arc.plan_splits(TASKS, augs, test_tasks=TEST_TASKS)
    return eager, lazy, plans


def test_same_layout_identifiers_and_scoring_tasks(splits):
    (e_train, e_test, e_ids, e_puzzles), (l_train, l_test, l_ids, l_puzzles), _ = splits
    assert e_ids == l_ids and e_puzzles == l_puzzles
    for e, lz in ((e_train, l_train), (e_test, l_test)):
        assert e.metadata == lz.metadata
        for f in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
            np.testing.assert_array_equal(getattr(e, f), getattr(lz, f))
        assert lz.inputs.shape == e.inputs.shape and lz.inputs.dtype == np.uint8


def test_test_split_rows_are_the_official_ones(splits):
    (_, e_test, _, _), (_, l_test, _, _), _ = splits
    # Test examples are never translated, so the rows are fully determined.
    np.testing.assert_array_equal(l_test.inputs[:], e_test.inputs)
    np.testing.assert_array_equal(l_test.labels[np.arange(len(e_test.labels))], e_test.labels)


def test_train_rows_are_the_augmented_pairs_at_their_offsets(splits):
    _, (l_train, *_), plans = splits
    plan = plans["train"]
    rows = l_train.inputs._rows
    offsets = rows.offsets
    for e in range(plan.num_examples):
        g, k = int(rows._example_group[e]), int(rows._example_variant[e])
        gi, go = plan.grids(g, k, int(plan.example_pair[e]))
        np.testing.assert_array_equal(l_train.inputs[e], arc.encode_grid(gi, offsets[e]))
        np.testing.assert_array_equal(l_train.labels[e], arc.encode_grid(go, offsets[e]))
    # One untranslated example per puzzle, the others anywhere the grids fit (some translated).
    starts = plan.puzzle_indices[:-1]
    for p, (lo, hi) in enumerate(zip(starts, plan.puzzle_indices[1:], strict=True)):
        assert (np.abs(offsets[lo:hi]).sum(1) == 0).any(), p
    assert (offsets.sum(1) > 0).any()


def test_the_sampler_and_evaluation_read_lazy_splits(splits):
    _, (l_train, l_test, ids, _), _ = splits
    batch = next(TrainSampler(l_train, 6, seed=3))
    assert batch["inputs"].shape == (6, 900) and batch["inputs"].dtype == np.int32
    assert set(batch["puzzle_identifiers"].tolist()) <= set(range(1, len(ids)))
    seen = sum(int(b["valid"].sum()) for b in eval_batches(l_test, 5))
    assert seen == l_test.num_examples
