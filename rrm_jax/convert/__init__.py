"""Conversion of official (PyTorch) HRM and TRM checkpoints to this package's params and back.

    params = from_official(state_dict, config)   # dispatches on config.model.name
    state_dict = to_official(params, config)
    params = load_official_checkpoint(path, config)          # torch.save file (needs torch)
    params, config = convert_state_dict(state_dict, config)  # fills vocab/ids/seq_len first
    save_params("params.npz", params); params = load_params("params.npz")

The command line, `python -m rrm_jax.convert`, does the last two steps for a checkpoint file.
"""

from __future__ import annotations

from rrm_jax.convert.official import (
    complete_config,
    config_from_official,
    convert_checkpoint_file,
    convert_state_dict,
    from_official,
    layout,
    load_official_checkpoint,
    official_model_name,
    read_official_state_dict,
    strip_prefixes,
    to_official,
)
from rrm_jax.convert.params_io import load_metadata, load_params, save_params

__all__ = [
    "complete_config",
    "config_from_official",
    "convert_checkpoint_file",
    "convert_state_dict",
    "from_official",
    "layout",
    "load_metadata",
    "load_official_checkpoint",
    "load_params",
    "official_model_name",
    "read_official_state_dict",
    "save_params",
    "strip_prefixes",
    "to_official",
]
