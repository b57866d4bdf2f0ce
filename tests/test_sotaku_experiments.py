"""experiments/sotaku.py: rows build with the reference's settings; `tiny` trains end to end; the
curriculum and the stratified test subset run through the trainer; a trained checkpoint is
evaluated at another iteration count."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rrm_jax import models
from rrm_jax.config import validate
from rrm_jax.data import sotaku as sotaku_data
from rrm_jax.train import loop
from tests.test_experiments import load_experiment

SOTAKU = load_experiment("sotaku.py")


@pytest.mark.parametrize("row", sorted(SOTAKU.ROWS))
def test_row_is_valid_with_the_reference_settings(row):
    c = SOTAKU.get_config(row)
    validate(c)
    assert c.model.name == "sotaku" and c.paper.row
    assert c.recursion.gradient == "full" and c.act.max_steps == 1
    assert (c.loss.q_weight, c.loss.lm_weight) == (0.0, 0.0)
    assert c.sotaku.dropout == 0.1 and c.model.rope_theta == 10.0
    o = c.optim
    assert (o.optimizer, o.beta1, o.beta2, o.weight_decay, o.grad_clip, o.ema) == (
        "adamw",
        0.9,
        0.95,
        0.01,
        0.0,
        False,
    )
    if row == "tiny":
        return
    m = c.model
    assert (m.hidden_size, m.num_heads, m.num_layers, m.expansion) == (128, 4, 4, 4.0)
    assert c.recursion.cycles == 16 and c.sotaku.eval_iterations == 1024
    assert (o.lr, o.warmup_steps, o.lr_min_ratio) == (2e-3, 1400, 0.01)
    assert (c.train.global_batch_size, c.train.steps) == (2048, 50_000)
    c.model.update(dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1))
    shapes = jax.eval_shape(models.build(c).init, jax.random.PRNGKey(0), {})
    assert models.count_params(shapes["dense"]) == 796_937


def test_sudoku_extreme_row_is_the_reference_protocol():
    c = SOTAKU.get_config("sudoku_extreme")
    assert c.paper.reported == 98.9
    s = c.sotaku
    assert (s.train_first, s.curriculum, s.test_subset, s.test_per_bucket, s.test_seed) == (
        2_700_000,
        "0:21,10000:6,20000:1,30000:0",
        "stratified",
        5000,
        42,
    )
    assert (c.data.name, c.data.config, c.data.augmentation) == ("sudoku_extreme", "full", "none")
    d = SOTAKU.get_config("data_matched")
    assert (d.data.config, d.data.augmentation, d.data.num_aug) == ("1k", "sudoku", 1000)
    assert not d.sotaku.curriculum and not d.sotaku.test_subset


def test_iteration_option_changes_only_the_test_iterations():
    base = SOTAKU.get_config("sudoku_extreme").to_dict()
    for n, reported in SOTAKU.ITERATION_CURVE.items():
        c = SOTAKU.get_config(f"sudoku_extreme,iters={n}")
        assert c.sotaku.eval_iterations == n and c.paper.reported == reported
        assert f"{n} test iterations" in c.paper.row
        d = c.to_dict()
        d["sotaku"]["eval_iterations"] = 1024
        d["paper"] = base["paper"]
        assert d == base
    assert SOTAKU.get_config("sudoku_extreme,iters=100").paper.reported == -1.0
    full = SOTAKU.get_config("sudoku_extreme,test=full")
    assert full.sotaku.test_subset == "" and full.paper.reported == -1.0
    for bad in ("nope", "sudoku_extreme,iters=0", "tiny,test=full", "sudoku_extreme,x=1"):
        with pytest.raises(ValueError):
            SOTAKU.get_config(bad)


def _shrink(c, tmp_path):
    c.model.update(dict(hidden_size=16, num_heads=2, num_layers=1))
    c.recursion.cycles = 2
    c.sotaku.eval_iterations = 3
    c.optim.warmup_steps = 1
    c.data.update(dict(data_dir=str(tmp_path / "tfds")))
    c.train.update(dict(global_batch_size=8, steps=2, eval_every=2, progress=False))
    c.eval.update(dict(batch_size=8, max_examples=16, plot=False))
    return c


def test_tiny_trains_end_to_end(tmp_path):
    c = _shrink(SOTAKU.get_config("tiny"), tmp_path)
    c.data.update(dict(num_train=64, num_test=16))
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 2 and summary["count"] == 16
    assert 0 <= summary["exact_accuracy"] <= summary["accuracy"] <= 1


def test_curriculum_and_stratified_subset_through_the_trainer_then_more_iterations(tmp_path):
    """The sudoku_extreme protocol on the generated 6x6 builder (its `rating` is the solver's
    node count); then `rrm_jax.evaluate`'s path on the checkpoint at another iteration count."""
    from rrm_jax.evaluate import checkpoint_params, evaluate_params

    c = _shrink(SOTAKU.get_config("tiny"), tmp_path)
    c.data.update(
        dict(source="tfds", name="sudoku_generated", config="2x3", augmentation="none", num_aug=0)
    )
    c.sotaku.update(
        dict(curriculum="0:3,1:0", test_subset="stratified", test_per_bucket=20, train_first=2000)
    )
    c.eval.max_examples = 0
    summary = loop.run(c, str(tmp_path / "run"))
    ratings = sotaku_data.ratings_for(c.data, "test")
    expected = len(sotaku_data.stratified_subset(ratings, 20, 42))
    assert summary["step"] == 2 and summary["count"] == expected
    sampler_pool = sotaku_data.phase_pool(sotaku_data.ratings_for(c.data, "train")[:2000], 3)
    assert 0 < sampler_pool.size < 2000

    c.sotaku.eval_iterations = 5  # a different test-time count on the same weights
    again = evaluate_params(c, checkpoint_params(str(tmp_path / "run"), False), str(tmp_path / "e"))
    assert again["count"] == expected and np.isfinite(again["lm_loss"])
