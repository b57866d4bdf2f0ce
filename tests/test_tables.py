"""`python -m rrm_jax.tables`: the registry's rows build, results are read per seed and
reported beside the papers' numbers, finished rows are not run again, rows without results get
a projected time, and the CPU study's rows change one thing each."""

from __future__ import annotations

import csv
import json
import os

import pytest

from rrm_jax.config import validate
from rrm_jax.tables import registry
from rrm_jax.tables import run as tables


@pytest.mark.parametrize("table", registry.TABLES, ids=lambda t: f"{t.paper}-{t.key}")
def test_every_row_builds_and_names_its_result(table):
    names = [r.name for r in table.rows]
    assert len(set(names)) == len(names)
    for i, row in enumerate(table.rows):
        c = registry.load_config(row.config)
        validate(c)
        key = registry.result_key(row, c)
        assert key and "{" not in key
        assert (c.paper.reported >= 0) == table.numbers, row.config
        if row.checkpoint_of:  # evaluated on an earlier row's checkpoint
            source, name = registry.checkpoint_source(table, row)
            earlier = registry.TABLES[: registry.TABLES.index(table) + 1]
            assert source in earlier and name in [r.name for r in source.rows]
            if source is table:
                assert name in names[:i]


def test_registry_lookups():
    assert set(registry.papers()) >= {"hrm", "trm", "ptrm", "gram", "sotaku", "ldt", "cpu_study"}
    assert [t.key for t in registry.tables("trm")] == ["main", "ablation", "depth"]
    sigma = registry.tables("ptrm", "sigma")[0]
    source, name = registry.checkpoint_source(sigma, sigma.rows[0])
    assert (source.key, name) == ("main", "sudoku_extreme (best-Q)")  # one TRM for the sigmas
    bad = registry.Row("x", "ptrm.py:tiny", "ptrm/best_q", checkpoint_of="main:nope")
    with pytest.raises(ValueError, match="no row"):
        registry.checkpoint_source(sigma, bad)
    with pytest.raises(ValueError, match="unknown paper"):
        registry.tables("gpt")
    with pytest.raises(ValueError, match="no table"):
        registry.tables("trm", "nope")
    gram_row = next(r for r in registry.tables("gram", "ablation")[0].rows if "decoder" in r.name)
    c = registry.load_config(gram_row.config)
    assert registry.result_key(gram_row, c) == "trm/selected"  # the TRM baseline's prefix


def test_official_step_counts():
    c = registry.load_config("trm.py:sudoku_extreme")
    assert tables.official_steps(c) == int(50000 * 1000 / 768)
    assert tables.official_steps(registry.load_config("cpu_study.py:trm")) == 1200
    # GRAM's generation row trains on 50,000 solutions (not the 3.8M puzzles of its source)
    gen = registry.load_config("gram.py:sudoku_generation")
    want = int(gen.train.epochs * 50_000 / gen.train.global_batch_size)
    assert tables.official_steps(gen) == want
    # ARC: ~519k (TRM ARC-1) and the official ARC-2 run's last checkpoint, step_723914
    assert 518_000 < tables.official_steps(registry.load_config("trm.py:arc_agi_1")) < 520_000
    assert abs(tables.official_steps(registry.load_config("trm.py:arc_agi_2")) - 723_914) < 200


def test_cpu_study_rows_change_one_thing_each():
    base = registry.load_config("cpu_study.py:trm")
    changed = {
        "trm_one_step": ("recursion", "gradient", "one_step"),
        "trm_implicit": ("recursion", "gradient", "implicit"),
        "trm_full_bptt": ("recursion", "gradient", "full"),
        "trm_no_deep_supervision": ("act", "max_steps", 1),
        "trm_no_ema": ("optim", "ema", False),
    }
    for row, (block, field, value) in changed.items():
        c = registry.load_config(f"cpu_study.py:{row}")
        assert c[block][field] == value != base[block][field]
        for b in ("model", "recursion", "act", "train", "data"):
            diff = {k for k in c[b] if c[b][k] != base[b][k]}
            allowed = {field} | ({"implicit_max_iters"} if row == "trm_implicit" else set())
            assert diff <= (allowed if b == block else set()), (row, b, diff)
    assert registry.load_config("cpu_study.py:hrm").model.name == "hrm"
    ptrm = registry.load_config("cpu_study.py:ptrm_width")
    assert ptrm.ptrm.sigma > 0 and ptrm.model == base.model  # the trm row's model, with noise
    with pytest.raises(ValueError, match="unknown row"):
        registry.load_config("cpu_study.py:bigger")


_LOAD = registry.load_config


