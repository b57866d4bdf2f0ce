"""HRM: two modules on two time scales, the 1-step gradient, and a gradient-free Q target."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import act, layers, losses, models
from rrm_jax.config import base_config
from rrm_jax.models.embed import InputEmbedding, local_view

B, L, V, D = 3, 9, 6, 16


def _config(**recursion):
    c = base_config()
    c.model.update(
        dict(
            name="hrm",
            vocab_size=V,
            seq_len=L,
            num_puzzle_identifiers=5,
            hidden_size=D,
            num_heads=2,
            num_layers=2,
            h_layers=1,
            puzzle_emb_ndim=D,
            puzzle_emb_len=0,
            dtype="float32",
        )
    )
    c.recursion.update(dict(cycles=2, latent_steps=2, gradient="one_step"))
    c.recursion.update(recursion)
    c.act.update(dict(halt_rule="q_halt_vs_continue", max_steps=4))
    return c


def _batch():
    rng = np.random.default_rng(0)
    return {
        "inputs": jnp.asarray(rng.integers(0, V, (B, L)), jnp.int32),
        "labels": jnp.asarray(rng.integers(0, V, (B, L)), jnp.int32),
        "puzzle_identifiers": jnp.asarray([0, 3, 3], jnp.int32),
    }


@functools.cache
def _setup(**recursion):
    c = _config(**recursion)
    model = models.build(c)
    params = model.init(jax.random.PRNGKey(0), _batch())
    k = jax.random.split(jax.random.PRNGKey(5), 3)
    params["puzzle_emb"] = jax.random.normal(k[0], params["puzzle_emb"].shape)
    heads = params["dense"]["heads"]["q_head"]
    heads["kernel"] = 0.3 * jax.random.normal(k[1], heads["kernel"].shape)
    heads["bias"] = jnp.array([0.1, -0.1])
    carry = model.reset_carry(params, model.initial_carry(_batch()), jnp.ones((B,), bool))
    return c, model, params, carry


def _reference(c, params, carry, batch, grad_last_only=False):
    """HRM's segment as plain loops in the official order (`hrm_act_v1.py`)."""
    m, r = c.model, c.recursion
    seq = L + 1  # one puzzle-prefix token
    cs = layers.rope_tables(seq, D // m.num_heads)
    f_l = layers.ReasoningNet(m.num_layers, D, m.num_heads, m.expansion, seq)
    f_h = layers.ReasoningNet(m.h_layers, D, m.num_heads, m.expansion, seq)
    dense = params["dense"]
    x = InputEmbedding(V, D, 1, seq).apply(
        {"params": dense["embed"]},
        batch["inputs"],
        params["puzzle_emb"][batch["puzzle_identifiers"]],
    )
    sg = jax.lax.stop_gradient if grad_last_only else (lambda t: t)
    pl, ph = sg(dense["net_L"]), sg(dense["net_H"])
    z_h, z_l = carry["z_H"], carry["z_L"]
    for h in range(r.cycles):
        for i in range(r.latent_steps):
            if h == r.cycles - 1 and i == r.latent_steps - 1:
                break  # the differentiated last f_L call comes below
            z_l = f_l.apply({"params": pl}, z_l, z_h + sg(x), cs)
        if h < r.cycles - 1:
            z_h = f_h.apply({"params": ph}, z_h, z_l, cs)
    z_h, z_l = sg(z_h), sg(z_l)
    z_l = f_l.apply({"params": dense["net_L"]}, z_l, z_h + x, cs)
    z_h = f_h.apply({"params": dense["net_H"]}, z_h, z_l, cs)
    hd = dense["heads"]
    q = z_h[:, 0] @ hd["q_head"]["kernel"] + hd["q_head"]["bias"]
    return {"z_H": z_h, "z_L": z_l}, (z_h @ hd["lm_head"]["kernel"])[:, 1:], q


def test_forward_matches_the_reference_schedule():
    c, model, params, carry = _setup()
    new, out = jax.jit(model.apply)(params, carry, _batch())
    ref_carry, ref_logits, ref_q = _reference(c, params, carry, _batch())
    chex.assert_trees_all_close(new, ref_carry, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(out.logits, ref_logits, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(out.q_halt, ref_q[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.q_continue, ref_q[:, 1], rtol=1e-5, atol=1e-6)


def test_one_step_gradient_equals_the_stop_gradient_reference():
    c, model, params, carry = _setup()
    lp, lb, _ = local_view(params, _batch())

    def ours(p):
        _, out = model.apply(p, carry, lb, training=True)
        return jnp.sum(out.logits**2) + jnp.sum(out.q_halt * out.q_continue)

    def ref(p):
        _, logits, q = _reference(c, p, carry, lb, grad_last_only=True)
        return jnp.sum(logits**2) + jnp.sum(q[:, 0] * q[:, 1])

    g_ours, g_ref = jax.grad(ours)(lp), jax.grad(ref)(lp)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref), strict=True):
        # fp32 sums in a different order: compare relative to each tensor's scale.
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()) + 1e-9)
    # Every f_L/f_H weight and the puzzle rows get gradient (through the last calls).
    assert float(jnp.abs(g_ours["puzzle_emb"]).sum()) > 0


