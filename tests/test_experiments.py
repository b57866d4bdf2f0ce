"""Every experiment row builds, validates and runs one step at tiny size."""

from __future__ import annotations

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import models
from rrm_jax.config import validate
from rrm_jax.data import official
from rrm_jax.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_experiment(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments", name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRM = load_experiment("trm.py")
HRM = load_experiment("hrm.py")
EXPERIMENTS = {"trm": TRM, "hrm": HRM}
VOCAB = {
    "sudoku_extreme": 11,
    "sudoku_extreme_att": 11,
    "maze_hard": 6,
    "arc_agi_1": 12,
    "arc_agi_2": 12,
}
ALL_ROWS = [(name, row) for name, mod in EXPERIMENTS.items() for row in sorted(mod.ROWS)]
PAPER_ROWS = [(name, row) for name, row in ALL_ROWS if row != "tiny"]
ABLATIONS = [(name, a) for name, mod in EXPERIMENTS.items() for a in sorted(mod.ABLATIONS)]


@pytest.mark.parametrize("exp,row", ALL_ROWS)
def test_row_is_valid_and_documented(exp, row):
    mod = EXPERIMENTS[exp]
    c = mod.get_config(row)
    validate(c)
    assert c.paper.arxiv == mod.ARXIV and c.paper.row and c.model.name == exp
    if row != "tiny":
        assert c.paper.reported > 0 and c.paper.hardware
        assert c.model.hidden_size == 512 and c.act.max_steps == 16
        assert c.train.global_batch_size == 768 and c.optim.ema == (exp == "trm")


@pytest.mark.parametrize("exp,ablation", ABLATIONS)
def test_ablation_builds_with_its_reported_number(exp, ablation):
    mod = EXPERIMENTS[exp]
    c = mod.get_config(f"sudoku_extreme,ablation={ablation}")
    validate(c)
    assert c.paper.reported > 0
    assert ablation in c.paper.row or ("T=" in c.paper.row and exp == "hrm")
    base = mod.get_config("sudoku_extreme")
    assert c.to_dict() != base.to_dict()  # the switch changes something
    c.model.update(dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1))
    model = models.build(c)
    batch = {"inputs": jnp.zeros((1, 81), jnp.int32), "puzzle_identifiers": jnp.zeros((1,), int)}
    assert models.count_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)["dense"])


def test_trm_ablations_change_what_the_paper_says():
    get = TRM.get_config
    assert get("sudoku_extreme,ablation=one_step_gradient").recursion.gradient == "one_step"
    assert get("sudoku_extreme,ablation=separate_nets").model.separate_nets
    assert not get("sudoku_extreme,ablation=no_ema").optim.ema
    r = get("sudoku_extreme,ablation=T2_n2").recursion
    assert (r.cycles, r.latent_steps) == (2, 2)
    assert get("sudoku_extreme,ablation=act_continue").act.halt_rule == "q_halt_vs_continue"


def test_unknown_rows_and_ablations_are_rejected():
    with pytest.raises(ValueError, match="unknown row"):
        TRM.get_config("sudoku_hard")
    with pytest.raises(ValueError, match="unknown ablation"):
        TRM.get_config("sudoku_extreme,ablation=bigger")
    with pytest.raises(ValueError, match="ablations"):
        HRM.get_config("maze_hard,ablation=T1_n1")
    with pytest.raises(ValueError, match="unknown options"):
        TRM.get_config("tiny,seed=3")


def _fake_dataset(root, vocab, seq_len=12, n=8):
    rng = np.random.default_rng(0)
    inputs = rng.integers(1, vocab, (n, seq_len)).astype(np.uint8)
    labels = rng.integers(1, vocab, (n, seq_len)).astype(np.uint8)
    data = official.from_examples(inputs, labels, vocab_size=vocab)
    official.write_split(root, "train", data)
    official.write_split(root, "test", data)


def _shrink(c):
    """Keeps the row's structure (mixer, positions, gradient rule, dtype) at toy size."""
    c.model.update(
        dict(
            hidden_size=16,
            num_heads=2,
            puzzle_emb_ndim=16,
            num_layers=min(c.model.num_layers, 2),
            h_layers=min(c.model.h_layers, 2),
        )
    )
    c.recursion.update(dict(cycles=2, latent_steps=1))
    c.act.update(dict(max_steps=2))
    c.optim.update(dict(warmup_steps=1))
    c.train.update(dict(global_batch_size=4, steps=1, eval_every=1, progress=False))
    c.eval.update(dict(batch_size=4, max_examples=4, plot=False))
    return c


