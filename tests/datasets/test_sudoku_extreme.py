"""The Sudoku-Extreme builder: fake CSVs, the seeded 1k subsample, the real numpy folder."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.data import official
from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.official import DataError
from tests.datasets import fakes

NAME = "sudoku_extreme"


@pytest.fixture(scope="module")
def module():
    return rrm_tfds.load_module(NAME)


@pytest.fixture(scope="module")
def csv_source(tmp_path_factory):
    """1500 train rows (more than the 1k subsample) and 40 test rows."""
    src = tmp_path_factory.mktemp("sudoku_csv")
    train = fakes.sudoku_rows(1500, seed=1)
    test = fakes.sudoku_rows(40, seed=2)
    # '0' is a blank too, as in the official builder.
    test[0] = (test[0][0], "0" + test[0][1][1:], test[0][2], test[0][3])
    fakes.write_csv(src / "train.csv", train)
    fakes.write_csv(src / "test.csv", test)
    return src, train, test


def _tokens(rows, column: int) -> np.ndarray:
    table = {".": 1, "0": 1, **{str(d): d + 1 for d in range(1, 10)}}
    return np.array([[table[c] for c in r[column]] for r in rows], dtype=np.uint8)


def test_full_config_from_csv(csv_source, tmp_path):
    src, train, test = csv_source
    b = rrm_tfds.prepare(NAME, "full", tmp_path, source_dir=src)
    assert {s: i.num_examples for s, i in b.info.splits.items()} == {"train": 1500, "test": 40}
    assert b.info.file_format.value == "array_record"

    items = rrm_tfds.data_source(NAME, "full", "test", tmp_path)
    example = items[3]
    assert example["inputs"].dtype == np.uint8 and example["inputs"].shape == (81,)
    assert example["labels"].dtype == np.uint8 and example["labels"].shape == (81,)
    assert isinstance(example["rating"], int) and isinstance(example["index"], int)
    by_index = {items[i]["index"]: items[i] for i in range(len(items))}
    assert sorted(by_index) == list(range(40))
    for i in (0, 7, 39):
        assert by_index[i]["rating"] == test[i][3]
        assert by_index[i]["source"] in (test[i][0], test[i][0].encode())
        np.testing.assert_array_equal(by_index[i]["inputs"], _tokens(test, 1)[i])

    for split, rows in (("train", train), ("test", test)):
        data = rrm_tfds.load_split(NAME, "full", split, tmp_path)
        official.validate(data, f"{NAME}/{split}")
        np.testing.assert_array_equal(data.inputs, _tokens(rows, 1))
        np.testing.assert_array_equal(data.labels, _tokens(rows, 2))
        assert data.inputs.min() >= 1 and data.inputs.max() <= 10
        assert data.labels.min() >= 2 and data.labels.max() <= 10
        m = data.metadata
        assert (m.seq_len, m.vocab_size, m.pad_id, m.ignore_label_id) == (81, 11, 0, 0)
        assert (m.num_puzzle_identifiers, data.num_puzzles, data.num_groups) == (
            1,
            len(rows),
            len(rows),
        )
        assert not data.puzzle_identifiers.any()


def test_1k_subsample_is_seeded_subset(csv_source, tmp_path, module):
    src, train, test = csv_source
    built = []
    for run in ("a", "b"):
        rrm_tfds.prepare(NAME, "1k", tmp_path / run, source_dir=src)
        built.append(rrm_tfds.read_examples(NAME, "1k", "train", tmp_path / run))
    a, b = built
    assert a["inputs"].shape == (1000, 81)
    order = np.argsort(a["index"])
    index = a["index"][order]
    np.testing.assert_array_equal(index, np.sort(b["index"]))  # deterministic
    assert len(set(index.tolist())) == 1000 and index.max() < 1500  # a subset of the rows
    # The official draw, with the recorded seed.
    expected = np.sort(np.random.RandomState(0).choice(1500, 1000, replace=False))
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(a["inputs"][order], _tokens(train, 1)[expected])
    np.testing.assert_array_equal(a["labels"][order], _tokens(train, 2)[expected])
    # The test split is the full one.
    assert rrm_tfds.load_split(NAME, "1k", "test", tmp_path / "a").num_examples == 40
    config = {c.name: c for c in module.Builder.BUILDER_CONFIGS}["1k"]
    assert (config.subsample_size, config.subsample_seed) == (1000, 0)


def test_manual_dir_is_a_source(csv_source, tmp_path):
    src, train, _ = csv_source
    b = rrm_tfds.prepare(NAME, "full", tmp_path, manual_dir=src)
    assert b.info.splits["train"].num_examples == len(train)


def test_real_numpy_train_folder(real_sudoku, tmp_path):
    # The folder has no test arrays: the default (both splits) says so and writes nothing.
    with pytest.raises(DataError, match=r"test/all__inputs\.npy: missing file.*splits="):
        rrm_tfds.prepare(NAME, "1k", tmp_path, source_dir=real_sudoku)
    fakes.assert_nothing_readable(NAME, "1k", tmp_path)

    b = rrm_tfds.prepare(NAME, "1k", tmp_path, source_dir=real_sudoku, splits=("train",))
    assert list(b.info.splits) == ["train"]
    data = rrm_tfds.load_split(NAME, "1k", "train", tmp_path)
    ref = official.load_split(real_sudoku, "train")
    official.validate(data, "sudoku_extreme/train")
    # 1000 rows in the source: the official subsample keeps them all, in order.
    np.testing.assert_array_equal(data.inputs, ref.inputs)
    np.testing.assert_array_equal(data.labels, ref.labels)
    assert data.metadata == ref.metadata
    item = rrm_tfds.data_source(NAME, "1k", "train", tmp_path)[0]
    assert item["rating"] == -1
    with pytest.raises(DataError, match="no split 'test'"):
        rrm_tfds.load_split(NAME, "1k", "test", tmp_path)
