"""`rrm_jax.data.tfds`: loading builders by path, reading splits, the fast reader, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_feature_pb2

import rrm_jax
from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.data.official import DataError
from rrm_jax.data.sampler import TrainSampler, eval_batches
from rrm_jax.data.tfds import reader
from tests.datasets import fakes


def test_load_builder_by_path_registers_it(tmp_path):
    for name in rrm_tfds.NAMES:
        cls = rrm_tfds.load_builder(name)
        assert cls is rrm_tfds.load_builder(name)  # loaded once
        assert cls.name == name
        assert tfds.builder_cls(name) is cls
        assert rrm_tfds.builder_path(name).parent == rrm_tfds.datasets_dir() / name
    # The repository folder shadows nothing: the Hugging Face `datasets` name stays free.
    assert not (rrm_tfds.datasets_dir() / "__init__.py").exists()


def test_missing_builders_folder_is_explained(tmp_path, monkeypatch):
    fake = tmp_path / "site-packages" / "rrm_jax" / "__init__.py"
    monkeypatch.setattr(rrm_jax, "__file__", str(fake))
    with pytest.raises(FileNotFoundError, match=r"no dataset builders folder.*pip install -e"):
        rrm_tfds.load_builder("maze_hard")
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match=r"no such builder file.*maze_hard"):
        rrm_tfds.load_builder("no_such_benchmark")
    with pytest.raises(ValueError, match="invalid builder name"):
        rrm_tfds.load_builder("../maze_hard")


def test_builder_arguments_are_checked():
    with pytest.raises(ValueError, match="source_format"):
        rrm_tfds.builder("maze_hard", "default", source_format="parquet")
    with pytest.raises(ValueError, match="splits"):
        rrm_tfds.builder("sudoku_extreme", "1k", splits=("validation",))


def test_absent_dataset_or_split(tmp_path):
    with pytest.raises(DataError, match="no prepared dataset maze_hard/default"):
        rrm_tfds.load_split("maze_hard", "default", "train", tmp_path)
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", fakes.maze_rows(3, seed=0))
    rrm_tfds.prepare("maze_hard", None, tmp_path / "data", source_dir=src, splits=["train"])
    with pytest.raises(DataError, match="has no split 'test'"):
        rrm_tfds.load_split("maze_hard", None, "test", tmp_path / "data")
    # An existing dataset is reused as it is, unless overwritten.
    fakes.write_csv(src / "test.csv", fakes.maze_rows(2, seed=1))
    b = rrm_tfds.prepare("maze_hard", None, tmp_path / "data", source_dir=src)
    assert list(b.info.splits) == ["train"]
    b = rrm_tfds.prepare("maze_hard", None, tmp_path / "data", source_dir=src, overwrite=True)
    assert sorted(b.info.splits) == ["test", "train"]
    assert rrm_tfds.load_split("maze_hard", None, "test", tmp_path / "data").num_examples == 2


def test_without_a_source_folder_the_official_csvs_are_downloaded(tmp_path, monkeypatch):
    """The last resort (no network here): the download manager gets the Hugging Face URLs."""
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", fakes.maze_rows(3, seed=0))
    fakes.write_csv(src / "test.csv", fakes.maze_rows(1, seed=1))
    asked = {}

    def download(self, urls):
        asked.update(urls)
        return {split: src / url.rsplit("/", 1)[1] for split, url in urls.items()}

    monkeypatch.setattr(tfds.download.DownloadManager, "download", download)
    b = rrm_tfds.prepare("maze_hard", "default", tmp_path / "data")
    assert asked == {
        split: f"https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k/resolve/main/"
        f"{split}.csv"
        for split in ("train", "test")
    }
    assert b.info.splits["train"].num_examples == 3
    with pytest.raises(DataError, match="source_format='official' needs source_dir"):
        rrm_tfds.prepare("sudoku_extreme", "1k", tmp_path / "data2", source_format="official")


def _int64_lists(rows):
    return [tf_feature_pb2.Int64List(value=list(map(int, r))) for r in rows]


def test_int64_rows_fast_and_general_paths():
    small = np.arange(12).reshape(3, 4) % 11
    np.testing.assert_array_equal(reader._int64_rows(_int64_lists(small), 4), small)
    large = np.array([[1, 200, 3, 255], [0, 127, 128, 5]])  # two-byte varints: the general path
    np.testing.assert_array_equal(reader._int64_rows(_int64_lists(large), 4), large)
    # 3 values, one of two bytes: 4 payload bytes, as 4 one-byte values would be. Read as rows
    # of 4 it must fail, not return the bytes.
    mixed = [tf_feature_pb2.Int64List(value=[1, 300, 2])] * 2
    np.testing.assert_array_equal(reader._int64_rows(mixed, 3), [[1, 300, 2]] * 2)
    with pytest.raises(ValueError):
        reader._int64_rows(mixed, 4)
    long_rows = np.ones((2, 900), dtype=np.int64)  # a two-byte length header
    np.testing.assert_array_equal(reader._int64_rows(_int64_lists(long_rows), 900), long_rows)


def test_fast_reader_equals_tfds_decoding(tmp_path):
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", fakes.sudoku_rows(37, seed=4))
    fakes.write_csv(src / "test.csv", fakes.sudoku_rows(5, seed=5))
    rrm_tfds.prepare("sudoku_extreme", "full", tmp_path / "data", source_dir=src)
    fast = rrm_tfds.read_examples("sudoku_extreme", "full", "train", tmp_path / "data")
    items = rrm_tfds.data_source("sudoku_extreme", "full", "train", tmp_path / "data")
    assert len(items) == 37
    for i in range(37):
        np.testing.assert_array_equal(fast["inputs"][i], items[i]["inputs"])
        np.testing.assert_array_equal(fast["labels"][i], items[i]["labels"])
        assert fast["index"][i] == items[i]["index"]
    assert fast["inputs"].dtype == np.uint8


def test_puzzle_data_feeds_the_trainer_sampler(tmp_path):
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", fakes.sudoku_rows(20, seed=6))
    fakes.write_csv(src / "test.csv", fakes.sudoku_rows(7, seed=7))
    rrm_tfds.prepare("sudoku_extreme", "1k", tmp_path / "data", source_dir=src)
    train = rrm_tfds.load_split("sudoku_extreme", "1k", "train", tmp_path / "data")
    test = rrm_tfds.load_split("sudoku_extreme", "1k", "test", tmp_path / "data")
    batch = next(TrainSampler(train, global_batch_size=8, seed=0))
    assert batch["inputs"].shape == (8, 81) and batch["labels"].shape == (8, 81)
    batches = list(eval_batches(test, 4))
    assert sum(int(b["valid"].sum()) for b in batches) == 7


def test_encodings_round_trip():
    sudoku_module = rrm_tfds.load_module("sudoku_extreme")
    rows = fakes.sudoku_rows(3, seed=8)
    tokens = sudoku_module.ENCODING.to_tokens([r[1] for r in rows])
    assert sudoku_module.ENCODING.to_strings(tokens) == [r[1] for r in rows]
    with pytest.raises(ValueError, match="no character"):
        sudoku_module.ENCODING.to_strings(np.zeros((1, 81), dtype=np.uint8))


def test_command_line(tmp_path, capsys):
    src = tmp_path / "src"
    fakes.write_csv(src / "train.csv", fakes.maze_rows(3, seed=1))
    fakes.write_csv(src / "test.csv", fakes.maze_rows(2, seed=2))
    data = tmp_path / "data"
    rrm_tfds.main(
        ["--name=maze_hard", "--config=default", f"--data_dir={data}", f"--source_dir={src}"]
    )
    out = capsys.readouterr().out
    assert "maze_hard/default/1.0.0" in out and "'train': 3" in out and "'test': 2" in out
    assert rrm_tfds.load_split("maze_hard", "default", "test", data).num_examples == 2
