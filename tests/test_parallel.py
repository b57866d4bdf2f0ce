"""Training on 1, 2 and 4 (simulated) devices computes the same thing, and checkpoints move.

Each device count runs in its own subprocess (the count is fixed when JAX starts). On a 2-core
machine simulated devices deadlock in collectives unless XLA gets more threads (PJRT_NPROC=16).
One subprocess per count trains every case, so the three share nothing but the workdirs:

    trm        TRM, replicated puzzle table, 6 steps
    trm_rows   the same with the table split by rows over `data` (padded to a multiple of 4)
    hrm        HRM (two modules, 1-step gradient, Q-learning halting), 4 steps
    moved      TRM trained 2 steps on 4 devices, resumed to 4 on 1 device, finished on 2
    rollouts   PTRM's K x D rollouts of the trained `trm` params (rows sharded over `data`)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from rrm_jax.train.checkpoint import Checkpointer
from tests.train.test_trainer import _train_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = (4, 1, 2)  # run order: the `moved` run hops 4 -> 1 -> 2 devices
TRM_STEPS, HRM_STEPS = 6, 4
MOVED_STOPS = {4: 2, 1: 4, 2: None}

SCRIPT = textwrap.dedent(
    """
    import sys, jax
    sys.path.insert(0, {root!r})
    from tests.train.test_trainer import tiny_config
    from rrm_jax.train import loop
    n, base = {devices}, {base!r}
    assert jax.device_count() == n, jax.devices()

    def trm(**mesh):
        c = tiny_config(steps={trm_steps}, eval_every={trm_steps})
        c.mesh.update(dict(data=n, **mesh))
        return c

    def hrm():
        c = tiny_config(steps={hrm_steps}, eval_every={hrm_steps})
        c.model.update(dict(name="hrm", num_layers=1, h_layers=1, puzzle_emb_len=0))
        c.recursion.update(dict(cycles=2, latent_steps=2, gradient="one_step"))
        c.act.update(dict(halt_rule="q_halt_vs_continue"))
        c.optim.update(dict(ema=False))
        c.eval.update(dict(use_ema=False))
        c.mesh.data = n
        return c

    loop.run(trm(), f"{{base}}/trm_{{n}}")
    loop.run(trm(puzzle_emb="rows", puzzle_emb_row_multiple=4), f"{{base}}/trm_rows_{{n}}")
    loop.run(hrm(), f"{{base}}/hrm_{{n}}")
    loop.run(trm(), f"{{base}}/moved", stop_at={stop})

    # PTRM's rollouts of the trained TRM, the folded rollout rows sharded over `data`.
    import numpy as np
    from rrm_jax import models, parallel
    from rrm_jax.eval.rollouts import make_rollouts
    from rrm_jax.evaluate import checkpoint_params
    c = trm()
    c.ptrm.sigma = 0.5
    data, c = loop.init_data(c)
    mesh = parallel.make_mesh(n)
    params = jax.device_put(
        checkpoint_params(f"{{base}}/trm_{{n}}", True), parallel.replicated(mesh)
    )
    batch = parallel.global_batch(next(loop.eval_batches_for(data.test, c)), mesh)
    run = jax.jit(make_rollouts(models.build(c), rollouts=4, steps=2, chunk=2))
    np.savez(
        f"{{base}}/rollouts_{{n}}.npz",
        **jax.device_get(run(params, batch, jax.random.PRNGKey(0))),
    )
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("parallel"))
    for n in COUNTS:
        env = dict(
            os.environ,
            XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
            PJRT_NPROC="16",
            JAX_PLATFORMS="cpu",
        )
        code = SCRIPT.format(
            root=ROOT,
            devices=n,
            base=base,
            trm_steps=TRM_STEPS,
            hrm_steps=HRM_STEPS,
            stop=MOVED_STOPS[n],
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
    return base


def _state(workdir: str, step: int):
    ckpt = Checkpointer(workdir, keep=2)
    try:
        return ckpt.read(step)[0]
    finally:
        ckpt.close()


def _assert_same_training(a: str, b: str, steps: int):
    la, lb = _train_lines(a), _train_lines(b)
    assert sorted(la) == sorted(lb) == list(range(1, steps + 1))
    for step in la:
        for k in ("loss", "lm_loss", "q_halt_loss", "accuracy", "count"):
            assert lb[step][k] == pytest.approx(la[step][k], rel=1e-4, abs=1e-6), (step, k)


def _assert_same_params(pa, pb, rows: int | None = None):
    """Every parameter, the optimizer state and the EMA agree to float tolerance."""
    leaves = jax.tree_util.tree_leaves_with_path
    for (path, x), (_, y) in zip(leaves(pa), leaves(pb), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if rows is not None and "puzzle_emb" in jax.tree_util.keystr(path):
            x, y = x[:rows], y[:rows]
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=2e-6, err_msg=jax.tree_util.keystr(path))


def _results(workdir: str) -> dict:
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("case,steps", [("trm", TRM_STEPS), ("hrm", HRM_STEPS)])
@pytest.mark.parametrize("n", [2, 4])
def test_device_counts_give_the_same_losses_and_params(runs, case, steps, n):
    one, many = os.path.join(runs, f"{case}_1"), os.path.join(runs, f"{case}_{n}")
    _assert_same_training(one, many, steps)
    s1, sn = _state(one, steps), _state(many, steps)
    assert int(s1["step"]) == int(sn["step"]) == steps
    _assert_same_params(s1, sn)
    r1, rn = _results(one), _results(many)
    assert rn["count"] == r1["count"]
    assert rn["exact_accuracy"] == pytest.approx(r1["exact_accuracy"], abs=1e-6)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_row_sharded_table_trains_like_the_replicated_one(runs, n):
    rep, rows = os.path.join(runs, f"trm_{n}"), os.path.join(runs, f"trm_rows_{n}")
    _assert_same_training(rep, rows, TRM_STEPS)
    a, b = _state(rep, TRM_STEPS), _state(rows, TRM_STEPS)
    num_ids = a["params"]["puzzle_emb"].shape[0]
    table = np.asarray(b["params"]["puzzle_emb"])
    assert table.shape[0] % 4 == 0 and table.shape[0] >= num_ids
    _assert_same_params(a, b, rows=num_ids)
    # The padding rows are never gathered, so never updated (the official init is zeros).
    np.testing.assert_array_equal(table[num_ids:], 0.0)
    # Something was learned in the real rows, so the comparison above is not vacuous.
    assert np.abs(table[:num_ids]).max() > 0


@pytest.mark.parametrize("n", [2, 4])
def test_ptrm_rollouts_are_the_same_on_every_device_count(runs, n):
    one = np.load(os.path.join(runs, "rollouts_1.npz"))
    many = np.load(os.path.join(runs, f"rollouts_{n}.npz"))
    np.testing.assert_allclose(many["q_halt"], one["q_halt"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(many["preds"], one["preds"])
    q = one["q_halt"][0]  # [B, K]: the noise made the rollouts of a puzzle differ
    assert (q.max(-1) - q.min(-1)).min() > 0


def test_checkpoints_restore_on_other_device_counts(runs):
    moved, ref = os.path.join(runs, "moved"), os.path.join(runs, "trm_1")
    _assert_same_training(ref, moved, TRM_STEPS)
    _assert_same_params(_state(ref, TRM_STEPS), _state(moved, TRM_STEPS))
    # Each leg resumed from the previous one's checkpoint (steps 2 and 4 were written).
    ckpt = Checkpointer(moved, keep=2)
    try:
        assert ckpt.all_steps()[-1] == TRM_STEPS
    finally:
        ckpt.close()


def test_table_mode_depends_on_size_and_config_only():
    from ml_collections import ConfigDict

    from rrm_jax import parallel

    def mesh_config(mode):
        return ConfigDict(dict(puzzle_emb=mode, puzzle_emb_rows_above_mb=256))

    arc = (876_406, 512)  # 1.8 GB in fp32
    assert parallel.table_mode(mesh_config("auto"), *arc) == "rows"
    assert parallel.table_mode(mesh_config("auto"), 1000, 512) == "replicated"
    assert parallel.table_mode(mesh_config("auto"), 10**9, 0) == "replicated"
    assert parallel.table_mode(mesh_config("replicated"), *arc) == "replicated"
    assert parallel.table_mode(mesh_config("rows"), 1, 8) == "rows"
    with pytest.raises(ValueError, match="mesh.puzzle_emb"):
        parallel.table_mode(mesh_config("sharded"), 1, 8)
    assert parallel.padded_rows(876_406, 1024) == 876_544
    assert parallel.padded_rows(1024, 1024) == 1024


def test_mesh_config_errors():
    from rrm_jax import parallel
    from rrm_jax.config import ConfigError, validate
    from tests.train.test_trainer import tiny_config

    c = tiny_config()
    c.mesh.puzzle_emb = "sharded"
    with pytest.raises(ConfigError, match="mesh.puzzle_emb"):
        validate(c, num_devices=1)
    c = tiny_config()
    c.mesh.update(dict(puzzle_emb="rows", puzzle_emb_row_multiple=6))
    with pytest.raises(ConfigError, match="not divisible by the 4 data devices"):
        validate(c, num_devices=4)
    c = tiny_config()
    c.mesh.data = 3
    with pytest.raises(ConfigError, match="mesh.data=3"):
        validate(c, num_devices=2)
    with pytest.raises(ValueError, match=f"asked for {jax.device_count() + 1} data devices"):
        parallel.make_mesh(jax.device_count() + 1)
    mesh = parallel.make_mesh()
    line = parallel.describe(mesh, 8, "replicated")
    assert f"mesh data={jax.device_count()}" in line and "puzzle table replicated" in line
