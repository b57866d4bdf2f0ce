"""The official HRM's names (sapientinc/HRM @ 42410daa, `models/hrm/hrm_act_v1.py`).

Two reasoning modules, the high-level `inner.H_level` (f_H, `H_layers` blocks) and the
low-level `inner.L_level` (f_L, `L_layers` blocks), and the initial states `H_init`/`L_init`.
The shared name/shape table is in `official.py`:

    inner.H_level.layers.{i}.*        dense/net_H/layers_{i}/*   (model.h_layers = H_layers)
    inner.L_level.layers.{i}.*        dense/net_L/layers_{i}/*   (model.num_layers = L_layers)
    inner.H_init, inner.L_init        const/z_H_init, const/z_L_init

The official HRM has attention blocks only, RoPE or learned positions, and a puzzle prefix of
ceil(puzzle_emb_ndim / hidden_size) tokens (our `puzzle_emb_len=0`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rrm_jax.models.embed import prefix_length

CONST = {"inner.H_init": "z_H_init", "inner.L_init": "z_L_init"}


def nets(config) -> tuple[tuple[str, tuple[str, ...], int], ...]:
    """(official module prefix, our params path, layers) of each reasoning module."""
    m = config.model
    if m.mixer != "attention":
        raise ValueError(f"model.mixer={m.mixer!r}: the official HRM has attention blocks only")
    if m.pos_encodings not in ("rope", "learned"):
        raise ValueError(
            f"model.pos_encodings={m.pos_encodings!r}: the official HRM supports 'rope' and "
            "'learned' only"
        )
    official_prefix = -(m.puzzle_emb_ndim // -m.hidden_size) if m.puzzle_emb_ndim > 0 else 0
    ours = prefix_length(m.puzzle_emb_ndim, m.hidden_size, m.puzzle_emb_len)
    if ours != official_prefix:
        raise ValueError(
            f"model.puzzle_emb_len={m.puzzle_emb_len} gives {ours} prefix tokens, but the "
            f"official HRM uses ceil(puzzle_emb_ndim / hidden_size) = {official_prefix}; set "
            "model.puzzle_emb_len=0"
        )
    return (
        ("inner.H_level.layers", ("dense", "net_H"), m.h_layers or m.num_layers),
        ("inner.L_level.layers", ("dense", "net_L"), m.num_layers),
    )


def official_config(o: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """(model, recursion, act) fields of our config for an official HRM config dict."""
    if int(o["H_layers"]) < 1 or int(o["L_layers"]) < 1:
        raise ValueError("an HRM needs H_layers >= 1 and L_layers >= 1")
    model = dict(
        mixer="attention",
        h_layers=int(o["H_layers"]),
        puzzle_emb_len=0,  # ceil(puzzle_emb_ndim / hidden_size), as the reference
    )
    return model, dict(gradient="one_step"), dict(halt_rule="q_halt_vs_continue")
