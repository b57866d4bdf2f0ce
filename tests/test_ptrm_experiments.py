"""experiments/ptrm.py: every row builds on its TRM row and runs PTRM's rollouts at tiny size;
the evaluate command runs PTRM and the scaling harness on a training workdir."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rrm_jax.config import validate
from rrm_jax.train import loop
from tests.test_experiments import (
    KAGGLE,
    MAZE,
    ROOT,
    TRM,
    VOCAB,
    _fake_dataset,
    _shrink,
    load_experiment,
)

PTRM = load_experiment("ptrm.py")
HEADLINE = {  # row -> (K, D, sigma, rule, reported)
    "sudoku_extreme": (100, 64, 0.3, "best_q", 98.75),
    "maze_hard": (100, 16, 1.0, "mode", 86.73),
    "arc_agi_2": (25, 16, 0.2, "best_q", 8.47),
}
TRAINING_BLOCKS = ("data", "model", "recursion", "act", "loss", "optim", "train")


@pytest.mark.parametrize("row", sorted(PTRM.ROWS))
def test_row_is_its_trm_row_plus_test_time_noise(row):
    c = PTRM.get_config(row)
    validate(c)
    trm = TRM.get_config(PTRM.TRM_ROW[row])
    for block in TRAINING_BLOCKS:  # PTRM trains nothing: the backbone run is the TRM row's
        assert c[block].to_dict() == trm[block].to_dict(), block
    assert c.ptrm.sigma > 0 and c.paper.arxiv == PTRM.ARXIV and c.paper.row
    if row in HEADLINE:
        k, d, sigma, rule, reported = HEADLINE[row]
        p = c.sampling
        assert (p.rollouts, p.steps, c.ptrm.sigma, p.selection) == (k, d, sigma, rule)
        assert c.paper.reported == reported and rule in c.paper.metric
        assert p.rollouts % (p.rollout_chunk or p.rollouts) == 0


def test_sigma_rows_take_sigma_and_reject_other_options():
    assert PTRM.get_config("sigma_maze,sigma=1.5").ptrm.sigma == 1.5
    assert PTRM.get_config("sigma_maze").sampling.rollouts == 100
    assert PTRM.get_config("sigma_sudoku").eval.max_examples == 1000
    with pytest.raises(ValueError, match="unknown options"):
        PTRM.get_config("sudoku_extreme,sigma=0.5")
    with pytest.raises(ValueError, match="unknown row"):
        PTRM.get_config("ppbench")


def _small_ptrm(c):
    c.sampling.update(dict(rollouts=4, steps=3, rollout_chunk=2, batch_size=4))
    return c


@pytest.mark.parametrize("row", sorted(HEADLINE))
def test_paper_row_trains_then_runs_ptrm(row, tmp_path):
    c = _small_ptrm(_shrink(PTRM.get_config(row)))
    _fake_dataset(tmp_path / "data", VOCAB[PTRM.TRM_ROW[row]])
    c.data.update(
        dict(source="official", path=str(tmp_path / "data"), augmentation="none", num_aug=0)
    )
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 1 and summary["count"] == 4
    for rule in ("best_q", "mode", "rollout_mean"):
        assert 0 <= summary[f"ptrm/{rule}"] <= summary["ptrm/pass"] <= 1
    assert summary["ptrm/selected"] == summary[f"ptrm/{c.sampling.selection}"]
    with open(tmp_path / "run" / "results.json") as f:
        assert "ptrm/pass" in json.load(f)


@pytest.mark.skipif(not os.path.isdir(MAZE), reason="Maze-Hard data not present")
def test_maze_row_reports_the_lenient_metric_of_each_rule(tmp_path):
    c = _small_ptrm(_shrink(PTRM.get_config("maze_hard")))
    c.data.update(dict(data_dir=str(tmp_path / "tfds"), source_dir=MAZE))
    summary = loop.run(c, str(tmp_path / "run"))
    for rule in ("best_q", "mode"):
        assert 0 <= summary[f"ptrm/{rule}/maze/exact"] <= summary[f"ptrm/{rule}/maze/lenient"] <= 1
        assert summary[f"ptrm/{rule}/maze/exact"] == pytest.approx(summary[f"ptrm/{rule}"])


@pytest.mark.skipif(not os.path.isdir(KAGGLE), reason="ARC Kaggle files not present")
def test_arc_row_votes_best_q_rollouts_across_variants(tmp_path):
    c = _small_ptrm(_shrink(PTRM.get_config("arc_agi_2")))
    c.data.update(dict(data_dir=str(tmp_path / "tfds"), source_dir=KAGGLE, num_aug=2))
    c.eval.max_examples = 8
    summary = loop.run(c, str(tmp_path / "run"))
    for rule in ("trm", "hrm"):
        name = f"ptrm/best_q/ARC/{rule}/pass@"
        assert 0 <= summary[name + "1"] <= summary[name + "2"] <= 1


def test_evaluate_command_runs_ptrm_and_the_scaling_grid_on_a_workdir(tmp_path):
    """Train the tiny TRM for 2 steps, then the README's PTRM command on its workdir."""
    data = dict(source="sudoku", num_train=16, num_test=10)
    c = TRM.get_config("tiny")
    c.data.update(data)
    c.train.update(dict(steps=2, eval_every=2, progress=False, global_batch_size=8))
    c.eval.update(dict(plot=False, batch_size=8))
    loop.run(c, str(tmp_path / "train"))
    cmd = [
        sys.executable,
        "-m",
        "rrm_jax.evaluate",
        "--config=experiments/ptrm.py:tiny",
        *(f"--config.data.{k}={v}" for k, v in data.items()),
        "--config.train.global_batch_size=8",
        "--config.eval.batch_size=8",
        "--config.eval.plot=False",
        "--config.sampling.rollouts=4",
        "--config.sampling.steps=2",
        "--config.scaling.widths=(1,4)",
        "--config.scaling.depths=(1,2,3)",  # PTRM's own (K, D) = (4, 2) is inside the grid
        f"--checkpoint={tmp_path / 'train'}",
        f"--workdir={tmp_path / 'eval'}",
        "--scaling",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PTRM best-Q@K" in proc.stdout and "Compute-matched" in proc.stdout
    with open(tmp_path / "eval" / "results.json") as f:
        results = json.load(f)
    assert results["count"] == 10 and 0 <= results["ptrm/best_q"] <= results["ptrm/pass"]
    with open(tmp_path / "eval" / "scaling.json") as f:
        records = json.load(f)["records"]
    det = [r for r in records if r["allocation"] == "depth"]
    wide = [r for r in records if r["allocation"] != "depth"]
    assert {r["allocation"] for r in wide} == {"depth+noise", "width", "mixed"}
    assert [r["D"] for r in det] == [1, 2, 3, 4, 8, 12]  # as deep as the widest cell's compute
    assert sorted((r["K"], r["D"]) for r in wide) == [
        (1, 1),
        (1, 2),
        (1, 3),
        (4, 1),
        (4, 2),
        (4, 3),
    ]
    # the grid's (K, D) = (4, 2) cell is the separate PTRM evaluation (same key, same draws)
    cell = next(r for r in wide if (r["K"], r["D"]) == (4, 2))
    assert cell["best_q"] == pytest.approx(results["ptrm/best_q"])
    assert np.isclose(det[1]["best_q"], results["exact_by_segment"][1])
    assert (tmp_path / "eval" / "scaling.png").exists()
