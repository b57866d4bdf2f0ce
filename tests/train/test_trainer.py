"""End to end: train, checkpoint, resume exactly, stop on NaN, reject bad input before compiling."""

from __future__ import annotations

import json
import os
import shutil

import jax
import numpy as np
import pytest

from rrm_jax.config import ConfigError, base_config
from rrm_jax.data import DataError, official
from rrm_jax.train import loop
from rrm_jax.train.checkpoint import Checkpointer


def tiny_config(**train):
    """4x4 generated Sudoku, a 2-layer TRM of width 32: compiles in seconds."""
    c = base_config()
    c.data.update(
        dict(
            source="sudoku",
            board="2x2",
            num_train=64,
            num_test=24,
            seed=3,
            augmentation="sudoku",
            num_aug=10,
        )
    )
    c.model.update(
        dict(hidden_size=32, num_heads=2, puzzle_emb_ndim=32, puzzle_emb_len=1, dtype="float32")
    )
    c.recursion.update(dict(cycles=2, latent_steps=1))
    c.act.update(dict(max_steps=3))
    c.optim.update(dict(lr=3e-3, puzzle_emb_lr=3e-3, warmup_steps=2, ema_rate=0.9))
    c.train.update(
        dict(
            global_batch_size=8,
            steps=6,
            eval_every=3,
            log_every=1,
            keep_checkpoints=2,
            progress=False,
        )
    )
    c.train.update(train)
    c.eval.update(dict(batch_size=12, plot=False))
    return c


def _train_lines(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return {r["step"]: r for r in rows if r["split"] == "train"}


def _final_params(workdir, step):
    ckpt = Checkpointer(workdir, keep=2)
    try:
        return ckpt.read(step)[0]
    finally:
        ckpt.close()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("uninterrupted"))
    summary = loop.run(tiny_config(), workdir)
    return workdir, summary


def test_run_trains_evaluates_and_checkpoints(uninterrupted):
    workdir, summary = uninterrupted
    assert summary["step"] == 6
    assert summary["count"] == 24  # every test puzzle once, padding rows excluded
    assert len(summary["exact_by_segment"]) == 3
    assert 1 <= summary["halt_steps"] <= 3
    ckpt = Checkpointer(workdir, keep=2)
    assert ckpt.all_steps() == [3, 6]  # eval steps, keep_checkpoints=2
    ckpt.close()
    lines = _train_lines(workdir)
    assert sorted(lines) == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) for r in lines.values())
    assert os.path.exists(os.path.join(workdir, "results.json"))
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, "tb")))


def test_resumed_run_equals_uninterrupted(uninterrupted, tmp_path):
    ref_dir, ref_summary = uninterrupted
    workdir = str(tmp_path / "resumed")
    partial = loop.run(tiny_config(), workdir, stop_at=4)  # "preempted" after step 4
    assert partial["step"] == 4
    summary = loop.run(tiny_config(), workdir)  # a fresh process would do the same
    ref_lines, lines = _train_lines(ref_dir), _train_lines(workdir)
    for step in (5, 6):  # steps run after the resume
        for k in ("loss", "lm_loss", "q_halt_loss", "accuracy", "exact_accuracy", "count"):
            assert lines[step][k] == pytest.approx(ref_lines[step][k], rel=1e-6, abs=1e-7), k
    for k in ("exact_accuracy", "accuracy", "q_halt_accuracy", "lm_loss", "halt_steps"):
        assert summary[k] == pytest.approx(ref_summary[k], rel=1e-6, abs=1e-7), k
    got, want = _final_params(workdir, 6), _final_params(ref_dir, 6)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_incomplete_checkpoint_is_ignored(uninterrupted, tmp_path):
    src, _ = uninterrupted
    workdir = str(tmp_path / "crashed")
    shutil.copytree(src, workdir)
    ckdir = os.path.join(workdir, "checkpoints")
    shutil.rmtree(os.path.join(ckdir, "6"))
    # What an interrupted save leaves behind: a temporary folder, never a finalised step.
    shutil.copytree(os.path.join(ckdir, "3"), os.path.join(ckdir, "6.orbax-checkpoint-tmp"))
    ckpt = Checkpointer(workdir, keep=2)
    assert ckpt.latest_step() == 3
    ckpt.close()
    assert not os.path.exists(os.path.join(ckdir, "6.orbax-checkpoint-tmp"))  # cleaned up


def test_nan_loss_stops_the_run_naming_the_step(tmp_path):
    # A learning rate of 1e38 overflows the weights after the first update.
    c = tiny_config(steps=4, eval_every=4)
    c.optim.update(dict(lr=1e38, warmup_steps=0))
    with pytest.raises(FloatingPointError, match=r"non-finite \w+ .* at step [2-4]"):
        loop.run(c, str(tmp_path))
    ckpt = Checkpointer(str(tmp_path), keep=2)
    assert ckpt.all_steps() == []  # nothing after the NaN was saved
    ckpt.close()


