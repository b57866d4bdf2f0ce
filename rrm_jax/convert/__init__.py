"""Conversion of official (PyTorch) checkpoints to this package's params and back."""

from __future__ import annotations

from rrm_jax.convert.trm import (
    config_from_official,
    from_official,
    load_official_checkpoint,
    to_official,
)

__all__ = ["config_from_official", "from_official", "load_official_checkpoint", "to_official"]
