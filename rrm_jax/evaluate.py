"""Evaluate trained params on an experiment's test split: a converted official checkpoint
(`--params`) or the newest checkpoint of a training workdir (`--checkpoint`).

    python -m rrm_jax.convert --config=experiments/hrm.py:sudoku_extreme \
        --checkpoint=checkpoint.pt --out=hrm_sudoku.npz
    python -m rrm_jax.evaluate --config=experiments/hrm.py:sudoku_extreme \
        --config.data.path=data/sudoku-extreme-full --params=hrm_sudoku.npz --workdir=runs/eval
    python -m rrm_jax.evaluate --config=experiments/ptrm.py:tiny --checkpoint=runs/demo \
        --workdir=runs/demo_ptrm --scaling

Runs every test example through all `act.max_steps` segments (as the reference evaluates), prints
the results table and writes `results.json` and `segments.png` to the workdir. The params file
holds the dense weights, the puzzle-embedding table and the fixed initial states. For a
stochastic model (GRAM; TRM/HRM with `ptrm.sigma` > 0, experiments/ptrm.py) it also runs
`sampling.rollouts` rollouts ("ptrm/..." or "gram/..." metrics), and with `--scaling` the depth x
width grid of `rrm_jax.eval.scaling` (scaling.md/.csv/.json/.png).
"""

from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment file and row, e.g. experiments/hrm.py:sudoku_extreme.",
    lock_config=True,
)
_PARAMS = flags.DEFINE_string("params", None, "Params file written by `python -m rrm_jax.convert`.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A training workdir: evaluate its newest checkpoint (EMA if eval.use_ema)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where results.json and segments.png go.")
_SCALING = flags.DEFINE_bool(
    "scaling", False, "Also sweep test-time depth x width (a stochastic model: GRAM, PTRM)."
)
flags.mark_flags_as_required(["config", "workdir"])


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
    """Evaluates `params` under `config` on its test split; returns the summary."""
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

        summary = ldt_solver.evaluate(config, params, loop.eval_batches_for(data.test, config))
        os.makedirs(workdir, exist_ok=True)
        if jax.process_index() == 0:
            eval_lib.report(summary, config, workdir)
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
        raise ValueError("--scaling needs a stochastic model (GRAM; TRM/HRM with ptrm.sigma > 0)")
    records, sampled = None, None
    if scaling:  # its largest cell is PTRM's evaluation when the grid ends at (K, D)
        records, sampled = scaling_lib.run_grid(config, model, params, batches, to_global, data)
    if model.stochastic:
        if sampled is None:
            sampled = scaling_lib.sampling_metrics(
                config, model, params, data, batches(), to_global
            )
        summary.update(sampled)
    os.makedirs(workdir, exist_ok=True)
    if jax.process_index() == 0:
        eval_lib.report(summary, config, workdir)
    if records is not None and jax.process_index() == 0:
        paths = scaling_lib.write(records, workdir, config.paper.row or config.model.name)
        with open(paths["md"]) as f:
            print(f.read(), flush=True)
        print(f"scaling: {paths['png']}", flush=True)
    return summary


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if (_PARAMS.value is None) == (_CHECKPOINT.value is None):
        raise app.UsageError("give exactly one of --params and --checkpoint")
    config = _CONFIG.value
    if _PARAMS.value is not None:
        from rrm_jax.convert import load_params

        params = load_params(_PARAMS.value)
    else:
        params = checkpoint_params(_CHECKPOINT.value, config.eval.use_ema)
    evaluate_params(config, params, _WORKDIR.value, scaling=_SCALING.value)


if __name__ == "__main__":
    app.run(main)
