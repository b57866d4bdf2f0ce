"""Losses and the per-row correctness they share with the metrics.

Matches `models/losses.py` of the official code (`ACTLossHead`):
* labels equal to IGNORE_LABEL (-100) do not count;
* lm loss: per-sequence MEAN over counted tokens, SUMMED over all rows (halted or not); the
  trainer divides the total by the global batch size, so the gradient is a global mean;
* q_halt loss: BCE-with-logits of q_halt against "the whole sequence is exactly right", summed;
* total = lm + 0.5 * (q_halt [+ q_continue]); `lm_weight` (default 1) scales the lm term, for
  models whose own loss terms replace it (they return them in `Outputs.losses`).
Stablemax (Prieto et al. 2025) is the default. The reference evaluates it in float64; here it runs
in float32 through log-differences (x64 is off by default in JAX), which agrees with a float64
reference to ~1e-6 relative (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

IGNORE_LABEL = -100


def _stablemax_s(x: jax.Array) -> jax.Array:
    # s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0. The 1/(1-x) branch is evaluated on min(x, 0)
    # so its gradient stays finite where it is not selected (x = 1 would give 1/0 and NaN grads).
    return jnp.where(x < 0, 1.0 / (1.0 - jnp.minimum(x, 0.0)), x + 1.0)


def log_stablemax(logits: jax.Array, axis: int = -1) -> jax.Array:
    s = _stablemax_s(logits.astype(jnp.float32))
    return jnp.log(s) - jnp.log(jnp.sum(s, axis=axis, keepdims=True))


def token_cross_entropy(logits: jax.Array, labels: jax.Array, kind: str = "stablemax") -> jax.Array:
    """Per-token cross-entropy [B, L] in fp32; ignored labels give 0."""
    mask = labels != IGNORE_LABEL
    safe = jnp.where(mask, labels, 0)
    if kind == "stablemax":
        logp = log_stablemax(logits)
    elif kind == "softmax":
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    else:
        raise ValueError(f"unknown loss type {kind!r}")
    picked = jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    return -jnp.where(mask, picked, 0.0)


def binary_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """BCE with logits, elementwise: softplus(q) - q * t (stable, gradient sigmoid(q) - t)."""
    logits = logits.astype(jnp.float32)
    return jax.nn.softplus(logits) - logits * targets


def correctness(logits: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
    """Per-row counts, token accuracy and exact correctness (no gradient)."""
    mask = labels != IGNORE_LABEL
    counts = mask.sum(-1)
    is_correct = mask & (jnp.argmax(logits, axis=-1) == labels)
    return {
        "counts": counts,
        "token_accuracy": is_correct.sum(-1) / jnp.maximum(counts, 1),
        "exact": is_correct.sum(-1) == counts,
    }


def act_loss(
    logits: jax.Array,
    q_halt: jax.Array,
    labels: jax.Array,
    *,
    kind: str = "stablemax",
    q_weight: float = 0.5,
    lm_weight: float = 1.0,
    q_continue: jax.Array | None = None,
    q_continue_target: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Summed ACT loss over the batch (divide by the global batch size for the gradient).

    Returns:
      (total, parts): the summed total and its summed parts "lm_loss", "q_halt_loss"
      (and "q_continue_loss" when a target is given).
    """
    row = correctness(logits, labels)
    ce = token_cross_entropy(logits, labels, kind)
    lm = jnp.sum(ce.sum(-1) / jnp.maximum(row["counts"], 1))
    seq_correct = jax.lax.stop_gradient(row["exact"]).astype(jnp.float32)
    q_halt_loss = jnp.sum(binary_cross_entropy(q_halt, seq_correct))
    parts = {"lm_loss": lm, "q_halt_loss": q_halt_loss}
    q_total = q_halt_loss
    if q_continue_target is not None:
        q_cont_loss = jnp.sum(binary_cross_entropy(q_continue, q_continue_target))
        parts["q_continue_loss"] = q_cont_loss
        q_total = q_total + q_cont_loss
    return lm_weight * lm + q_weight * q_total, parts


def segment_metrics(
    logits: jax.Array, q_halt: jax.Array, labels: jax.Array, steps: jax.Array, halted: jax.Array
) -> dict[str, jax.Array]:
    """Summed metrics over rows that halted this step and have labels, as the reference logs.

    Divide "accuracy", "exact_accuracy", "q_halt_accuracy" and "steps" by "count".
    """
    row = correctness(logits, labels)
    valid = halted & (row["counts"] > 0)
    f = lambda v: jnp.sum(jnp.where(valid, v, 0).astype(jnp.float32))
    return {
        "count": f(jnp.ones_like(q_halt)),
        "accuracy": f(row["token_accuracy"]),
        "exact_accuracy": f(row["exact"]),
        "q_halt_accuracy": f((q_halt >= 0) == row["exact"]),
        "steps": f(steps),
    }
