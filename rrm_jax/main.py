"""Entry point: `python -m rrm_jax.main --config=experiments/trm.py:<row> --workdir=DIR`.

Any config field can be overridden (`--config.train.steps=2000`); unknown keys are rejected.
Resume is automatic from `--workdir`. On a multi-host TPU pod slice or GPU cluster, launch the same
command on every host with `--distributed` (calls `jax.distributed.initialize()`).
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment file and row, e.g. experiments/trm.py:tiny.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, metrics and plots go here.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() first (multi-host runs)."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # keep library INFO logs out of the progress bar
    from rrm_jax import parallel

    parallel.initialize(_DISTRIBUTED.value)
    from rrm_jax.train.loop import run

    run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