def _loss_with_target(model, params, carry, batch, target_fn):
    _, lb, _ = local_view(params, batch)

    def loss(p):
        latent, out = model.apply(p, carry, lb, training=True)
        target = target_fn(p, latent)
        total, parts = losses.act_loss(
            out.logits,
            out.q_halt,
            lb["labels"],
            q_continue=out.q_continue,
            q_continue_target=target,
        )
        return total / B, parts

    return loss


def test_q_continue_target_carries_no_gradient():
    c, model, params, carry = _setup()
    lp, lb, _ = local_view(params, _batch())
    steps = jnp.array([0, 2, 3], jnp.int32)  # row 2 reaches max_steps=4: target uses q_halt
    ours = lambda p, latent: act.q_continue_target(model, p, latent, lb, steps, max_steps=4)
    latent0, _ = model.apply(lp, carry, lb, training=True)
    fixed = ours(lp, latent0)
    assert fixed.shape == (B,) and bool(jnp.all((fixed > 0) & (fixed < 1)))
    const = lambda p, latent: fixed

    def leaky(p, latent):  # the bug the JAX HRM ports have: gradient through the bootstrap
        _, nxt = model.apply(p, latent, lb, training=True)
        best = jnp.where(steps + 1 >= 4, nxt.q_halt, jnp.maximum(nxt.q_halt, nxt.q_continue))
        return jax.nn.sigmoid(best)

    grad = lambda fn: jax.grad(lambda p: _loss_with_target(model, p, carry, _batch(), fn)(p)[0])
    g_ours, g_const, g_leaky = grad(ours)(lp), grad(const)(lp), grad(leaky)(lp)
    chex.assert_trees_all_close(g_ours, g_const, rtol=1e-6, atol=1e-8)
    diff = max(
        float(jnp.abs(a - b).max())
        for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_leaky), strict=True)
    )
    assert diff > 1e-6  # the leaky version differs, so the comparison above can fail


def test_q_continue_target_follows_the_reference_rule():
    _, model, params, carry = _setup()
    latent, _ = model.apply(params, carry, _batch())
    _, nxt = model.apply(params, latent, _batch())
    steps = jnp.array([0, 2, 3], jnp.int32)
    got = act.q_continue_target(model, params, latent, _batch(), steps, max_steps=4)
    want = jax.nn.sigmoid(
        jnp.array(
            [
                max(nxt.q_halt[0], nxt.q_continue[0]),
                max(nxt.q_halt[1], nxt.q_continue[1]),
                nxt.q_halt[2],
            ]
        )
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_parameter_count_matches_the_official_model():
    batch = {"inputs": jnp.zeros((1, 81), jnp.int32), "puzzle_identifiers": jnp.zeros((1,), int)}
    for vocab, want in ((11, 27_275_266), (12, 27_276_290)):  # Sudoku (official log), ARC
        c = base_config()
        c.model.update(
            dict(
                name="hrm",
                vocab_size=vocab,
                seq_len=81,
                num_puzzle_identifiers=1,
                num_layers=4,
                h_layers=4,
                puzzle_emb_len=0,
            )
        )
        model = models.build(c)
        params = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
        assert models.count_params(params["dense"]) == want
        assert model.prefix_len == 1
