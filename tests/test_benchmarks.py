"""The benchmark scripts stay runnable: shapes validate, the FLOP count is the documented one."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import _shapes  # noqa: E402


@pytest.mark.parametrize("name", _shapes.GROUPS["all"])
def test_every_shape_is_a_valid_config(name):
    from rrm_jax.config import validate

    c = _shapes.shape_config(name)
    if c.data.source == "official" and not c.data.path:
        c.data.path = "unused"  # the CPU reference shapes name no data; the benchmark reads none
    validate(c, num_devices=1)
    assert c.model.vocab_size > 0 and c.model.seq_len > 0 and c.model.num_puzzle_identifiers > 0


def test_flop_count_of_the_reference_shape():
    # TRM-Att, D=128, I=512, B=32, S=81+16: per layer application 2BS(4D^2+3DI) + 4BS^2D;
    # T(nL+H) = 3*(6*2+2) = 42 forward applications, (nL+H) = 14 differentiated (x2 backward);
    # the output head 3 * 2BSDV.
    b, s, d, i, v = 32, 97, 128, 512, 11
    layer = 2 * b * s * (4 * d * d + 3 * d * i) + 4 * b * s * s * d
    want = ((42 + 2 * 14) * layer + 3 * 2 * b * s * d * v) / 1e9
    assert _shapes.step_gflop(_shapes.shape_config("reference")) == pytest.approx(want)
    # HRM doubles its forward applications for the Q-learning target's extra pass.
    hrm = _shapes.shape_config("hrm_reference")
    s = 82
    layer = 2 * b * s * (4 * d * d + 3 * d * i) + 4 * b * s * s * d
    want = ((2 * 2 * (2 * 4 + 4) + 2 * (4 + 4)) * layer + 3 * 2 * b * s * d * v) / 1e9
    assert _shapes.step_gflop(hrm) == pytest.approx(want)


def test_peak_table():
    assert _shapes.table_peak_tflops("NVIDIA H200", "bfloat16") == 989.0
    assert _shapes.table_peak_tflops("NVIDIA H100 80GB HBM3", "float32") == 67.0
    assert _shapes.table_peak_tflops("TPU v5 lite", "bfloat16") == 197.0
    assert _shapes.table_peak_tflops("cpu", "float32") is None


def test_step_time_prints_its_table():
    cmd = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "step_time.py"),
        "--shapes=tiny",
        "--rules=native",
        "--steps=1",
        "--warmup=0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| tiny ")]
    assert len(rows) == 1 and "last_recursion" in rows[0], proc.stdout


def test_rollouts_benchmark_prints_its_table():
    cmd = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "rollouts.py"),
        "--shapes=tiny",
        "--rollouts=4",
        "--depth=2",
        "--project_depth=4",
        "--chunks=0,2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| tiny ")]
    assert len(rows) == 2 and rows[0].endswith("|"), proc.stdout
    assert "*" in rows[0]  # projected from 2 measured steps to 4


def test_segment_forward_flop_count():
    # Test time: the 42 forward layer applications of one segment and the LM head, no backward.
    c = _shapes.shape_config("reference")
    b, s, d, i, v = 10, 81 + 16, 128, 512, 11
    layer = 2 * b * s * (4 * d * d + 3 * d * i) + 4 * b * s * s * d
    want = (42 * layer + 2 * b * s * d * v) / 1e9
    assert _shapes.segment_forward_gflop(c, b) == pytest.approx(want)


def test_sotaku_compare_shapes_build():
    # The PyTorch side needs torch and the author's file (absent in CI): only our side's
    # configs, the analytic FLOP count and the shared random boards are checked here.
    import jax

    from rrm_jax import models
    from rrm_jax.config import validate

    sys.path.insert(0, ROOT)
    from benchmarks import sotaku_compare as sc

    for name in sc.SHAPES:
        c = sc.compare_config(name)
        validate(c, num_devices=1)
        assert c.model.dtype == "float32" and c.recursion.gradient == "full"
        assert sc.reference_sizes(c)["d_model"] // c.model.num_heads == 32  # his RoPE tables
    c = sc.compare_config("paper_small")
    shapes = jax.eval_shape(models.build(c).init, jax.random.PRNGKey(0), {})
    assert models.count_params(shapes["dense"]) == 796_937
    # B=32, S=81, D=128, F=512, N=9, 16 iterations of 4 layers: 3x the forward.
    b, s, d, f, n = 32, 81, 128, 512, 9
    layer = 2 * b * s * (4 * d * d + 2 * d * f) + 4 * b * s * s * d
    forward = 16 * (4 * layer + 4 * b * s * d * n) + 2 * b * s * (n + 1) * d
    assert sc.step_gflop(c) == pytest.approx(3 * forward / 1e9)
    puzzles, solutions, batch = sc.random_boards(np.random.default_rng(0), 3)
    rows = zip(puzzles, solutions, batch["inputs"], batch["labels"], strict=True)
    for p, sol, inputs, labels in rows:
        assert [1 if ch == "." else int(ch) + 1 for ch in p] == inputs.tolist()
        assert [int(ch) + 1 for ch in sol] == labels.tolist()
        assert p[0] == "." and all(ch == "." or ch == sol[i] for i, ch in enumerate(p))