def test_unknown_key_is_rejected_before_compiling(tmp_path):
    c = tiny_config()
    c.model.unlock()
    c.model.hiden_size = 64  # a typo
    with pytest.raises(ConfigError, match="model.hiden_size"):
        loop.run(c, str(tmp_path))
    assert not os.path.exists(os.path.join(tmp_path, "checkpoints"))


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("model.num_heads", 3, "not divisible"),
        ("model.pos_encodings", "rope", None),  # fine with attention
        ("recursion.gradient", "bptt", "recursion.gradient"),
        ("train.global_batch_size", 0, "global_batch_size"),
        ("data.source", "official", "data.path"),
        ("model.puzzle_emb_ndim", 99, "does not fit"),
        ("act.exploration_prob", 1.5, "exploration_prob"),
    ],
)
def test_impossible_combinations_are_rejected(field, value, match, tmp_path):
    from rrm_jax.config import validate

    c = tiny_config()
    block, key = field.split(".")
    c[block][key] = value
    if match is None:
        validate(c)
        return
    with pytest.raises(ConfigError, match=match):
        validate(c)


def test_mlp_mixer_with_rope_is_rejected():
    from rrm_jax.config import validate

    c = tiny_config()
    c.model.mixer = "mlp"
    with pytest.raises(ConfigError, match="pos_encodings='none'"):
        validate(c)


def test_malformed_data_names_the_file(tmp_path):
    root = tmp_path / "ds"
    inputs = np.ones((10, 16), np.uint8)
    data = official.from_examples(inputs, inputs + 1, vocab_size=6)
    official.write_split(root, "train", data)
    official.write_split(root, "test", data)
    np.save(root / "test" / "all__inputs.npy", np.full((10, 16), 9, np.uint8))  # vocab is 6
    c = tiny_config()
    c.data.update(dict(source="official", path=str(root), augmentation="none", num_aug=0))
    with pytest.raises(DataError, match=r"test/all__inputs\.npy"):
        loop.run(c, str(tmp_path / "run"))
    os.remove(root / "train" / "all__labels.npy")
    with pytest.raises(DataError, match=r"train/all__labels\.npy"):
        loop.run(c, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_resume_rejects_a_different_model_and_allows_more_steps(uninterrupted, tmp_path):
    src, _ = uninterrupted
    workdir = str(tmp_path / "extended")
    shutil.copytree(src, workdir)
    c = tiny_config()
    c.model.hidden_size = 48
    with pytest.raises(ConfigError, match="model.hidden_size"):
        loop.run(c, workdir)
    # An interrupted run may have logged steps after its last checkpoint: they are redone.
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"step": 7, "split": "train", "loss": -1.0}) + "\n")
    # Extend 6 -> 8 steps, with another attention kernel and rematerialisation (same math).
    c = tiny_config(steps=8, eval_every=4)
    c.model.attention = "recompute"
    c.recursion.update(dict(remat=True, remat_policy="dots"))
    assert loop.check_resume_config(loop.init_data(c)[1], workdir) == [
        "model.attention: 'auto' -> 'recompute'",
        "recursion.remat: False -> True",
        "recursion.remat_policy: 'nothing' -> 'dots'",
        "train.eval_every: 3 -> 4",
        "train.steps: 6 -> 8",
    ]
    summary = loop.run(c, workdir)
    assert summary["step"] == 8
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        train = [json.loads(line) for line in f]
    train = [r for r in train if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 9))  # each step once, in order
    assert train[6]["loss"] > 0


def test_evaluating_saved_params_reproduces_the_final_evaluation(uninterrupted, tmp_path):
    from rrm_jax.evaluate import evaluate_params

    src, summary = uninterrupted
    state = _final_params(src, 6)
    params = {
        "dense": state["ema"],
        "puzzle_emb": state["params"]["puzzle_emb"],
        "const": state["params"]["const"],
    }  # evaluation uses the EMA, as the trainer
    got = evaluate_params(tiny_config(), params, str(tmp_path))
    for k in ("exact_accuracy", "accuracy", "q_halt_accuracy", "count", "halt_steps"):
        assert got[k] == pytest.approx(summary[k], rel=1e-6, abs=1e-7), k
    bad = {**params, "puzzle_emb": params["puzzle_emb"][:, :3]}
    with pytest.raises(ValueError, match="does not match"):
        evaluate_params(tiny_config(), bad, str(tmp_path))
