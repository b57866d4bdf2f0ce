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
width grid of `rrm_jax.eval.scaling` (scaling.md/.csv/.json/.png). LDT runs its abstaining
solver instead; its `--scaling` grid is round budgets x chains per puzzle (correct / wrong /
abstained per cell).
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

# The library functions live in `rrm_jax.eval.offline` (importable without this module's flags).
from rrm_jax.eval.offline import checkpoint_params, evaluate_params

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
    "scaling",
    False,
    "Also sweep test-time depth x width (a stochastic model: GRAM, PTRM; LDT: rounds x chains).",
)
flags.mark_flags_as_required(["config", "workdir"])


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
