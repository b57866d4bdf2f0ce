"""Converts an official HRM/TRM checkpoint to this package's params, as one flat `.npz`.

    python -m rrm_jax.convert --config=experiments/hrm.py:sudoku_extreme \
        --checkpoint=checkpoints/step_26040 --config.model.seq_len=81 --out=hrm_sudoku.npz

The experiment config gives the architecture (`model.*`); the checkpoint's weights must match it
(a mismatch names the key and both shapes). Zero `model.vocab_size` and
`model.num_puzzle_identifiers` are read from the checkpoint's tables; `model.seq_len` too where
the weights hold it (learned positions, TRM-MLP), otherwise it must be set by flag. The
checkpoint is a `torch.save` state dict (reading it needs PyTorch) or an `.npz` of the same
names. The output holds "dense/...", "puzzle_emb" and "const/..." arrays plus the completed
config as metadata; read it back with `rrm_jax.convert.load_params` (and `load_metadata`).
"""

from __future__ import annotations

import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment file and row giving the architecture, e.g. experiments/hrm.py:sudoku_extreme.",
    lock_config=True,
)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Official checkpoint: a torch.save state dict, or an .npz of it."
)
_OUT = flags.DEFINE_string("out", None, "Where to write the converted params (.npz).")
flags.mark_flags_as_required(["config", "checkpoint", "out"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from rrm_jax.convert.official import convert_checkpoint_file

    try:
        summary = convert_checkpoint_file(_CHECKPOINT.value, _CONFIG.value, _OUT.value)
    except (ValueError, ImportError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    print(
        f"wrote {summary['out']}: {summary['model']} with {summary['dense_params']:,} dense "
        f"params (vocab_size={summary['vocab_size']}, seq_len={summary['seq_len']}, "
        f"num_puzzle_identifiers={summary['num_puzzle_identifiers']})"
    )


if __name__ == "__main__":
    app.run(main)