def _tiny(spec):
    c = _LOAD(spec)
    c.model.update(dict(hidden_size=16, num_heads=2, num_layers=1, puzzle_emb_ndim=16))
    c.data.update(dict(source="sudoku", board="2x2", num_train=40, num_test=8))
    c.data.augmentation = "none"
    c.data.num_aug = 0
    c.act.max_steps = 2
    c.train.update(dict(steps=2, eval_every=2, global_batch_size=8, progress=False))
    c.eval.update(dict(batch_size=8, plot=False))
    c.sampling.update(dict(rollouts=2, steps=2, rollout_chunk=0, batch_size=8))
    c.scaling.update(dict(widths=(), depths=()))
    return c


@pytest.fixture
def fake_tables(monkeypatch):
    table = registry.Table(
        "fake",
        "main",
        "a test table",
        (
            registry.Row("trm", "cpu_study.py:trm", "exact_accuracy"),
            registry.Row("width", "cpu_study.py:ptrm_width", "ptrm/best_q", checkpoint_of="trm"),
            registry.Row("hrm", "cpu_study.py:hrm", "exact_accuracy"),
        ),
    )
    monkeypatch.setattr(registry, "TABLES", (table,))
    monkeypatch.setattr(registry, "load_config", _tiny)
    return table


def test_runs_reports_and_does_not_rerun(fake_tables, tmp_path):
    root = str(tmp_path)
    logs = []
    results, paths = tables.run("fake", root, rows=("trm", "width"), seeds=(0, 1), log=logs.append)
    by = {r.row.name: r for r in results}
    assert by["trm"].seeds == [0, 1] and len(by["trm"].values) == 2
    for s in (0, 1):
        summary = json.load(open(os.path.join(root, "fake/main/trm", f"seed_{s}", "results.json")))
        assert by["trm"].values[s] == summary["exact_accuracy"]
    assert by["width"].seeds == [0, 1]  # evaluated on the trm row's checkpoints
    info = json.load(open(os.path.join(root, "fake/main/width/seed_0/run_info.json")))
    assert info["mode"] == "evaluate" and info["wall_s"] > 0 and "CPU" in info["hardware"]
    md = open(paths["md"]).read()
    assert "| trm |" in md and "† the paper reports a single run." in md
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["row"] for r in rows] == ["trm", "width"] and rows[0]["seeds"] == "0,1"
    assert "±" in rows[0]["measured"]
    # a second call finds the results and runs nothing
    logs.clear()
    again, _ = tables.run("fake", root, rows=("trm", "width"), seeds=(0, 1), log=logs.append)
    assert logs == [] and [r.values for r in again] == [r.values for r in results]


def test_rows_not_run_are_projected(fake_tables, tmp_path):
    logs = []
    results, paths = tables.run(
        "fake", str(tmp_path), rows=("hrm", "width"), eval_only=True, log=logs.append
    )
    hrm, width = (next(r for r in results if r.row.name == n) for n in ("hrm", "width"))
    assert not hrm.values and hrm.steps == 2 and hrm.projected_s > 0
    assert any("no checkpoint" in line for line in logs)  # eval_only trains nothing
    assert not width.values and width.projected_s is None  # evaluation rows are not projected
    assert "projected" in open(paths["md"]).read()


def test_the_cli_evaluates_without_the_evaluate_modules_flags():
    # Both command lines define --workdir; the tables CLI must reach the evaluation library
    # without importing `rrm_jax.evaluate` (absl would refuse the second definition).
    import subprocess
    import sys

    code = (
        "import sys, rrm_jax.tables.__main__, rrm_jax.tables.run\n"
        "from rrm_jax.eval.offline import checkpoint_params, evaluate_params\n"
        "assert 'rrm_jax.evaluate' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_a_step_that_does_not_fit_is_timed_at_a_quarter_of_the_batch(monkeypatch):
    from rrm_jax.train import timing

    calls = []

    def fake_time(c, steps, warmup):
        calls.append(c.train.global_batch_size)
        if c.train.global_batch_size > 16:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")
        return {"median_s": 0.5}

    monkeypatch.setattr(timing, "time_train_step", fake_time)
    monkeypatch.setattr(tables, "_PROJECTION_CACHE", {})
    c = _tiny("cpu_study.py:trm")
    c.train.global_batch_size = 256
    seconds, timed = tables.step_seconds(c, 1 << 30)
    assert calls == [256, 64, 16] and timed == 16 and seconds == pytest.approx(0.5 * 256 / 16)
    # any other failure is not taken for a memory limit
    monkeypatch.setattr(tables, "_PROJECTION_CACHE", {})
    monkeypatch.setattr(
        timing, "time_train_step", lambda c, steps, warmup: (_ for _ in ()).throw(ValueError("x"))
    )
    with pytest.raises(ValueError):
        tables.step_seconds(c, 1 << 30)
