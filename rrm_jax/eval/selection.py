"""Choosing one answer among K rollouts: PTRM's selection rules (arXiv 2605.19943, section 4.2).

All functions are jnp and batched over leading axes; rollouts are the axis before the tokens.

- best-Q@K (`best_q`): the rollout with the largest halt logit (ties: the first such rollout);
- mode@K (`mode`): the most frequent decoded answer (ties between equally frequent answers: the
  one whose first occurrence comes first; the paper does not say how it breaks ties);
- best-value@K ("value", for models with a value head: GRAM's latent process reward model):
  the rollout with the largest value estimate, ties as best-Q;
- pass@K (`passed`): an oracle, whether any rollout is right (needs the labels; not a rule one
  could deploy, reported as the ceiling of the other two).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

RULES = ("best_q", "mode")
VALUE_RULE = "value"  # best value-head estimate (GRAM's LPRM): argmax like best_q


def best_q(q_K: jax.Array) -> jax.Array:
    """Index of the rollout with the largest halt logit: [..., K] -> [...]."""
    return jnp.argmax(q_K, axis=-1)


def answer_counts(preds_KL: jax.Array) -> jax.Array:
    """How many of the K rollouts decoded the same answer as each: [..., K, L] -> [..., K]."""
    same = (preds_KL[..., :, None, :] == preds_KL[..., None, :, :]).all(-1)
    return same.sum(-1)


def mode(preds_KL: jax.Array) -> jax.Array:
    """Index of the first rollout whose answer is the most frequent: [..., K, L] -> [...]."""
    return jnp.argmax(answer_counts(preds_KL), axis=-1)


def pick(x: jax.Array, index: jax.Array) -> jax.Array:
    """x[..., index, ...] along the rollout axis (the axis after index's): [..., K, *rest]."""
    axis = index.ndim
    idx = jnp.expand_dims(index, tuple(range(axis, x.ndim)))
    return jnp.take_along_axis(x, idx, axis=axis).squeeze(axis)


def select(rule: str, preds_KL: jax.Array, q_K: jax.Array, value_K=None) -> jax.Array:
    """The index chosen by `rule` ("best_q", "mode" or "value")."""
    if rule == "best_q":
        return best_q(q_K)
    if rule == "mode":
        return mode(preds_KL)
    if rule == VALUE_RULE and value_K is not None:
        return jnp.argmax(value_K, axis=-1)
    raise ValueError(f"unknown selection rule {rule!r}; expected one of {RULES + (VALUE_RULE,)}")


def exact(preds_KL: jax.Array, labels_L: jax.Array, ignore: int = -100) -> jax.Array:
    """Whether each rollout's answer equals the labels where they are not `ignore`: [..., K]."""
    labels = labels_L[..., None, :]
    ok = (preds_KL.astype(jnp.int32) == labels) | (labels == ignore)
    return ok.all(-1)


def passed(exact_K: jax.Array) -> jax.Array:
    """pass@K: any rollout right, [..., K] -> [...]."""
    return exact_K.any(-1)
