"""The trainer on several (simulated) devices computes what it computes on one.

Runs in a subprocess because the device count is fixed when JAX starts. On a 2-core machine
simulated devices deadlock in collectives unless XLA gets more threads (PJRT_NPROC=16).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.train.test_trainer import _train_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import sys, jax
    sys.path.insert(0, {root!r})
    from tests.train.test_trainer import tiny_config
    from rrm_jax.train import loop
    assert jax.device_count() == {devices}, jax.devices()
    c = tiny_config(steps=4, eval_every=4)
    c.mesh.data = {devices}
    loop.run(c, {workdir!r})
    """
)


def _run(devices: int, workdir: str) -> None:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        PJRT_NPROC="16",
        JAX_PLATFORMS="cpu",
    )
    code = SCRIPT.format(root=ROOT, devices=devices, workdir=workdir)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_two_devices_match_one(tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _run(1, one)
    _run(2, two)
    a, b = _train_lines(one), _train_lines(two)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for step in a:
        for k in ("loss", "lm_loss", "accuracy", "count"):
            assert b[step][k] == pytest.approx(a[step][k], rel=1e-4, abs=1e-6), (step, k)
    with (
        open(os.path.join(one, "results.json")) as f1,
        open(os.path.join(two, "results.json")) as f2,
    ):
        r1, r2 = json.load(f1), json.load(f2)
    assert r2["count"] == r1["count"]
    assert r2["exact_accuracy"] == pytest.approx(r1["exact_accuracy"], abs=1e-6)
