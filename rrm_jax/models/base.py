"""The model contract every paper's model keeps.

A model is a NamedTuple of pure functions over pytrees (no module objects escape it):

    params = model.init(rng, batch)
    carry = model.initial_carry(batch)                    # placeholder latents, all rows "halted"
    carry = model.reset_carry(params, carry, reset_BOOL)   # rows where reset is True start afresh
    carry, out = model.apply(params, carry, batch, rng=None, training=False)   # one segment

`params` is a dict with three parts, because the official code trains them differently:
  "dense":      trained by AdamATan2 (with weight decay) and averaged by the EMA;
  "puzzle_emb": the sparse puzzle-embedding table [num_ids, puzzle_emb_ndim], a buffer outside
                the dense params, trained row-wise by SignSGD (see `optim.py`);
  "const":      fixed, untrained tensors such as the initial latents.
`batch` is a dict with "inputs" [B, L] int32, "puzzle_identifiers" [B] int32 and, in training,
"labels" [B, L] (-100 = ignored), which models that condition on the target (GRAM's posterior)
read there. `rng` is the per-step key for stochastic models (PTRM's noise, GRAM's sampling):
one key for the whole batch, or one key per row (shape [B], or [B, 2] for raw uint32 keys) so a
row's draw does not depend on the other rows (how `eval/rollouts.py` folds K rollouts into the
batch). Deterministic models ignore it.
The carry returned by `apply` carries no gradient (segments are detached, as in the reference).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np


class Outputs(NamedTuple):
    """What one supervision segment produces."""

    logits: jax.Array  # [B, L, V] (compute dtype), puzzle prefix positions dropped
    q_halt: jax.Array  # [B] fp32 halting logit
    q_continue: jax.Array  # [B] fp32 continue logit (used by HRM's Q-learning; unused by TRM)
    value: jax.Array | None = None  # [B] a value head's estimate (GRAM's LPRM), if any
    # Per-row loss terms the model adds to the trainer's (already weighted; GRAM's KL, its
    # prior-rollout halting and LPRM losses), and per-row metrics to log (summed over the rows
    # that halt, like the trainer's own).
    losses: dict | None = None
    metrics: dict | None = None


class Model(NamedTuple):
    init: Callable[..., dict]
    initial_carry: Callable[..., Any]
    reset_carry: Callable[..., Any]
    apply: Callable[..., tuple[Any, Outputs]]
    seq_len: int  # tokens per example, without the puzzle prefix
    prefix_len: int  # puzzle-embedding prefix positions
    # Carry keys of the answer state (TRM y, HRM z_H) and of the reasoning latent (TRM z, HRM
    # z_L); "" for models without that split.
    answer: str = ""
    latent: str = ""
    # Whether `apply(..., rng=key)` draws from a distribution at test time (PTRM's noise,
    # GRAM's prior): only such models have a width axis in `eval/scaling.py`.
    stochastic: bool = False


def count_params(tree) -> int:
    """Number of scalars in a pytree (the papers' "7M" counts params["dense"] only)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))
