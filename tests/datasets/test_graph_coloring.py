"""The graph-colouring builder: distinct 3-colourable random graphs, canonical colourings."""

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

NAME = "graph_coloring"


@pytest.fixture(scope="module")
def module():
    return rrm_tfds.load_module(NAME)


@pytest.fixture(scope="module")
def six():
    return csp_data.graph_coloring_splits(6, 0.45, 300, 40, seed=0)


def _keys(x):
    return [r.tobytes() for r in x]


def test_configs_follow_the_paper(module):
    configs = {c.name: c for c in module.Builder.BUILDER_CONFIGS}
    assert sorted(configs) == ["10_nodes", "5_nodes", "8_nodes"]
    assert module.Builder.DEFAULT_CONFIG_NAME == "8_nodes"
    sizes = {name: (c.n, c.num_train, c.num_test) for name, c in configs.items()}
    assert sizes["8_nodes"] == (8, 7002, 255) and sizes["10_nodes"] == (10, 13465, 192)
    for c in configs.values():
        assert (c.edge_prob, c.seed, c.train_targets) == (0.45, 0, "all")


def test_paper_counts_of_distinct_graphs():
    graphs = csp_data.random_graphs(8, 0.45, 7002 + 255, seed=0)
    assert graphs.shape == (7257, 28)
    assert len(set(_keys(graphs))) == 7257
    tokens = graphs.astype(np.uint8) + csp.NO_EDGE
    assert csp.proper_colorings_mask(tokens, 8).any(1).all()


def test_token_layout_and_disjoint_splits(six):
    train, test = six["train"], six["test"]
    n, t = 6, csp.triangle_len(6)
    assert (train.num_puzzles, test.num_puzzles, len(test)) == (300, 40, 40)
    assert not set(_keys(train.inputs)) & set(_keys(test.inputs))
    assert len(set(_keys(test.inputs))) == 40 and len(set(_keys(train.inputs))) == 300
    for split in (train, test):
        assert split.inputs.shape[1] == split.labels.shape[1] == t + n
        assert set(np.unique(split.inputs[:, :t])) <= {csp.NO_EDGE, csp.EDGE}
        assert (split.inputs[:, t:] == csp.PAD).all()
        assert (split.labels[:, :t] == 0).all()  # the ignore label: no loss on the triangle
        colors = split.labels[:, t:].astype(np.int64) - csp.COLOR_BASE
        assert colors.min() >= 0 and colors.max() < csp.NUM_COLORS
        np.testing.assert_array_equal(csp.canonical_coloring(colors), colors)
        assert csp.graph_coloring_valid(split.labels, n, inputs=split.inputs).all()
    assert test.num_solutions.max() > 1


def test_groups_hold_every_colouring_and_counts_are_right(six):
    train, test = six["train"], six["test"]
    n = 6
    starts = np.flatnonzero(np.diff(train.group, prepend=-1))
    assert len(starts) == 300
    np.testing.assert_array_equal(
        np.diff(np.append(starts, len(train))), train.num_solutions[starts]
    )
    for g in range(0, 300, 7):
        rows = np.flatnonzero(train.group == g)
        assert len(set(_keys(train.inputs[rows]))) == 1
        want = csp.enumerate_solutions(NAME, train.inputs[rows[0]], n)
        assert _keys(train.labels[rows]) == _keys(want)
    for i in range(len(test)):
        assert len(csp.graph_colorings(test.inputs[i], n)) == test.num_solutions[i]


def test_seed_and_one_target():
    a = csp_data.graph_coloring_splits(5, 0.45, 60, 10, seed=1)
    b = csp_data.graph_coloring_splits(5, 0.45, 60, 10, seed=1, train_targets="one")
    assert len(b["train"]) == 60 < len(a["train"])
    np.testing.assert_array_equal(b["test"].labels, a["test"].labels)
    np.testing.assert_array_equal(np.unique(b["train"].inputs, axis=0).shape, (60, 15))
    again = csp_data.graph_coloring_splits(5, 0.45, 60, 10, seed=1)
    np.testing.assert_array_equal(again["train"].labels, a["train"].labels)
    with pytest.raises(ValueError, match="only 64 graphs"):
        csp_data.random_graphs(4, 0.5, 65, seed=0)
    with pytest.raises(ValueError, match="3-colourable"):
        csp_data.random_graphs(5, 1.0, 1, seed=0, max_draws=5000)  # K5 only


def test_builder_and_the_trainer_path(tmp_path):
    b = rrm_tfds.prepare(NAME, "5_nodes", tmp_path)
    ref = csp_data.graph_coloring_splits(5, 0.45, 200, 20, seed=0)
    assert b.info.splits["train"].num_examples == len(ref["train"])
    assert b.info.splits["test"].num_examples == 20
    for split in ("train", "test"):
        data = rrm_tfds.load_split(NAME, "5_nodes", split, tmp_path)
        official.validate(data, f"{NAME}/{split}")
        np.testing.assert_array_equal(data.inputs, ref[split].inputs)
        np.testing.assert_array_equal(data.labels, ref[split].labels)
        np.testing.assert_array_equal(
            csp_data.solution_counts(NAME, "5_nodes", split, tmp_path), ref[split].num_solutions
        )
    c = rrm_config.base_config()
    c.data.update(dict(source="tfds", name=NAME, config="5_nodes", data_dir=str(tmp_path)))
    rrm_config.validate(c)
    ds = rrm_data.build(c.data)
    assert ds.kind == "graph_coloring"
    m = ds.metadata
    assert (m.vocab_size, m.seq_len, m.pad_id, m.ignore_label_id) == (6, 15, 0, 0)
    assert ds.train.num_groups == 200 and ds.test.num_examples == 20
    batch = next(TrainSampler(ds.train, global_batch_size=32, seed=0))
    t = csp.triangle_len(5)
    assert (batch["labels"][:, :t] == IGNORE_LABEL).all()
    assert ((batch["labels"][:, t:] >= 3) & (batch["labels"][:, t:] <= 5)).all()
    c.data.update(dict(augmentation="dihedral", num_aug=7))  # 15 tokens: not even a grid
    with pytest.raises(rrm_config.ConfigError, match="graph_coloring"):
        rrm_config.validate(c)
