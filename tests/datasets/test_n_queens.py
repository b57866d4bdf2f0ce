"""The N-Queens builder: all solutions minus k queens, split by distinct input, all completions."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax import config as rrm_config
from rrm_jax import data as rrm_data
from rrm_jax.data import csp as csp_data
from rrm_jax.data import official
from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.sampler import IGNORE_LABEL, TrainSampler
from rrm_jax.eval import csp

NAME = "n_queens"


@pytest.fixture(scope="module")
def module():
    return rrm_tfds.load_module(NAME)


@pytest.fixture(scope="module")
def eight():
    return csp_data.n_queens_splits(8, (5, 6, 7), seed=0)


def _keys(x):
    return [r.tobytes() for r in x]


def test_configs_follow_the_paper(module):
    configs = {c.name: c for c in module.Builder.BUILDER_CONFIGS}
    assert sorted(configs) == ["10x10", "5x5", "8x8"]
    assert module.Builder.DEFAULT_CONFIG_NAME == "8x8"
    assert (configs["8x8"].n, tuple(configs["8x8"].removed)) == (8, (5, 6, 7))
    assert (configs["10x10"].n, tuple(configs["10x10"].removed)) == (10, (7, 8, 9))
    for c in configs.values():
        assert (c.train_fraction, c.seed, c.max_inputs, c.train_targets) == (0.85, 0, 0, "all")


def test_8x8_sizes_and_disjoint_splits(eight):
    train, test = eight["train"], eight["test"]
    # 92 solutions x (C(8,5) + C(8,6) + C(8,7)) = 8464 (input, solution) pairs, each stored once.
    assert len(train) + sum(test.num_solutions) == 92 * (56 + 28 + 8)
    assert (train.num_puzzles, test.num_puzzles) == (4376, 772)  # 85:15 of 5148 inputs
    assert len(test) == test.num_puzzles
    train_inputs = set(_keys(train.inputs))
    assert len(train_inputs) == train.num_puzzles
    assert len(set(_keys(test.inputs))) == len(test)
    assert not train_inputs & set(_keys(test.inputs))
    for split in (train, test):
        assert csp.n_queens_valid(split.labels, split.inputs, 8).all()
        assert split.inputs.dtype == split.labels.dtype == np.uint8
        assert set(np.unique(split.inputs)) == {csp.EMPTY, csp.QUEEN}
        queens_left = (split.inputs == csp.QUEEN).sum(1)
        assert set(queens_left.tolist()) == {1, 2, 3}
        assert [s.rsplit("=", 1)[1] for s in split.source[:50]] == [
            str(8 - q) for q in queens_left[:50]
        ]
    assert test.num_solutions.max() > 1  # multi-solution inputs exist


def test_groups_hold_every_completion_and_counts_are_right(eight):
    train, test = eight["train"], eight["test"]
    group = train.group
    assert group[0] == 0 and set(np.diff(group).tolist()) <= {0, 1}
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    sizes = np.diff(np.append(starts, len(train)))
    np.testing.assert_array_equal(sizes, train.num_solutions[starts])
    rng = np.random.default_rng(0)
    for g in rng.choice(train.num_puzzles, 40, replace=False):
        rows = np.flatnonzero(group == g)
        assert len(set(_keys(train.inputs[rows]))) == 1
        want = csp.n_queens_completions(train.inputs[rows[0]], 8)
        assert sorted(_keys(train.labels[rows])) == sorted(_keys(want))
    for i in rng.choice(len(test), 40, replace=False):
        assert len(csp.n_queens_completions(test.inputs[i], 8)) == test.num_solutions[i]
    np.testing.assert_array_equal(test.group, np.arange(len(test)))


def test_seed_subsample_and_one_target():
    a = csp_data.n_queens_splits(7, seed=3)
    b = csp_data.n_queens_splits(7, seed=3)
    c = csp_data.n_queens_splits(7, seed=4)
    for split in ("train", "test"):
        np.testing.assert_array_equal(a[split].inputs, b[split].inputs)
        np.testing.assert_array_equal(a[split].labels, b[split].labels)
    assert _keys(a["test"].inputs) != _keys(c["test"].inputs)
    one = csp_data.n_queens_splits(7, seed=3, train_targets="one")
    assert len(one["train"]) == one["train"].num_puzzles == a["train"].num_puzzles
    np.testing.assert_array_equal(one["test"].labels, a["test"].labels)  # test is the same
    assert csp.n_queens_valid(one["train"].labels, one["train"].inputs, 7).all()
    small = csp_data.n_queens_splits(7, seed=3, max_inputs=100)
    assert small["train"].num_puzzles + small["test"].num_puzzles == 100
    with pytest.raises(ValueError, match="removed"):
        csp_data.n_queens_splits(6, (0, 1))
    with pytest.raises(ValueError, match="train_targets"):
        csp_data.n_queens_splits(6, train_targets="some")


def test_builder_and_the_trainer_path(tmp_path):
    b = rrm_tfds.prepare(NAME, "5x5", tmp_path)
    ref = csp_data.n_queens_splits(5, (2, 3, 4), seed=0)
    assert {s: i.num_examples for s, i in b.info.splits.items()} == {
        "train": len(ref["train"]),
        "test": len(ref["test"]),
    }
    assert dict(b.info.metadata)["task"] == NAME
    for split in ("train", "test"):
        data = rrm_tfds.load_split(NAME, "5x5", split, tmp_path)
        official.validate(data, f"{NAME}/{split}")
        np.testing.assert_array_equal(data.inputs, ref[split].inputs)
        np.testing.assert_array_equal(data.labels, ref[split].labels)
        assert data.num_groups == ref[split].num_puzzles
        np.testing.assert_array_equal(
            csp_data.solution_counts(NAME, "5x5", split, tmp_path), ref[split].num_solutions
        )
        ex = rrm_tfds.read_examples(NAME, "5x5", split, tmp_path)
        np.testing.assert_array_equal(np.sort(ex["group"]), ref[split].group)

    c = rrm_config.base_config()
    c.data.update(dict(source="tfds", name=NAME, config="5x5", data_dir=str(tmp_path)))
    rrm_config.validate(c)
    ds = rrm_data.build(c.data)
    assert ds.kind == "n_queens"
    m = ds.metadata
    assert (m.vocab_size, m.seq_len, m.pad_id, m.ignore_label_id) == (3, 25, 0, 0)
    assert ds.train.num_groups == ref["train"].num_puzzles < ds.train.num_examples
    assert ds.test.num_examples == len(ref["test"])
    batch = next(TrainSampler(ds.train, global_batch_size=16, seed=0))
    assert batch["inputs"].shape == (16, 25) and not (batch["labels"] == IGNORE_LABEL).any()
    # The 8 symmetries of the board are allowed; a Sudoku permutation is not.
    c.data.update(dict(augmentation="dihedral", num_aug=7))
    rrm_config.validate(c)
    c.data.update(dict(augmentation="sudoku"))
    with pytest.raises(rrm_config.ConfigError, match="n_queens"):
        rrm_config.validate(c)


def test_from_examples_groups():
    x = np.ones((5, 4), dtype=np.uint8)
    data = official.from_examples(x, x, vocab_size=3, group_ids=[0, 0, 1, 2, 2])
    np.testing.assert_array_equal(data.group_indices, [0, 2, 3, 5])
    np.testing.assert_array_equal(data.puzzle_indices, np.arange(6))
    assert (data.metadata.total_groups, data.metadata.total_puzzles) == (3, 5)
    for bad in ([0, 0, 2, 2, 3], [1, 1, 2, 3, 4], [0, 1, 0, 1, 2], [0, 1]):
        with pytest.raises(official.DataError, match="group_ids"):
            official.from_examples(x, x, vocab_size=3, group_ids=bad)
