"""Helpers the official-code parity tests share."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import models
from rrm_jax.convert import to_official
from rrm_jax.train.step import make_segment_gradients

GRAD_RTOL, GRAD_ATOL_OF_MAX = 1e-4, 5e-5


def assert_round_trip(params, config, sd) -> None:
    """`params` (converted from the official state dict `sd`) has the tree, shapes and dtypes
    model.init makes, and converts back to `sd` exactly."""
    shapes = jax.eval_shape(models.build(config).init, jax.random.PRNGKey(0), None)
    assert jax.tree.structure(params) == jax.tree.structure(shapes)
    for ours, want in zip(jax.tree.leaves(params), jax.tree.leaves(shapes), strict=True):
        assert (ours.shape, ours.dtype) == (want.shape, want.dtype)
    back = to_official(params, config)
    assert set(back) == set(sd)
    for k, v in sd.items():
        assert back[k].dtype == v.dtype, k
        np.testing.assert_array_equal(back[k], v, err_msg=k)


def training_segment(model, config, params, carry, batch):
    """One differentiated segment exactly as the trainer runs it (`make_segment_gradients`),
    from `carry` with no segments run before: (loss, aux, (g_dense, g_rows))."""
    b = batch["inputs"].shape[0]
    fn = jax.jit(make_segment_gradients(model, config, b))
    key = jax.random.PRNGKey(0)
    loss, aux, grads, _ = fn(params, carry, jnp.zeros((b,), jnp.int32), batch, key, key)
    return loss, aux, grads


def assert_official_gradients(params, g_dense, g_rows, config, data) -> set[str]:
    """Every official parameter gradient in the fixture equals ours mapped back to official
    names and layouts (relative to each tensor's scale); returns the official names checked."""
    grads = to_official({**params, "dense": g_dense}, config)
    expected = {k[len("grad/") :] for k in data if k.startswith("grad/")}
    frozen = {"inner.H_init", "inner.L_init", "inner.puzzle_emb.weights"}  # buffers, no grad
    assert expected == (set(grads) - frozen) | {"inner.puzzle_emb.local_weights"}
    grads["inner.puzzle_emb.local_weights"] = np.asarray(g_rows)
    for key in sorted(expected):
        ref = data["grad/" + key]
        assert float(np.abs(ref).max()) > 0, f"{key}: the fixture gradient is zero"
        np.testing.assert_allclose(
            grads[key],
            ref,
            rtol=GRAD_RTOL,
            atol=GRAD_ATOL_OF_MAX * float(np.abs(ref).max()),
            err_msg=key,
        )
    return expected
