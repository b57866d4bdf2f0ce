"""TRM: the recursion wiring, the prefix, the heads, dtypes, and where gradient flows."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import layers, models
from rrm_jax.config import base_config
from rrm_jax.models.embed import InputEmbedding, local_view

B, L, V = 3, 9, 6


def _config(**model):
    c = base_config()
    c.model.update(
        dict(
            vocab_size=V,
            seq_len=L,
            num_puzzle_identifiers=5,
            hidden_size=16,
            num_heads=2,
            puzzle_emb_ndim=16,
            puzzle_emb_len=2,
            dtype="float32",
        )
    )
    c.model.update(model)
    c.recursion.update(dict(cycles=3, latent_steps=2))
    return c


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "inputs": jnp.asarray(rng.integers(0, V, (B, L)), jnp.int32),
        "labels": jnp.asarray(rng.integers(0, V, (B, L)), jnp.int32),
        "puzzle_identifiers": jnp.asarray([0, 3, 3], jnp.int32),
    }


@functools.cache
def _setup(mixer="attention", pos="rope", dtype="float32"):
    c = _config(mixer=mixer, pos_encodings=pos, dtype=dtype)
    model = models.build(c)
    params = model.init(jax.random.PRNGKey(0), _batch())
    # Non-zero puzzle rows so the prefix matters.
    params["puzzle_emb"] = jax.random.normal(jax.random.PRNGKey(3), params["puzzle_emb"].shape)
    carry = model.reset_carry(params, model.initial_carry(_batch()), jnp.ones((B,), bool))
    return c, model, params, carry


def _reference_forward(c, params, carry, batch):
    """TRM's forward written as plain Python loops in the reference's order."""
    m = c.model
    prefix = m.puzzle_emb_len
    seq = m.seq_len + prefix
    net = layers.ReasoningNet(m.num_layers, m.hidden_size, m.num_heads, m.expansion, seq, m.mixer)
    cs = (
        layers.rope_tables(seq, m.hidden_size // m.num_heads) if m.pos_encodings == "rope" else None
    )
    embed = InputEmbedding(V, m.hidden_size, prefix, seq, m.pos_encodings)
    dense = params["dense"]
    x = embed.apply(
        {"params": dense["embed"]},
        batch["inputs"],
        params["puzzle_emb"][batch["puzzle_identifiers"]],
    )
    f = lambda h, inj: net.apply({"params": dense["net"]}, h, inj, cs)
    y, z = carry["y"], carry["z"]
    for _ in range(c.recursion.cycles):
        for _ in range(c.recursion.latent_steps):
            z = f(z, y + x)  # z_L <- L_level(z_L, z_H + x)
        y = f(y, z)  # z_H <- L_level(z_H, z_L): no x
    lm = y @ dense["heads"]["lm_head"]["kernel"]
    q = y[:, 0] @ dense["heads"]["q_head"]["kernel"] + dense["heads"]["q_head"]["bias"]
    return {"y": y, "z": z}, lm[:, prefix:], q


@pytest.mark.parametrize("mixer,pos", [("attention", "rope"), ("mlp", "none")])
def test_forward_matches_the_reference_loop(mixer, pos):
    c, model, params, carry = _setup(mixer, pos)
    batch = _batch()
    new_carry, out = jax.jit(model.apply)(params, carry, batch)
    ref_carry, ref_logits, ref_q = _reference_forward(c, params, carry, batch)
    chex.assert_trees_all_close(new_carry, ref_carry, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(out.logits, ref_logits, rtol=2e-5, atol=2e-5)
    assert out.logits.shape == (B, L, V)  # the prefix positions are dropped
    np.testing.assert_allclose(out.q_halt, ref_q[:, 0], rtol=1e-5, atol=1e-6)


def test_init_matches_the_reference():
    c, model, params, _ = _setup()
    fresh = model.init(jax.random.PRNGKey(0), _batch())
    heads = fresh["dense"]["heads"]
    assert float(jnp.abs(heads["q_head"]["kernel"]).max()) == 0.0
    np.testing.assert_array_equal(heads["q_head"]["bias"], [-5.0, -5.0])
    assert float(jnp.abs(fresh["puzzle_emb"]).max()) == 0.0  # zero-initialised table
    assert fresh["puzzle_emb"].shape == (5, 16)
    # The initial latents live outside the dense (trained) params.
    assert set(fresh["const"]) == {"y_init", "z_init"} and "y_init" not in fresh["dense"]
    _, out = model.apply(
        fresh,
        model.reset_carry(fresh, model.initial_carry(_batch()), jnp.ones((B,), bool)),
        _batch(),
    )
    np.testing.assert_array_equal(out.q_halt, -5.0)  # nothing halts early at the start


def test_puzzle_prefix_takes_the_first_positions():
    m = _config().model
    embed = InputEmbedding(V, 16, 2, L + 2)
    p = embed.init(jax.random.PRNGKey(0), _batch()["inputs"], jnp.zeros((B, 16)))
    rows = jax.random.normal(jax.random.PRNGKey(1), (B, m.puzzle_emb_ndim))
    x = embed.apply(p, _batch()["inputs"], rows)
    assert x.shape == (B, L + 2, 16)
    np.testing.assert_allclose(x[:, 0], np.sqrt(16) * rows, rtol=1e-6)  # scaled by sqrt(D)
    np.testing.assert_array_equal(x[:, 1], 0.0)  # padding prefix tokens are zero inputs
    tok = p["params"]["embed_tokens"][_batch()["inputs"]]
    np.testing.assert_allclose(x[:, 2:], np.sqrt(16) * tok, rtol=1e-6)


def test_reset_carry_touches_only_masked_rows():
    _, model, params, carry = _setup()
    moved = jax.tree.map(lambda a: a + 1.0, carry)
    mask = jnp.array([True, False, True])
    out = model.reset_carry(params, moved, mask)
    for k, init in (("y", "y_init"), ("z", "z_init")):
        np.testing.assert_array_equal(out[k][1], moved[k][1])
        np.testing.assert_array_equal(
            out[k][0], jnp.broadcast_to(params["const"][init], (L + 2, 16))
        )
        np.testing.assert_array_equal(out[k][2], out[k][0])


def _loss(model, params, carry, batch):
    new_carry, out = model.apply(params, carry, batch, training=True)
    return jnp.sum(out.logits**2) + jnp.sum(out.q_halt) + 0.0 * jnp.sum(new_carry["y"])


def test_gradient_flows_only_through_the_last_recursion():
    _, model, params, carry = _setup()
    local_params, local_batch, _ = local_view(params, _batch())
    g_params, g_carry = jax.grad(lambda p, c: _loss(model, p, c, local_batch), argnums=(0, 1))(
        local_params, carry
    )
    # The incoming carry is behind T-1 no-grad cycles: exactly zero gradient.
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g_carry))
    # The puzzle rows get gradient through the input injection, batch-sized ([B, D]).
    assert g_params["puzzle_emb"].shape == (B, 16)
    assert float(jnp.abs(g_params["puzzle_emb"]).sum()) > 0
    # The fixed initial latents are not used by apply, so they get none.
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g_params["const"]))


def test_new_carry_is_detached():
    _, model, params, carry = _setup()
    g = jax.grad(lambda p: jnp.sum(model.apply(p, carry, _batch())[0]["y"] ** 2))(params)
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g))


def test_bf16_compute_with_fp32_params():
    _, model, params, carry = _setup(dtype="bfloat16")
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(params["dense"]))
    assert carry["y"].dtype == jnp.bfloat16 and params["const"]["y_init"].dtype == jnp.bfloat16
    new_carry, out = jax.jit(model.apply)(params, carry, _batch())
    assert new_carry["z"].dtype == jnp.bfloat16
    assert out.logits.dtype == jnp.bfloat16 and out.q_halt.dtype == jnp.float32


def test_parameter_counts_match_the_reference():
    # TRM-Att 6,828,034 and TRM-MLP 5,028,866 on Sudoku (V=11, L=81); TRM-Att 6,829,058 on ARC.
    batch = {"inputs": jnp.zeros((1, 81), jnp.int32), "puzzle_identifiers": jnp.zeros((1,), int)}
    for v, seq, mixer, pos, want in (
        (11, 81, "attention", "rope", 6_828_034),
        (11, 81, "mlp", "none", 5_028_866),
        (12, 900, "attention", "rope", 6_829_058),
    ):
        c = base_config()
        c.model.update(
            dict(
                vocab_size=v, seq_len=seq, num_puzzle_identifiers=1, mixer=mixer, pos_encodings=pos
            )
        )
        model = models.build(c)
        params = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
        assert models.count_params(params["dense"]) == want
