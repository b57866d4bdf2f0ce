"""experiments/ldt.py: rows and ablations build with the paper's settings; LDT trains through the
shared trainer (`rrm_jax.main`) and reports the solver's correct / wrong / abstained split."""

from __future__ import annotations

import json
import os

import pytest

from rrm_jax.config import ConfigError, validate
from tests.test_experiments import load_experiment

LDT = load_experiment("ldt.py")


@pytest.mark.parametrize("row", sorted(LDT.ROWS))
def test_row_is_valid_with_the_papers_settings(row):
    c = LDT.get_config(row)
    validate(c)
    assert c.paper.arxiv == LDT.ARXIV and c.paper.row and c.model.name == "ldt"
    assert (c.loss.lm_weight, c.loss.q_weight, c.act.exploration_prob) == (0, 0, 0)
    assert c.act.max_steps == 101  # max_age 100: dropped when age + 1 > 100
    if row == "tiny":
        return
    assert c.paper.reported > 0
    g, o = c.ldt, c.optim
    assert (g.num_loops, g.bce_pos_weight, g.bce_neg_weight) == (16, 4.0, 0.5)
    assert (g.ce_weight, g.conflict_weight, g.temperature) == (0.2, 0.1, 1.5)
    assert (g.train_cls_threshold, g.chains, g.rounds) == (0.5, 64, 1000)
    assert (o.optimizer, o.lr, o.weight_decay, o.beta2, o.grad_clip) == (
        "adamw",
        3e-3,
        0.1,
        0.95,
        1.0,
    )
    assert o.lr_min_ratio == 0.01 and o.warmup_steps == c.train.steps // 10 and not o.ema
    assert c.eval.max_examples == 0  # the full test split
    if row == "sudoku_extreme":
        assert (c.model.hidden_size, c.model.num_layers, c.train.global_batch_size) == (
            128,
            4,
            512,
        )
        assert (g.cls_threshold, g.eval_dropout, g.symmetries) == (0.6, 0.05, "d4")
        assert c.paper.reported == 99.96
    if row == "maze_hard":
        assert c.model.pos_encodings == "rope" and c.model.hidden_size == 192
        assert (g.domain, g.cls_threshold, g.eval_dropout) == ("maze", 0.53, 0.0)
        assert g.num_solutions == 512 and c.paper.metric.startswith("ldt/lenient_correct")
        assert (g.zero_hint, g.correct_hint, g.error_hint) == (1.0, 0.0, 0.0)  # raw puzzles
    else:
        assert g.num_solutions == 1


def test_maze_k1_ablation_is_the_row_with_the_label_only():
    c = LDT.get_config("maze_hard,ablation=k1")
    validate(c)
    base = LDT.get_config("maze_hard")
    assert c.ldt.num_solutions == 1 and c.paper.reported == 99.3
    assert c.paper.metric.startswith("ldt/lenient_correct")
    assert {k for k in c.ldt.keys() if c.ldt[k] != base.ldt[k]} == {"num_solutions"}
    for block in ("model", "train", "optim", "data", "act", "eval"):
        assert c[block].to_dict() == base[block].to_dict(), block
    with pytest.raises(ValueError, match="unknown ablation"):
        LDT.get_config("maze_hard,ablation=ce_0")
    with pytest.raises(ValueError, match="unknown ablation"):
        LDT.get_config("sudoku_extreme,ablation=k1")


@pytest.mark.parametrize("name", sorted(LDT.ABLATIONS))
def test_ablation_builds_with_its_reported_number(name):
    c = LDT.get_config(f"sudoku_extreme,ablation={name}")
    validate(c)
    assert c.paper.reported == LDT.ABLATIONS[name][0] and c.train.steps == 2000
    base = LDT.get_config("sudoku_extreme")
    changed = {k for k in c.ldt.keys() if c.ldt[k] != base.ldt[k]}
    expected = {
        "no_conflict": {"conflict_weight"},
        "final_only": {"final_only"},
        "ce_0": {"ce_weight"},
        "ce_1": {"ce_weight"},
        "bce_1x": {"bce_pos_weight"},
        "bce_2x": {"bce_pos_weight"},
        "bce_32x": {"bce_pos_weight"},
        "loops_16": set(),
    }.get(name, {"num_loops"})
    assert changed == expected


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown ablation"):
        LDT.get_config("sudoku_extreme,ablation=bigger")
    with pytest.raises(ValueError, match="sudoku_extreme"):
        LDT.get_config("tiny,ablation=ce_0")
    c = LDT.get_config("tiny")
    c.loss.lm_weight = 1.0
    with pytest.raises(ConfigError, match="lm_weight"):
        validate(c)
    c = LDT.get_config("tiny")
    c.act.exploration_prob = 0.1
    with pytest.raises(ConfigError, match="exploration_prob"):
        validate(c)


