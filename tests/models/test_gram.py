"""GRAM: Gaussian KLs, KL balancing, shared transitions, reproducible sampling, what trains what."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import act, models
from rrm_jax.config import ConfigError, base_config, validate
from rrm_jax.eval import rollouts as rollouts_lib
from rrm_jax.models import gram

B, L, V = 4, 9, 6


def _config(**gram_fields):
    c = base_config()
    c.data.source = "sudoku"
    c.model.update(
        dict(
            name="gram",
            vocab_size=V,
            seq_len=L,
            num_puzzle_identifiers=4,
            hidden_size=16,
            num_heads=2,
            puzzle_emb_ndim=16,
            puzzle_emb_len=1,
            num_layers=1,
            dtype="float32",
        )
    )
    c.recursion.update(dict(cycles=2, latent_steps=2))
    c.loss.q_weight = 0.0
    c.gram.update(gram_fields)
    return c


@functools.cache
def _setup(**gram_fields):
    c = _config(**gram_fields)
    model = models.build(c)
    params = model.init(jax.random.PRNGKey(0), {})

    def shake(tree, seed, scale=0.3):  # move the zero-initialised heads off their init
        leaves, treedef = jax.tree.flatten(tree)
        keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
        leaves = [
            x + scale * jax.random.normal(k, x.shape, x.dtype)
            for x, k in zip(leaves, keys, strict=True)
        ]
        return jax.tree.unflatten(treedef, leaves)

    d = params["dense"]
    d = {
        **d,
        **{k: shake(d[k], i) for i, k in enumerate(("prior", "posterior", "value", "heads"), 1)},
    }
    return c, model, {**params, "dense": d}


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "inputs": jnp.asarray(rng.integers(1, V, (B, L)), jnp.int32),
        "labels": jnp.asarray(rng.integers(1, V, (B, L)), jnp.int32),
        "puzzle_identifiers": jnp.asarray(rng.integers(0, 4, (B,)), jnp.int32),
    }


def _fresh(model, params, batch):
    return model.reset_carry(params, model.initial_carry(batch), jnp.ones((B,), bool))


# --- the Gaussian algebra ------------------------------------------------------------------


def test_kl_of_known_gaussians():
    # KL(N(1, 0.5^2) || N(0, 1)) = log 2 + (0.25 + 1) / 2 - 1/2
    got = gram.gaussian_kl(jnp.array(1.0), jnp.array(0.5), jnp.array(0.0), jnp.array(1.0))
    assert float(got) == pytest.approx(np.log(2) + 0.625 - 0.5, rel=1e-6)
    assert float(gram.gaussian_kl(*(jnp.array(v) for v in (0.3, 2.0, 0.3, 2.0)))) == 0.0
    # against a Monte-Carlo estimate of E_q[log q - log p]
    mu_q, sd_q, mu_p, sd_p = 0.4, 0.7, -0.2, 1.3
    x = mu_q + sd_q * np.random.default_rng(0).standard_normal(400_000)
    logq = -0.5 * ((x - mu_q) / sd_q) ** 2 - np.log(sd_q)
    logp = -0.5 * ((x - mu_p) / sd_p) ** 2 - np.log(sd_p)
    want = float(np.mean(logq - logp))
    got = float(gram.gaussian_kl(*(jnp.array(v) for v in (mu_q, sd_q, mu_p, sd_p))))
    assert got == pytest.approx(want, abs=3e-3)


def test_balanced_kl_routes_alpha_to_the_prior_and_the_rest_to_the_posterior():
    args = tuple(jnp.array(v) for v in (0.4, 0.7, -0.2, 1.3))
    alpha = 0.8
    assert float(gram.balanced_kl(*args, alpha)) == pytest.approx(float(gram.gaussian_kl(*args)))
    g_bal = jax.grad(lambda *a: gram.balanced_kl(*a, alpha), argnums=(0, 1, 2, 3))(*args)
    g_kl = jax.grad(gram.gaussian_kl, argnums=(0, 1, 2, 3))(*args)
    for i, weight in enumerate((1 - alpha, 1 - alpha, alpha, alpha)):  # q: mu, std; p: mu, std
        assert float(g_bal[i]) == pytest.approx(weight * float(g_kl[i]), rel=1e-5)


def test_the_std_parameterisations_start_at_init_std_and_stay_above_min_std():
    for param in ("softplus", "exp"):
        head = gram.GaussianHead(8, 2.0, "linear", param, init_std=0.1, min_std=1e-3)
        p = head.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 8)))
        mu, std = head.apply(p, jax.random.normal(jax.random.PRNGKey(1), (2, 3, 8)))
        np.testing.assert_allclose(std, 0.1, rtol=1e-5)
        np.testing.assert_array_equal(mu, 0.0)
        p = jax.tree.map(lambda a: a - 100.0, p)  # push the raw std very negative
        _, std = head.apply(p, jnp.ones((1, 3, 8)))
        assert float(std.min()) >= (1e-3 if param == "softplus" else 0.1 * np.exp(-5)) * 0.999


# --- the model ------------------------------------------------------------------------------


def test_prior_and_posterior_share_every_transition_weight():
    c, model, params = _setup()
    d = params["dense"]
    assert {"net_L", "net_H", "prior", "posterior", "label_embed", "value"} <= set(d)
    assert "net" not in d  # f_L and f_H are two modules, shared by both distributions
    # With the posterior's noise head equal to the prior's and a blind label embedding, the
    # posterior rollout (training) IS the prior rollout (evaluation) under the same key.
    same = {
        **d,
        "posterior": d["prior"],
        "label_embed": jax.tree.map(jnp.zeros_like, d["label_embed"]),
    }
    p2 = {**params, "dense": same}
    batch, key = _batch(), jax.random.PRNGKey(3)
    carry = _fresh(model, p2, batch)
    post, out_t = model.apply(p2, carry, batch, rng=key, training=True)
    prior, _ = model.apply(p2, carry, batch, rng=key, training=False)
    np.testing.assert_allclose(post["h"], prior["h"], atol=1e-5)
    assert float(jnp.abs(out_t.losses["kl_loss"]).max()) < 1e-6  # identical distributions
    # and the real posterior, which sees y, differs from the prior
    post_real, out_real = model.apply(params, carry, batch, rng=key, training=True)
    assert float(jnp.abs(post_real["h"] - prior["h"]).max()) > 1e-3
    assert float(out_real.losses["kl_loss"].min()) > 0


def test_sampling_with_a_fixed_key_is_reproducible():
    _, model, params = _setup()
    batch = _batch()
    carry = _fresh(model, params, batch)
    apply = jax.jit(model.apply, static_argnames="training")
    a = apply(params, carry, batch, rng=jax.random.PRNGKey(0))
    b = apply(params, carry, batch, rng=jax.random.PRNGKey(0))
    c = apply(params, carry, batch, rng=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a[0]["h"], b[0]["h"])
    assert float(jnp.abs(a[0]["h"] - c[0]["h"]).max()) > 1e-3
    none1, none2 = apply(params, carry, batch), apply(params, carry, batch)  # a fixed draw
    np.testing.assert_array_equal(none1[0]["h"], none2[0]["h"])
    # each transition draws fresh noise: the count advances by T per segment
    np.testing.assert_array_equal(a[0]["n"], 2)
    again = apply(params, a[0], batch, rng=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(again[0]["n"], 4)


def test_reset_restores_the_fixed_z0_everywhere():
    _, model, params = _setup()
    batch = _batch()
    carry, _ = model.apply(params, _fresh(model, params, batch), batch, rng=jax.random.PRNGKey(0))
    reset = jnp.array([True, False, True, False])
    out = model.reset_carry(params, carry, reset)
    for k in ("h", "l", "ph", "pl"):
        z0 = params["const"][f"{k[-1]}_init"]
        np.testing.assert_array_equal(out[k][0], jnp.broadcast_to(z0, out[k][0].shape))
        np.testing.assert_array_equal(out[k][1], carry[k][1])
    np.testing.assert_array_equal(out["n"], [0, 2, 0, 2])


def test_halt_and_lprm_losses_train_only_their_heads():
    """The prior rollout fits the halting head and the LPRM on detached states: their losses
    send no gradient into the core, the noise heads or the embeddings; the KL does."""
    _, model, params = _setup()
    batch = _batch()
    carry = _fresh(model, params, batch)

    def loss(dense, name):
        _, out = model.apply(
            {**params, "dense": dense}, carry, batch, rng=jax.random.PRNGKey(0), training=True
        )
        return out.losses[name].sum()

    def norms(g):
        return {k: float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(v))) for k, v in g.items()}

    heads_only = norms(jax.grad(loss)(params["dense"], "halt_loss"))
    assert heads_only["heads"] > 0 and heads_only["value"] == 0
    assert all(v == 0 for k, v in heads_only.items() if k != "heads")
    value = norms(jax.grad(loss)(params["dense"], "value_loss"))
    assert value["value"] > 0 and all(v == 0 for k, v in value.items() if k != "value")
    kl = norms(jax.grad(loss)(params["dense"], "kl_loss"))
    for k in ("prior", "posterior", "label_embed", "net_L", "net_H", "embed"):
        assert kl[k] > 0, k
    assert kl["heads"] == 0 and kl["value"] == 0


def test_the_prior_side_rollout_is_separate_and_optional():
    batch = _batch()
    _, model, params = _setup()
    carry = _fresh(model, params, batch)
    new, _ = model.apply(params, carry, batch, rng=jax.random.PRNGKey(0), training=True)
    assert float(jnp.abs(new["ph"] - new["h"]).max()) > 1e-3  # its own trajectory
    _, post_model, _ = _setup(head_rollout="posterior")
    new2, _ = post_model.apply(params, carry, batch, rng=jax.random.PRNGKey(0), training=True)
    np.testing.assert_array_equal(new2["ph"], carry["ph"])  # not run


def test_trains_a_few_steps_and_rollouts_report_the_value_rule():
    from rrm_jax.eval import scaling
    from rrm_jax.train import state as state_lib
    from rrm_jax.train.step import make_optimizer, make_train_step

    c, model, _ = _setup()
    batch = {**_batch(), "inputs": _batch()["labels"]}
    tx, schedules = make_optimizer(c, 100)
    state = state_lib.create(model, tx, jax.random.PRNGKey(0), batch, ema=True)
    carry = act.initial_carry(model, batch)
    step = jax.jit(make_train_step(model, c, tx, schedules))
    for _ in range(2):
        state, carry, metrics = step(state, carry, batch)
    for k in ("kl_loss", "halt_loss", "value_loss", "prior_exact", "kl"):
        assert np.isfinite(float(metrics[k])), k
    assert float(metrics["loss"]) == pytest.approx(
        sum(float(metrics[k]) for k in ("lm_loss", "kl_loss", "halt_loss", "value_loss")),
        rel=1e-5,
    )
    run = rollouts_lib.make_rollouts(model, rollouts=3, steps=2)
    out = jax.jit(run)(state.params, batch, jax.random.PRNGKey(0))
    assert out["value"].shape == out["q_halt"].shape == (1, B, 3)
    grid = scaling.make_grid_step(model, widths=(1, 3), depths=(1, 2))
    sums, _ = jax.jit(grid)(
        state.params, {**batch, "valid": jnp.ones((B,), bool)}, jax.random.PRNGKey(0)
    )
    assert sums["value"].shape == (2, 2)


def test_config_checks():
    c = _config()
    validate(c)
    c.loss.q_weight = 0.5
    with pytest.raises(ConfigError, match="q_weight"):
        validate(c)
    c = _config(kl_balance=1.5)
    with pytest.raises(ConfigError, match="kl_balance"):
        validate(c)
    c = _config(noise_head="conv")
    with pytest.raises(ConfigError, match="noise_head"):
        validate(c)


# --- Table 3's structural ablations -------------------------------------------------------


def test_without_hierarchy_one_net_and_no_low_level_state():
    _, model, params = _setup(hierarchy=False)
    d = params["dense"]
    assert "net" in d and not {"net_L", "net_H"} & set(d)
    batch, key = _batch(), jax.random.PRNGKey(4)
    carry = _fresh(model, params, batch)
    moved = {**carry, "l": carry["l"] + 1.0}  # l is not read without the hierarchy
    a, out_a = model.apply(params, carry, batch, rng=key)
    b, out_b = model.apply(params, moved, batch, rng=key)
    np.testing.assert_array_equal(a["h"], b["h"])
    np.testing.assert_array_equal(out_a.logits, out_b.logits)
    # ... but the input is (through u = f(h + e_x))
    other = {**batch, "inputs": (batch["inputs"] % (V - 1)) + 1}
    c, _ = model.apply(params, carry, other, rng=key)
    assert float(jnp.abs(c["h"] - a["h"]).max()) > 1e-3


def _pin_prior(params, value: float):
    """The prior's head made constant: mean `value`, std at its floor."""
    d = params["dense"]
    out = d["prior"]["out"]
    bias = jnp.concatenate([jnp.full((16,), value), jnp.full((16,), -1e4)])
    prior = {**d["prior"], "out": {"kernel": jnp.zeros_like(out["kernel"]), "bias": bias}}
    return {**params, "dense": {**d, "prior": prior}}


