"""The train state: everything that changes during training except the ACT carry and the data."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from rrm_jax import optim


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar, optimizer steps taken
    rng: jax.Array  # raw uint32[2] key; per-step keys are fold_in(rng, step)
    params: dict  # {"dense", "puzzle_emb", "const"}, see models/base.py
    opt_state: Any  # AdamATan2 state over params["dense"]
    ema: Any  # EMA of params["dense"] (None when disabled)


def create(model, tx, rng: jax.Array, batch: dict, *, ema: bool) -> TrainState:
    """Initial state: model params, optimizer state and the EMA shadow (= the initial params)."""
    init_rng, state_rng = jax.random.split(rng)
    params = model.init(init_rng, batch)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=state_rng,
        params=params,
        opt_state=tx.init(params["dense"]),
        ema=optim.ema_init(params["dense"]) if ema else None,
    )


def eval_params(state: TrainState, use_ema: bool) -> dict:
    """Params for evaluation: the EMA dense weights with the LIVE puzzle table, as the reference."""
    if not use_ema:
        return state.params
    return {**state.params, "dense": state.ema}