def test_ldt_trains_through_main_and_reports_the_solver_split(tmp_path):
    """Two optimizer steps of the shared trainer on generated 6x6 Sudoku, then the solver on
    the test puzzles: correct + wrong + abstained = 1, written to results.json."""
    import subprocess
    import sys

    from tests.test_experiments import ROOT

    workdir = str(tmp_path / "run")
    overrides = {
        "data.source": "sudoku",
        "data.num_train": 64,
        "data.num_test": 12,
        "model.hidden_size": 16,
        "model.num_heads": 2,
        "model.num_layers": 1,
        "ldt.num_loops": 2,
        "ldt.chains": 2,
        "ldt.rounds": 6,
        "ldt.solver_puzzles": 4,
        "ldt.rounds_per_call": 3,
        "train.steps": 2,
        "train.eval_every": 2,
        "train.log_every": 1,
        "train.global_batch_size": 8,
        "train.progress": False,
        "eval.batch_size": 12,
    }
    cmd = [
        sys.executable,
        "-m",
        "rrm_jax.main",
        "--config=experiments/ldt.py:tiny",
        f"--workdir={workdir}",
    ] + [f"--config.{k}={v}" for k, v in overrides.items()]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ldt/abstained" in proc.stdout  # the results table
    with open(os.path.join(workdir, "results.json")) as f:
        summary = json.load(f)
    assert summary["step"] == 2 and summary["count"] == 12
    total = summary["ldt/correct"] + summary["ldt/wrong"] + summary["ldt/abstained"]
    assert abs(total - 1.0) < 1e-9
    assert 1 <= summary["ldt/rounds_mean"] <= 6 and summary["ldt/rule_violations"] >= 0
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        train = [json.loads(line) for line in f if '"train"' in line]
    assert train and all("keep_loss" in m and "digit_loss" in m for m in train)


def test_scaling_on_ldt_params_sweeps_chains_by_rounds(tmp_path):
    """`rrm_jax.evaluate --scaling` on LDT params: the chains x rounds grid of the solver is
    written (scaling.md/.csv/.json/.png), and its (ldt.chains, ldt.rounds) cell is the
    evaluation that results.json reports."""
    import jax

    from rrm_jax.eval.offline import evaluate_params
    from rrm_jax.models import ldt
    from rrm_jax.train import loop

    c = LDT.get_config("tiny")
    c.data.update({"source": "sudoku", "num_train": 16, "num_test": 10})
    c.model.update({"hidden_size": 16, "num_heads": 2, "num_layers": 1})
    c.ldt.update({"num_loops": 2, "chains": 2, "rounds": 6, "solver_puzzles": 4})
    c.eval.batch_size = 8
    c.scaling.update({"widths": (1, 2), "depths": (2, 6)})
    _, sized = loop.init_data(c)  # seq_len and vocabulary from the generated data
    params = ldt.build(sized).init(jax.random.PRNGKey(0), {})
    workdir = str(tmp_path / "eval")
    summary = evaluate_params(c, params, workdir, scaling=True)
    with open(os.path.join(workdir, "scaling.json")) as f:
        records = json.load(f)["records"]
    assert [(r["K"], r["D"]) for r in records] == [(1, 2), (1, 6), (2, 2), (2, 6)]
    cell = records[-1]
    assert summary["count"] == 10 and cell["correct"] == summary["ldt/correct"]
    assert cell["abstained"] == summary["ldt/abstained"] and cell["compute"] == 2 * 6 * 2 * 1
    for r in records:
        assert abs(r["correct"] + r["wrong"] + r["abstained"] - 1.0) < 1e-9
        assert r["rounds"] <= r["D"] and r["forwards"] == r["rounds"] * r["K"]
    text = open(os.path.join(workdir, "scaling.md")).read()
    assert "| correct | wrong | abstained |" in text
    assert os.path.exists(os.path.join(workdir, "scaling.png"))
    with open(os.path.join(workdir, "results.json")) as f:
        assert json.load(f)["ldt/correct"] == summary["ldt/correct"]
