"""Evaluate given params (e.g. a converted official checkpoint) on an experiment's test split.

    python -m rrm_jax.convert --config=experiments/hrm.py:sudoku_extreme \
        --checkpoint=checkpoint.pt --out=hrm_sudoku.npz
    python -m rrm_jax.evaluate --config=experiments/hrm.py:sudoku_extreme \
        --config.data.path=data/sudoku-extreme-full --params=hrm_sudoku.npz --workdir=runs/eval

Runs every test example through all `act.max_steps` segments (as the reference evaluates), prints
the results table and writes `results.json` and `segments.png` to the workdir. The params file
holds the dense weights, the puzzle-embedding table and the fixed initial states.
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
_WORKDIR = flags.DEFINE_string("workdir", None, "Where results.json and segments.png go.")
flags.mark_flags_as_required(["config", "params", "workdir"])


def evaluate_params(config, params: dict, workdir: str) -> dict:
    """Evaluates `params` under `config` on its test split; returns the summary."""
    import jax

    from rrm_jax import models, parallel
    from rrm_jax.config import validate
    from rrm_jax.eval import evaluate as eval_lib
    from rrm_jax.train import loop

    validate(config, num_devices=jax.device_count())
    data, config = loop.init_data(config)
    model = models.build(config)
    expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), {})
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), params)
    want = jax.tree.map(lambda a: (a.shape, str(a.dtype)), expected)
    if jax.tree.structure(got) != jax.tree.structure(want) or got != want:
        raise ValueError(
            f"the params file does not match the config's model: expected {want}, got {got}"
        )
    mesh = parallel.make_mesh(config.mesh.data)
    params = jax.device_put(params, parallel.replicated(mesh))
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
    os.makedirs(workdir, exist_ok=True)
    if jax.process_index() == 0:
        eval_lib.report(summary, config, workdir)
    return summary


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    from rrm_jax.convert import load_params

    evaluate_params(_CONFIG.value, load_params(_PARAMS.value), _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