@pytest.mark.parametrize("exp,row", PAPER_ROWS)
def test_paper_row_runs_one_step(exp, row, tmp_path):
    c = _shrink(EXPERIMENTS[exp].get_config(row))
    _fake_dataset(tmp_path / "data", VOCAB[row])
    # The row's structure on a small fake dataset in the official numpy format.
    c.data.update(
        dict(source="official", path=str(tmp_path / "data"), augmentation="none", num_aug=0)
    )
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and summary["count"] == 4
    assert np.isfinite(summary["lm_loss"])


@pytest.mark.parametrize("exp", sorted(EXPERIMENTS))
def test_tiny_row_runs_one_step(exp, tmp_path):
    c = _shrink(EXPERIMENTS[exp].get_config("tiny"))
    c.data.update(dict(data_dir=str(tmp_path / "tfds")))  # the builder's 3000 + 500 puzzles
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and np.isfinite(summary["lm_loss"])


def test_command_line_rejects_unknown_override(tmp_path):
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "rrm_jax.main",
        "--config=experiments/trm.py:tiny",
        "--config.model.hiden_size=3",
        f"--workdir={tmp_path / 'run'}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "hiden_size" in proc.stderr
    assert not (tmp_path / "run").exists()  # rejected before any work


REAL_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
SUDOKU_1K = os.path.join(REAL_DATA, "sudoku-extreme", "ML-TRM_sudoku-extreme-full")
MAZE = os.path.join(REAL_DATA, "maze-30x30-hard-1k", "alphaXiv_TRM")


@pytest.mark.skipif(not os.path.isdir(MAZE), reason="Maze-Hard data not present")
def test_maze_row_on_real_data_through_its_tfds_builder(tmp_path):
    """`experiments/trm.py:maze_hard` as a user runs it: the TFDS builder is prepared from the
    official files on first use, and the evaluation adds the lenient maze metric."""
    c = _shrink(TRM.get_config("maze_hard"))
    c.data.update(dict(data_dir=str(tmp_path / "tfds"), source_dir=MAZE))
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and summary["count"] == 4
    assert 0 <= summary["maze/exact"] <= summary["maze/lenient"] <= 1


@pytest.mark.skipif(not os.path.isdir(SUDOKU_1K), reason="Sudoku-Extreme 1k data not present")
def test_sudoku_row_on_real_data_with_official_augmentation(tmp_path):
    c = _shrink(TRM.get_config("sudoku_extreme"))
    # This copy of the 1k subset ships its training split only: read it in the official format.
    c.data.update(dict(source="official", path=SUDOKU_1K, test_split="train"))
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and np.isfinite(summary["lm_loss"])


def test_evaluate_command_on_a_params_file(tmp_path):
    """The README's `python -m rrm_jax.evaluate` on params saved by `rrm_jax.convert`."""
    import json
    import subprocess
    import sys

    from rrm_jax.convert import save_params
    from rrm_jax.train.loop import init_data

    c = TRM.get_config("tiny")
    c.data.update(dict(source="sudoku", num_train=16, num_test=10))  # the generator in memory
    _, resolved = init_data(c)
    params = models.build(resolved).init(jax.random.PRNGKey(0), {})
    save_params(str(tmp_path / "p.npz"), params)
    cmd = [
        sys.executable,
        "-m",
        "rrm_jax.evaluate",
        "--config=experiments/trm.py:tiny",
        "--config.data.source=sudoku",
        "--config.data.num_train=16",
        "--config.data.num_test=10",
        "--config.eval.plot=False",
        f"--params={tmp_path / 'p.npz'}",
        f"--workdir={tmp_path / 'eval'}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exact accuracy" in proc.stdout
    with open(tmp_path / "eval" / "results.json") as f:
        assert json.load(f)["count"] == 10


KAGGLE = os.path.join(
    REAL_DATA, "arc-kaggle-combined", "SamsungSAILMontreal_TRM", "kaggle", "combined"
)


@pytest.mark.skipif(not os.path.isdir(KAGGLE), reason="ARC Kaggle files not present")
@pytest.mark.parametrize("exp", sorted(EXPERIMENTS))
def test_arc_row_on_real_data_through_its_tfds_builder(exp, tmp_path):
    """`experiments/*.py:arc_agi_1` as a user runs it (2 augmentations per task instead of
    1000): the builder stores the tasks, the splits are encoded on demand, and the evaluation
    votes across variants and reports pass@K under both scoring rules."""
    c = _shrink(EXPERIMENTS[exp].get_config("arc_agi_1"))
    c.data.update(dict(data_dir=str(tmp_path / "tfds"), source_dir=KAGGLE, num_aug=2))
    c.eval.max_examples = 8
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and summary["count"] == 8
    for rule in ("trm", "hrm"):
        assert 0 <= summary[f"ARC/{rule}/pass@1"] <= summary[f"ARC/{rule}/pass@2"] <= 1
