"""PTRM: Probabilistic Tiny Recursive Model (Sghaier, Parviz, Jolicoeur-Martineau, 2605.19943).

What is new in this paper is test-time only, on a trained TRM whose weights stay frozen: before
every supervision step, including the first, add fresh Gaussian noise to the reasoning latent,

    z <- z + sigma * xi,   xi ~ N(0, I) for every element, rollout and step
    (y, z) <- one unchanged TRM supervision step

run K such rollouts from the same initial state and select among them (`eval/selection.py`; the
K x D program is `eval/rollouts.py`). No official code exists; this follows the paper's
Algorithm 1 (Fig. 4). Switches for what the paper leaves open (config block `ptrm`):

- `target`: "z", the reasoning latent (the paper's Algorithm 1; TRM's z_L, HRM's z_L), or "y",
  the answer state (TRM's z_H), which is where the one community implementation adds it;
- `positions`: "all" (every position, the puzzle-embedding prefix included; default) or
  "content" (not the prefix);
- sigma is constant (no schedule), relative to the RMS-normalised latents (RMS ~ 1 per token).

The noise is drawn only when `apply` gets an `rng` and `training` is False, so training a PTRM
config trains the plain TRM (the paper never trains with noise), and `apply(..., rng=None)` is
the deterministic model exactly. The noise is drawn in fp32 and added in fp32 before casting
back to the carry's dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rrm_jax.models.base import Model

TARGETS = ("z", "y")
POSITIONS = ("all", "content")


def row_keys(rng: jax.Array, batch_size: int) -> jax.Array:
    """One key per row: `rng` is one key (split into B) or already B keys (typed or raw)."""
    typed = jnp.issubdtype(rng.dtype, jax.dtypes.prng_key)
    one_key_ndim = 0 if typed else 1
    if rng.ndim == one_key_ndim:
        return jax.random.split(rng, batch_size)
    if rng.ndim == one_key_ndim + 1 and rng.shape[0] == batch_size:
        return rng
    raise ValueError(
        f"rng must be one key or {batch_size} keys (one per row); got shape {rng.shape}"
    )


def gaussian_like(keys_B: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """fp32 N(0, I) of `shape` [B, ...], row b drawn from keys_B[b] alone."""
    return jax.vmap(lambda k: jax.random.normal(k, shape[1:], jnp.float32))(keys_B)


def add_noise(
    carry: dict, rng: jax.Array, *, key: str, sigma: float, prefix_len: int, positions: str
) -> dict:
    """carry[key] + sigma * N(0, I) (per row keys; the prefix spared when positions="content")."""
    state = carry[key]
    noise = gaussian_like(row_keys(rng, state.shape[0]), state.shape)
    if positions == "content" and prefix_len:
        keep = jnp.arange(state.shape[1]) >= prefix_len
        noise = noise * keep[None, :, None]
    noisy = (state.astype(jnp.float32) + sigma * noise).astype(state.dtype)
    return {**carry, key: noisy}


def wrap(model: Model, ptrm) -> Model:
    """`model` (TRM or HRM) with PTRM's test-time noise, from the config block `ptrm`."""
    if ptrm.target not in TARGETS:
        raise ValueError(f"ptrm.target={ptrm.target!r}; expected one of {TARGETS}")
    if ptrm.positions not in POSITIONS:
        raise ValueError(f"ptrm.positions={ptrm.positions!r}; expected one of {POSITIONS}")
    if ptrm.sigma < 0:
        raise ValueError(f"ptrm.sigma={ptrm.sigma} must be >= 0")
    if not (model.answer and model.latent):
        raise ValueError("PTRM's noise needs a model with an answer state and a latent state")
    key = model.latent if ptrm.target == "z" else model.answer
    sigma, positions = float(ptrm.sigma), ptrm.positions

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        if rng is not None and not training and sigma > 0:
            carry = add_noise(
                carry, rng, key=key, sigma=sigma, prefix_len=model.prefix_len, positions=positions
            )
        return model.apply(params, carry, batch, training=training)

    return model._replace(apply=apply, stochastic=sigma > 0)
