"""The official TRM's names (SamsungSAILMontreal/TinyRecursiveModels @ e7b68717).

`models/recursive_reasoning/trm.py` there keeps ONE reasoning module, `inner.L_level` (its
`H_layers` is unused), for both updates; its initial latents `H_init`/`L_init` are the paper's
y and z. The shared name/shape table is in `official.py`:

    inner.L_level.layers.{i}.*        dense/net/layers_{i}/*   (num_layers = L_layers)
    inner.H_init, inner.L_init        const/y_init, const/z_init

TRM-Att and TRM-MLP (`mlp_t=True`: the token-mixing SwiGLU in place of attention, over
seq_len + puzzle_emb_len positions) are both covered; `puzzle_emb_len` is the prefix length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONST = {"inner.H_init": "y_init", "inner.L_init": "z_init"}


def nets(config) -> tuple[tuple[str, tuple[str, ...], int], ...]:
    """(official module prefix, our params path, layers) of each reasoning module."""
    m = config.model
    if m.separate_nets:
        raise ValueError(
            "model.separate_nets=True (the paper's separate f_L/f_H ablation) has no counterpart "
            "in the official TRM code, whose checkpoints hold one network; convert with "
            "model.separate_nets=False"
        )
    return (("inner.L_level.layers", ("dense", "net"), m.num_layers),)


def official_config(o: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """(model, recursion, act) fields of our config for an official TRM config dict."""
    if not o.get("no_ACT_continue", True):
        raise ValueError("no_ACT_continue=False (Q-continue bootstrapping) is not supported")
    model = dict(
        mixer="mlp" if o.get("mlp_t", False) else "attention",
        puzzle_emb_len=int(o.get("puzzle_emb_len", 16)),
        separate_nets=False,
        h_layers=0,
    )
    return model, dict(gradient="last_recursion"), dict(halt_rule="q_halt")
