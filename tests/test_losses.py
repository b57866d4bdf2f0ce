"""Losses against float64 references of the reference formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rrm_jax import losses


def _np_stablemax_ce(logits, labels):
    x = logits.astype(np.float64)
    s = np.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    logp = np.log(s / s.sum(-1, keepdims=True))
    mask = labels != losses.IGNORE_LABEL
    picked = np.take_along_axis(logp, np.where(mask, labels, 0)[..., None], -1)[..., 0]
    return -np.where(mask, picked, 0.0)


def _case(seed=0, b=4, length=6, v=5):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(b, length, v)) * 4).astype(np.float32)
    labels = rng.integers(0, v, (b, length))
    labels[1, :3] = losses.IGNORE_LABEL
    labels[3, :] = losses.IGNORE_LABEL  # a row without labels
    return logits, labels


def test_stablemax_matches_float64_reference():
    logits, labels = _case()
    got = losses.token_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
    np.testing.assert_allclose(got, _np_stablemax_ce(logits, labels), rtol=2e-6, atol=1e-6)


def test_softmax_option_is_plain_cross_entropy():
    logits, labels = _case(1)
    got = losses.token_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), "softmax")
    safe = np.where(labels < 0, 0, labels)
    want = optax.softmax_cross_entropy_with_integer_labels(logits, safe) * (labels >= 0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("value", [-1.0, 0.0, 1.0, 2.0])
def test_stablemax_gradient_is_finite_at_branch_points(value):
    logits = jnp.full((1, 1, 3), value).at[0, 0, 1].set(value + 1.0)
    g = jax.grad(lambda z: losses.token_cross_entropy(z, jnp.array([[1]])).sum())(logits)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_act_loss_normalisation():
    logits, labels = _case(2)
    q_halt = jnp.array([0.3, -1.0, 2.0, 0.0])
    total, parts = losses.act_loss(jnp.asarray(logits), q_halt, jnp.asarray(labels))
    ce = _np_stablemax_ce(logits, labels)
    counts = (labels != losses.IGNORE_LABEL).sum(-1)
    lm = np.sum(ce.sum(-1) / np.maximum(counts, 1))  # per-sequence mean, summed over rows
    exact = ((logits.argmax(-1) == labels) | (labels < 0)).all(-1).astype(np.float64)
    q = np.asarray(q_halt, np.float64)
    bce = np.sum(np.maximum(q, 0) - q * exact + np.log1p(np.exp(-np.abs(q))))
    assert float(parts["lm_loss"]) == pytest.approx(lm, rel=1e-5)
    assert float(parts["q_halt_loss"]) == pytest.approx(bce, rel=1e-5)
    assert float(total) == pytest.approx(lm + 0.5 * bce, rel=1e-5)
    total, _ = losses.act_loss(jnp.asarray(logits), q_halt, jnp.asarray(labels), lm_weight=0.25)
    assert float(total) == pytest.approx(0.25 * lm + 0.5 * bce, rel=1e-5)


def test_q_target_gets_no_gradient_through_correctness():
    logits, labels = _case(3)
    g = jax.grad(lambda q: losses.act_loss(jnp.asarray(logits), q, jnp.asarray(labels))[0])(
        jnp.zeros(4)
    )
    # d BCE / dq = sigmoid(q) - target = 0.5 - exact
    exact = ((logits.argmax(-1) == labels) | (labels < 0)).all(-1)
    np.testing.assert_allclose(g, 0.5 * (0.5 - exact), rtol=1e-6)


def test_segment_metrics_count_halted_rows_with_labels():
    logits, labels = _case(4)
    labels[0] = logits[0].argmax(-1)  # row 0 exactly right
    m = losses.segment_metrics(
        jnp.asarray(logits),
        jnp.array([1.0, -1.0, 1.0, 1.0]),
        jnp.asarray(labels),
        jnp.array([2, 3, 4, 5]),
        jnp.array([True, True, False, True]),
    )
    # Row 2 is not halted and row 3 has no labels: rows 0 and 1 count.
    assert float(m["count"]) == 2.0
    assert float(m["exact_accuracy"]) == 1.0
    assert float(m["steps"]) == 5.0
    assert float(m["q_halt_accuracy"]) == 2.0  # row 0: q>=0 & exact; row 1: q<0 & not exact
