"""The generated-Sudoku builder writes exactly `rrm_jax.data.generated_sudoku`'s puzzles."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax import config as rrm_config
from rrm_jax.data import generated_sudoku, official, sudoku
from rrm_jax.data import tfds as rrm_tfds

NAME = "sudoku_generated"


@pytest.fixture(scope="module")
def module():
    return rrm_tfds.load_module(NAME)


def test_configs_default_to_the_cpu_preset(module):
    configs = {c.name: c for c in module.Builder.BUILDER_CONFIGS}
    assert sorted(configs) == ["2x2", "2x3", "3x3"]
    c = rrm_config.base_config()
    rrm_config.cpu_sudoku(c)
    preset = {k: c.data[k] for k in ("board", "num_train", "num_test", "seed", "min_givens")}
    assert preset == dict(board="2x3", num_train=3000, num_test=500, seed=0, min_givens=0)
    cfg = configs["2x3"]
    assert {k: getattr(cfg, k) for k in preset} == preset
    assert module.Builder.DEFAULT_CONFIG_NAME == "2x3"
    for board, cfg in configs.items():
        assert cfg.board == board
        assert (cfg.num_train, cfg.num_test, cfg.seed, cfg.min_givens) == (3000, 500, 0, 0)


def _check_equal(tmp_path, config, board: str, num_train, num_test, seed, min_givens):
    b = rrm_tfds.prepare(NAME, config, tmp_path)
    assert b.info.splits["train"].num_examples == num_train
    assert b.info.splits["test"].num_examples == num_test
    board_ = sudoku.parse_board(board)
    train, test, gen = generated_sudoku(board_, num_train, num_test, seed, min_givens)
    for split, ref, rows in (
        ("train", train, slice(0, num_train)),
        ("test", test, slice(num_train, None)),
    ):
        data = rrm_tfds.load_split(NAME, config, split, tmp_path)
        official.validate(data, f"{NAME}/{split}")
        np.testing.assert_array_equal(data.inputs, ref.inputs)
        np.testing.assert_array_equal(data.labels, ref.labels)
        assert data.inputs.dtype == np.uint8
        assert data.metadata == ref.metadata
        ex = rrm_tfds.read_examples(NAME, config, split, tmp_path)
        items = rrm_tfds.data_source(NAME, config, split, tmp_path)
        ratings = {items[i]["index"]: items[i]["rating"] for i in range(len(items))}
        np.testing.assert_array_equal(
            [ratings[i] for i in range(len(ratings))], gen["rating"][rows]
        )
        assert sorted(ex["index"].tolist()) == list(range(len(ratings)))


def test_default_2x2_config_equals_generated_sudoku(tmp_path):
    _check_equal(tmp_path, "2x2", "2x2", 3000, 500, 0, 0)


def test_custom_config_equals_generated_sudoku(tmp_path, module):
    config = module.SudokuGeneratedConfig(
        name="small_2x3", board="2x3", num_train=40, num_test=9, seed=3, min_givens=14
    )
    _check_equal(tmp_path, config, "2x3", 40, 9, 3, 14)
