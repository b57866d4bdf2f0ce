"""Two ways to make a deterministic recursive model (TRM, HRM) stochastic, the baselines of
GRAM's Table 3(b) (arXiv 2605.19376, Sec. 4.4): "TRM w/ stochastic decoder" and "TRM w/ random
init z_0 ~ N(0, I)". Both wrap a `Model` and leave its networks and recursion unchanged.

- `sampled_decoder`: at test time (an `rng` given, not training) the answer is SAMPLED from the
  output distribution instead of taken as its mode. Written with the Gumbel-max trick: the
  returned logits are log p + Gumbel noise, so their argmax, which every evaluator and the
  rollouts take, is a draw from p (p = stablemax or softmax of the logits, as the loss). The
  latents and the halting logits are untouched, so only the decoding is random.
- `random_init`: every trajectory starts from its own (answer, latent) drawn from N(0, I) per
  element, in training and at test time, instead of the fixed learned-free vectors. The draw
  happens at the first segment after a reset (a `fresh` flag in the carry), from the step's key
  (per row); without a key it is a fixed draw, so key-less evaluation stays reproducible.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rrm_jax import losses
from rrm_jax.models.base import Model
from rrm_jax.models.ptrm import gaussian_like, row_keys

DECODERS = ("argmax", "sample")


def _keys(rng, b: int, stream: int) -> jax.Array:
    """Per-row keys for one purpose (`stream`), from `rng` or a fixed key when None."""
    if rng is None:
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(jnp.arange(b))
    else:
        keys = row_keys(rng, b)
    return jax.vmap(lambda k: jax.random.fold_in(k, stream))(keys)


def sampled_decoder(model: Model, loss_type: str) -> Model:
    """`model` whose test-time answers are samples of its output distribution (with a key)."""

    def apply(params, carry, batch, *, rng=None, training: bool = False):
        carry, out = model.apply(params, carry, batch, rng=rng, training=training)
        if rng is None or training:
            return carry, out
        logits = out.logits.astype(jnp.float32)
        logp = (
            losses.log_stablemax(logits)
            if loss_type == "stablemax"
            else jax.nn.log_softmax(logits, axis=-1)
        )
        keys = _keys(rng, logits.shape[0], 2)
        gumbel = jax.vmap(lambda k: jax.random.gumbel(k, logits.shape[1:], jnp.float32))(keys)
        return carry, out._replace(logits=logp + gumbel)

    return model._replace(apply=apply, stochastic=True)


def random_init(model: Model) -> Model:
    """`model` whose every trajectory starts from its own N(0, I) draw of (answer, latent)."""
    if not (model.answer and model.latent):
        raise ValueError("random_init needs a model with an answer state and a latent state")
    keys_of_state = (model.answer, model.latent)

    def initial_carry(batch):
        carry = model.initial_carry(batch)
        return {**carry, "fresh": jnp.zeros((batch["inputs"].shape[0],), bool)}

    def reset_carry(params, carry, reset_B):
        inner = {k: v for k, v in carry.items() if k != "fresh"}
        inner = model.reset_carry(params, inner, reset_B)
        return {**inner, "fresh": carry["fresh"] | reset_B}

    def apply(params, carry, batch, *, rng=None, training: bool = False):
        fresh = carry["fresh"]
        inner = {k: v for k, v in carry.items() if k != "fresh"}
        b = fresh.shape[0]
        for i, key in enumerate(keys_of_state):
            state = inner[key]
            draw = gaussian_like(_keys(rng, b, 3 + i), state.shape).astype(state.dtype)
            inner[key] = jnp.where(fresh[:, None, None], draw, state)
        inner, out = model.apply(params, inner, batch, rng=rng, training=training)
        return {**inner, "fresh": jnp.zeros_like(fresh)}, out

    return model._replace(
        initial_carry=initial_carry, reset_carry=reset_carry, apply=apply, stochastic=True
    )
