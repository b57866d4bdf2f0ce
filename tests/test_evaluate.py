"""Evaluation reductions on a scripted model whose per-segment answers are known."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rrm_jax.eval import evaluate as eval_lib
from rrm_jax.models.base import Model, Outputs

B, L, V, K = 6, 4, 5, 5
# Row r becomes exactly right from segment SOLVED[r] on (1-based; K+1 = never) and its Q head
# says "halt" from segment HALT[r] on.
SOLVED = np.array([1, 2, 3, 5, 6, 2])
HALT = np.array([1, 3, 2, 6, 1, 2])


def scripted_model() -> Model:
    def init(rng, batch):
        return {"dense": {}, "puzzle_emb": jnp.zeros((1, 1)), "const": {}}

    def initial_carry(batch):
        return {"k": jnp.zeros((batch["inputs"].shape[0],), jnp.int32)}

    def reset_carry(params, carry, reset):
        return {"k": jnp.where(reset, 0, carry["k"])}

    def apply(params, carry, batch, *, rng=None, training=False):
        k = carry["k"] + 1
        right = k >= jnp.asarray(SOLVED)
        target = jnp.where(right[:, None], batch["labels"], (batch["labels"] + 1) % V)
        logits = jax.nn.one_hot(target, V) * 10.0
        q = jnp.where(k >= jnp.asarray(HALT), 1.0, -1.0)
        return {"k": k}, Outputs(logits, q, jnp.zeros_like(q))

    return Model(init, initial_carry, reset_carry, apply, L, 0)


def _config():
    c = ml_collections.ConfigDict()
    c.act = {"max_steps": K}
    c.model = {"vocab_size": V, "dtype": "float32"}
    c.loss = {"type": "softmax"}
    return c


def test_per_segment_accuracy_and_act_halting():
    model = scripted_model()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, V, (B, L)).astype(np.int32)
    batch = {
        "inputs": labels.copy(),
        "labels": labels,
        "puzzle_identifiers": np.zeros((B,), np.int32),
        "valid": np.array([True] * (B - 1) + [False]),
    }  # the last row is padding
    step = jax.jit(eval_lib.make_eval_step(model, _config()))
    out, rows = eval_lib.evaluate(step, model.init(None, batch), [batch], lambda b: b, collect=True)
    assert rows["preds"].shape == (B - 1, L) and rows["q_halt"].shape == (B - 1,)
    np.testing.assert_array_equal(rows["puzzle_identifiers"], batch["puzzle_identifiers"][:-1])
    real = slice(0, B - 1)
    n = B - 1
    assert out["count"] == n
    want_curve = [(SOLVED[real] <= k).sum() / n for k in range(1, K + 1)]
    np.testing.assert_allclose(out["exact_by_segment"], want_curve)
    assert out["exact_accuracy"] == pytest.approx(want_curve[-1])
    halt_at = np.minimum(HALT[real], K)  # never halting means running all K
    assert out["halt_steps"] == pytest.approx(halt_at.mean())
    assert out["exact_at_halt"] == pytest.approx((SOLVED[real] <= halt_at).mean())
    assert out["steps"] == K
    exact_final = SOLVED[real] <= K
    q_final = HALT[real] <= K
    assert out["q_halt_accuracy"] == pytest.approx((exact_final == q_final).mean())