def test_direct_prediction_samples_the_state_not_a_residual():
    for residual in (True, False):
        _, model, params = _setup(residual=residual)
        params = _pin_prior(params, 0.7)
        batch = _batch()
        new, _ = model.apply(params, _fresh(model, params, batch), batch, rng=jax.random.PRNGKey(0))
        err = float(jnp.abs(new["h"] - 0.7).max())
        # direct: h ~ N(0.7, min_std^2) everywhere; residual: h = u + 0.7 follows u
        assert (err < 5e-3) if not residual else (err > 0.1)
    _, direct, p = _setup(residual=False)
    assert float(jnp.abs(p["dense"]["prior"]["out"]["kernel"]).max()) > 0  # not zero-init


def test_kl_of_all_transitions_sums_what_last_keeps():
    batch, key = _batch(), jax.random.PRNGKey(5)
    kl = {}
    for which in ("last", "all"):
        _, model, params = _setup(kl_transitions=which)
        carry = _fresh(model, params, batch)
        _, out = model.apply(params, carry, batch, rng=key, training=True)
        kl[which] = np.asarray(out.metrics["kl"])
    # two transitions per step (cycles=2): all = first + last > last, same draws otherwise
    assert np.all(kl["all"] > kl["last"] + 1e-6)
    c = _config(kl_transitions="all")
    c.recursion.cycles = 1
    one = models.build(c)
    _, _, params = _setup()
    carry = _fresh(one, params, batch)
    _, out_all = one.apply(params, carry, batch, rng=key, training=True)
    c.gram.kl_transitions = "last"
    _, out_last = models.build(c).apply(params, carry, batch, rng=key, training=True)
    np.testing.assert_allclose(out_all.metrics["kl"], out_last.metrics["kl"], rtol=1e-6)
