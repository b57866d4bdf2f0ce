"""Two processes (the multi-host path: `jax.distributed`, per-process data, global batches)
train exactly what one process trains.

Both processes run on this machine's CPU with gloo collectives; each feeds its half of the global
batch (the sampler shards by `jax.process_index()`), process 0 writes metrics and results.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from tests.test_parallel import _state, _train_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 4

SCRIPT = textwrap.dedent(
    """
    import sys, jax
    sys.path.insert(0, {root!r})
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if {count} > 1:
        jax.distributed.initialize(
            coordinator_address="localhost:{port}", num_processes={count}, process_id={pid}
        )
    from tests.train.test_trainer import tiny_config
    from rrm_jax.train import loop
    assert jax.process_count() == {count} and jax.device_count() == {count}
    loop.run(tiny_config(steps={steps}, eval_every={steps}), {workdir!r})
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(count: int, workdir: str) -> list[subprocess.Popen]:
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SCRIPT.format(
                    root=ROOT, count=count, port=port, pid=pid, steps=STEPS, workdir=workdir
                ),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in range(count)
    ]


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            _, err = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("a process did not finish in 600 s")
        assert p.returncode == 0, err[-4000:]


def test_two_processes_train_what_one_process_trains(tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _wait(_launch(2, two))
    _wait(_launch(1, one))
    a, b = _train_lines(one), _train_lines(two)
    assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
    for step in a:
        for k in ("loss", "accuracy", "count"):
            assert b[step][k] == pytest.approx(a[step][k], rel=1e-5, abs=1e-6), (step, k)
    sa, sb = _state(one, STEPS), _state(two, STEPS)
    for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb), strict=True):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-4, atol=2e-6)
    assert os.path.exists(os.path.join(two, "results.json"))


LDT_SCRIPT = textwrap.dedent(
    """
    import json, sys, jax, numpy as np
    sys.path.insert(0, {root!r})
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address="localhost:{port}", num_processes=2, process_id={pid}
    )
    from rrm_jax import parallel
    from rrm_jax.data import sudoku
    from rrm_jax.eval import ldt_solver
    from rrm_jax.models import ldt
    from tests.models.test_ldt import BOARD, small_config

    gen = sudoku.generate(BOARD, 5, 11)
    inputs = sudoku.encode(gen["puzzles"]).astype(np.int32)
    labels = sudoku.encode(gen["solutions"]).astype(np.int32)
    inputs[0] = labels[0]  # a full grid: accepted and correct in one round
    config = small_config(chains=2, rounds=27, solver_puzzles=2, rounds_per_call=4)
    params = ldt.build(config).init(jax.random.PRNGKey(0), {{}})
    params = jax.device_put(params, parallel.replicated(parallel.make_mesh(-1)))
    lo, hi = ((0, 3), (3, 5))[{pid}]  # unequal shards: 3 and 2 puzzles
    batch = {{
        "inputs": inputs[lo:hi], "labels": labels[lo:hi], "valid": np.ones(hi - lo, bool),
    }}
    summary = ldt_solver.evaluate(config, params, [batch])
    local = ldt_solver.solver_for(config).solve(
        ldt_solver._process_local({{"dense": params["dense"]}}), inputs[lo:hi], rounds=27
    )
    np.savez({out!r} + "/{pid}.npz", inputs=inputs[lo:hi], labels=labels[lo:hi],
             **{{k: v for k, v in local.items() if k != "calls"}})
    with open({out!r} + "/{pid}.json", "w") as f:
        json.dump(summary, f)
    """
)


def test_two_processes_report_the_ldt_solver_over_all_puzzles(tmp_path):
    """Each process solves its own shard of the test puzzles (unequal: 3 and 2); both report the
    score of all five (the per-puzzle results gathered): counts summed, means over the split."""
    from rrm_jax.eval import ldt_solver
    from tests.models.test_ldt import small_config

    port, env = _free_port(), dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LDT_SCRIPT.format(root=ROOT, port=port, pid=pid, out=str(tmp_path)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in range(2)
    ]
    _wait(procs)
    shards = [dict(np.load(tmp_path / f"{pid}.npz")) for pid in range(2)]
    joined = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    config = small_config(chains=2, rounds=27, solver_puzzles=2, rounds_per_call=4)
    inputs, labels = joined.pop("inputs"), joined.pop("labels")
    want, status = ldt_solver.score(config, inputs, labels, joined)
    assert want["count"] == 5 and (status == ldt_solver.CORRECT).any()
    for pid in range(2):
        with open(tmp_path / f"{pid}.json") as f:
            got = json.load(f)
        got.pop("ldt/seconds")
        assert got == want, pid  # JSON keeps floats exactly
