"""The gradient rules of the recursion engine, against plain references and against memory."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import recursion

D = 8


def _params(seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    return {
        "wl": jax.random.normal(k[0], (D, D)) / np.sqrt(D),
        "wh": jax.random.normal(k[1], (D, D)) / np.sqrt(D),
        "b": 0.1 * jax.random.normal(k[2], (D,)),
    }


def latent(p, c, x):  # z <- f(z + y + x)
    return {"y": c["y"], "z": jnp.tanh((c["z"] + c["y"] + x) @ p["wl"] + p["b"])}


def answer(p, c):  # y <- f(y + z)
    return {"y": jnp.tanh((c["y"] + c["z"]) @ p["wh"]), "z": c["z"]}


def _inputs(seed=1):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    carry = {"y": jax.random.normal(k[0], (3, D)), "z": jax.random.normal(k[1], (3, D))}
    return carry, jax.random.normal(k[2], (3, D))


def _loss(out):
    return jnp.sum(out["y"] ** 2) + 0.5 * jnp.sum(jnp.sin(out["z"]))


def python_loop(p, c, x, cycles, n, grad_from):
    """Reference: Python loops; updates before index `grad_from` are under stop_gradient."""
    i = 0
    for _ in range(cycles):
        for _ in range(n):
            c = (
                latent(p, c, x)
                if i >= grad_from
                else jax.lax.stop_gradient(latent(*jax.lax.stop_gradient((p, c, x))))
            )
            i += 1
        c = (
            answer(p, c)
            if i >= grad_from
            else jax.lax.stop_gradient(answer(*jax.lax.stop_gradient((p, c))))
        )
        i += 1
    return c


def engine_grads(rule, cycles, n, remat=False):
    def f(p, c, x):
        return _loss(
            recursion.recurse(
                latent, answer, p, c, x, cycles=cycles, latent_steps=n, rule=rule, remat=remat
            )
        )

    return jax.jit(jax.grad(f, argnums=(0, 1, 2)))


def reference_grads(cycles, n, grad_from):
    f = lambda p, c, x: _loss(python_loop(p, c, x, cycles, n, grad_from))
    return jax.jit(jax.grad(f, argnums=(0, 1, 2)))


@pytest.mark.parametrize("remat", [False, True])
def test_full_equals_python_loop_bptt(remat):
    p, (c, x) = _params(), _inputs()
    got = engine_grads("full", 3, 2, remat)(p, c, x)
    want = reference_grads(3, 2, grad_from=0)(p, c, x)
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(got[1]["z"]).sum()) > 0  # BPTT reaches the initial carry


def test_forward_is_the_same_for_every_rule():
    p, (c, x) = _params(), _inputs()
    outs = [
        recursion.recurse(latent, answer, p, c, x, cycles=3, latent_steps=2, rule=r)
        for r in recursion.GRADIENT_RULES
    ]
    want = python_loop(p, c, x, 3, 2, grad_from=0)
    for out in outs:
        chex.assert_trees_all_close(out, want, rtol=1e-6)


def test_last_recursion_cuts_exactly_before_the_last_cycle():
    cycles, n = 3, 2
    p, (c, x) = _params(), _inputs()
    g_p, g_c, g_x = engine_grads("last_recursion", cycles, n)(p, c, x)
    # Gradient w.r.t. the carry before the boundary is exactly zero.
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g_c))
    want = reference_grads(cycles, n, grad_from=(cycles - 1) * (n + 1))(p, c, x)
    chex.assert_trees_all_close((g_p, g_c, g_x), want, rtol=1e-5, atol=1e-7)
    # ... and it is not the full gradient (the cut is somewhere).
    full = engine_grads("full", cycles, n)(p, c, x)
    assert not np.allclose(full[0]["wl"], g_p["wl"], rtol=1e-3)
    assert float(jnp.abs(g_x).sum()) > 0


def test_one_step_equals_stop_gradient_reference():
    cycles, n = 2, 3
    p, (c, x) = _params(), _inputs()
    g_p, g_c, g_x = engine_grads("one_step", cycles, n)(p, c, x)
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g_c))
    # Only the final latent update and the final answer update carry gradient.
    want = reference_grads(cycles, n, grad_from=cycles * (n + 1) - 2)(p, c, x)
    chex.assert_trees_all_close((g_p, g_c, g_x), want, rtol=1e-5, atol=1e-7)
    lr = engine_grads("last_recursion", cycles, n)(p, c, x)
    assert not np.allclose(lr[0]["wl"], g_p["wl"], rtol=1e-3)


def test_one_step_composes_with_vmap_and_outer_scan():
    p, (c, x) = _params(), _inputs()

    def segments(p, c, x):
        def seg(cc, _):
            out = recursion.recurse(
                latent, answer, p, cc, x, cycles=2, latent_steps=2, rule="one_step"
            )
            return jax.lax.stop_gradient(out), _loss(out)

        return jax.lax.scan(seg, c, None, length=3)[1].sum()

    g = jax.jit(jax.grad(segments))(p, c, x)
    chex.assert_tree_all_finite(g)
    per_row = jax.vmap(
        lambda cc, xx: jax.grad(
            lambda pp: _loss(
                recursion.recurse(
                    latent, answer, pp, cc, xx, cycles=2, latent_steps=2, rule="one_step"
                )
            )
        )(p)
    )(c, x)
    batched = jax.grad(
        lambda pp: _loss(
            recursion.recurse(latent, answer, pp, c, x, cycles=2, latent_steps=2, rule="one_step")
        )
    )(p)
    chex.assert_trees_all_close(
        jax.tree.map(lambda a: a.sum(0), per_row), batched, rtol=1e-5, atol=1e-6
    )


def _temp_bytes(rule, cycles, width=64):
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    p = {
        "wl": jax.random.normal(k[0], (width, width)),
        "wh": jax.random.normal(k[1], (width, width)),
        "b": jnp.zeros((width,)),
    }
    c = {"y": jnp.ones((256, width)), "z": jnp.ones((256, width))}
    x = jnp.ones((256, width))

    def f(p, c, x):
        return _loss(
            recursion.recurse(latent, answer, p, c, x, cycles=cycles, latent_steps=4, rule=rule)
        )

    compiled = jax.jit(jax.grad(f, argnums=(0, 2))).lower(p, c, x).compile()
    return compiled.memory_analysis().temp_size_in_bytes


@functools.cache
def _memory_table():
    return {(r, t): _temp_bytes(r, t) for r in recursion.GRADIENT_RULES for t in (2, 12)}


@pytest.mark.parametrize("rule", ["one_step", "last_recursion"])
def test_truncated_gradient_memory_is_flat_in_depth(rule):
    table = _memory_table()
    # Six times the no-grad steps; allow a few bytes of loop bookkeeping, not one more state
    # (a [256, 64] fp32 carry leaf is 64 KiB, 25% of the one-step total).
    assert table[(rule, 12)] <= 1.01 * table[(rule, 2)], table


def test_full_bptt_memory_grows_with_depth():
    # The control that shows the memory test can fail: BPTT stores every step's residuals.
    table = _memory_table()
    assert table[("full", 12)] > 2 * table[("full", 2)], table


def test_rejects_bad_schedules():
    p, (c, x) = _params(), _inputs()
    with pytest.raises(ValueError, match="cycles"):
        recursion.recurse(latent, answer, p, c, x, cycles=0, latent_steps=1, rule="full")
    with pytest.raises(ValueError, match="unknown gradient rule"):
        recursion.recurse(latent, answer, p, c, x, cycles=1, latent_steps=1, rule="nope")
