"""Evaluating saved weights: a training workdir's checkpoint or a converted params file.

The library side of `python -m rrm_jax.evaluate` (which adds the command-line flags), so that
other entry points (`rrm_jax.tables`) can evaluate without importing that module's absl flags.
"""

from __future__ import annotations

import os


def checkpoint_params(workdir: str, use_ema: bool) -> dict:
    """Eval params of the newest checkpoint in a training workdir (whatever mesh wrote it)."""
    from rrm_jax.train import checkpoint as ckpt_lib

    checkpointer = ckpt_lib.Checkpointer(workdir, keep=1)
    try:
        step = checkpointer.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {workdir}")
        state, _, _ = checkpointer.read(step)
    finally:
        checkpointer.close()
    params = dict(state["params"])
    if use_ema:
        if state.get("ema") is None:
            raise ValueError(f"{workdir} was trained without an EMA; set eval.use_ema=False")
        params["dense"] = state["ema"]
    return params


def evaluate_params(config, params: dict, workdir: str, *, scaling: bool = False) -> dict:
    """Evaluates `params` under `config` on its test split; returns the summary. With
    `scaling`, also the test-time depth x width grid (`eval/scaling.py`; LDT: rounds x chains)."""
    import jax

    from rrm_jax import models, parallel
    from rrm_jax.config import validate
    from rrm_jax.eval import evaluate as eval_lib
    from rrm_jax.eval import scaling as scaling_lib
    from rrm_jax.train import loop

    validate(config, num_devices=jax.device_count())
    data, config = loop.init_data(config)
    model = models.build(config)
    expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), {})
    rows = expected["puzzle_emb"].shape[0]
    if "puzzle_emb" in params and params["puzzle_emb"].shape[0] > rows:
        # A run whose table was split by rows pads it (parallel.padded_rows); the padding rows
        # are never read.
        params = {**params, "puzzle_emb": params["puzzle_emb"][:rows]}
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), params)
    want = jax.tree.map(lambda a: (a.shape, str(a.dtype)), expected)
    if jax.tree.structure(got) != jax.tree.structure(want) or got != want:
        raise ValueError(
            f"the params file does not match the config's model: expected {want}, got {got}"
        )
    mesh = parallel.make_mesh(config.mesh.data)
    params = jax.device_put(params, parallel.replicated(mesh))
    if config.model.name == "ldt":  # LDT's abstaining K-chain solver, not ACT segments
        from rrm_jax.eval import ldt_solver

        batches = lambda: loop.eval_batches_for(data.test, config)
        records, summary = None, None
        if scaling:  # chains x rounds; its (ldt.chains, ldt.rounds) cell is the evaluation
            records, summary = scaling_lib.run_ldt_grid(config, params, batches)
        if summary is None:
            summary = ldt_solver.evaluate(config, params, batches())
        _write(summary, records, config, workdir)
        return summary
    step = jax.jit(eval_lib.make_eval_step(model, config))
    collect = eval_lib.needs_predictions(data)
    summary, rows = eval_lib.evaluate(
        step,
        params,
        loop.eval_batches_for(data.test, config),
        lambda b: parallel.global_batch(b, mesh),
        collect=collect,
    )
    if collect:
        summary.update(eval_lib.task_metrics(data, rows))
    batches = lambda: loop.eval_batches_for(data.test, config, config.sampling.batch_size)
    to_global = lambda b: parallel.global_batch(b, mesh)
    if scaling and not model.stochastic:
        raise ValueError(
            "--scaling needs a stochastic model (GRAM; TRM/HRM with ptrm.sigma > 0) or LDT"
        )
    records, sampled = None, None
    if scaling:  # its largest cell is PTRM's evaluation when the grid ends at (K, D)
        records, sampled = scaling_lib.run_grid(config, model, params, batches, to_global, data)
    if model.stochastic:
        if sampled is None:
            sampled = scaling_lib.sampling_metrics(
                config, model, params, data, batches(), to_global
            )
        summary.update(sampled)
    _write(summary, records, config, workdir)
    return summary


def _write(summary: dict, records: list[dict] | None, config, workdir: str) -> None:
    """The results (and the scaling grid's files, printing its table), from process 0."""
    import jax

    from rrm_jax.eval import evaluate as eval_lib
    from rrm_jax.eval import scaling as scaling_lib

    os.makedirs(workdir, exist_ok=True)
    if jax.process_index() == 0:
        eval_lib.report(summary, config, workdir)
    if records is not None and jax.process_index() == 0:
        paths = scaling_lib.write(records, workdir, config.paper.row or config.model.name)
        with open(paths["md"]) as f:
            print(f.read(), flush=True)
        print(f"scaling: {paths['png']}", flush=True)
