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


def engine_loss(rule, cycles, n, remat=False, policy="nothing"):
    def f(p, c, x):
        out = recursion.recurse(
            latent,
            answer,
            p,
            c,
            x,
            cycles=cycles,
            latent_steps=n,
            rule=rule,
            remat=remat,
            remat_policy=policy,
        )
        return _loss(out)

    return f


def engine_grads(rule, cycles, n, remat=False, policy="nothing"):
    return jax.jit(jax.grad(engine_loss(rule, cycles, n, remat, policy), argnums=(0, 1, 2)))


def reference_grads(cycles, n, grad_from):
    f = lambda p, c, x: _loss(python_loop(p, c, x, cycles, n, grad_from))
    return jax.jit(jax.grad(f, argnums=(0, 1, 2)))


@pytest.mark.parametrize("remat,policy", [(False, "nothing"), (True, "nothing"), (True, "dots")])
def test_full_equals_python_loop_bptt(remat, policy):
    p, (c, x) = _params(), _inputs()
    got = engine_grads("full", 3, 2, remat, policy)(p, c, x)
    want = reference_grads(3, 2, grad_from=0)(p, c, x)
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(got[1]["z"]).sum()) > 0  # BPTT reaches the initial carry


def test_remat_policies_change_what_the_backward_pass_keeps():
    from jax._src.ad_checkpoint import saved_residuals

    p, (c, x) = _params(), _inputs()

    def count(remat, policy="nothing"):
        return len(saved_residuals(engine_loss("full", 3, 2, remat, policy), p, c, x))

    assert count(True, "nothing") < count(True, "dots") <= count(False)
    with pytest.raises(ValueError, match="remat_policy"):
        engine_grads("full", 3, 2, True, "everything")(p, c, x)


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
            recursion.recurse(
                latent, answer, p, c, x, cycles=cycles, latent_steps=4, rule=rule, neumann_terms=3
            )
        )

    compiled = jax.jit(jax.grad(f, argnums=(0, 2))).lower(p, c, x).compile()
    return compiled.memory_analysis().temp_size_in_bytes


@functools.cache
def _memory_table():
    return {(r, t): _temp_bytes(r, t) for r in recursion.GRADIENT_RULES for t in (2, 12)}


@pytest.mark.parametrize("rule", ["one_step", "last_recursion", "neumann", "implicit"])
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


# --- the fixed-point family on maps whose fixed point is known --------------------------------

N = 5


def _contractive():
    k = jax.random.split(jax.random.PRNGKey(7), 4)
    a = jax.random.normal(k[0], (N, N))
    a = 0.6 * a / jnp.linalg.norm(a, 2)  # spectral norm 0.6: a contraction
    return (
        {"a": a, "b": jax.random.normal(k[1], (N, N))},
        jax.random.normal(k[2], (N,)),
        (jax.random.normal(k[3], (N,))),
    )


def _linear_step(p, c, x):  # z <- A z + B x, fixed point (I - A)^-1 B x
    return {"z": c["z"] @ p["a"].T + p["b"] @ x}


def _identity(p, c):
    return c


def _grads(rule, cycles=80, **kw):
    p, x, w = _contractive()

    def loss(p, x):
        out = recursion.recurse(
            _linear_step,
            _identity,
            p,
            {"z": jnp.zeros(N)},
            x,
            cycles=cycles,
            latent_steps=1,
            rule=rule,
            **kw,
        )
        return jnp.dot(w, out["z"])

    return jax.jit(jax.grad(loss, argnums=(0, 1)))(p, x)


def test_implicit_gradient_matches_the_analytic_one():
    p, x, w = _contractive()
    u = jnp.linalg.solve((jnp.eye(N) - p["a"]).T, w)  # w (I - A)^-1, as a column
    want_x = p["b"].T @ u
    want_b = jnp.outer(u, x)
    z_star = jnp.linalg.solve(jnp.eye(N) - p["a"], p["b"] @ x)
    want_a = jnp.outer(u, z_star)
    g_p, g_x = _grads("implicit", implicit_tol=1e-7, implicit_max_iters=200)
    np.testing.assert_allclose(g_x, want_x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_p["b"], want_b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_p["a"], want_a, rtol=1e-4, atol=1e-5)


def test_neumann_converges_to_the_implicit_gradient_and_starts_at_one_step():
    _, want_x = _grads("implicit", implicit_tol=1e-7, implicit_max_iters=200)
    errors = [
        float(jnp.linalg.norm(_grads("neumann", neumann_terms=k)[1] - want_x))
        for k in (0, 1, 2, 4, 8, 16)
    ]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-3 * errors[0]
    chex.assert_trees_all_close(_grads("neumann", neumann_terms=0), _grads("one_step"), rtol=1e-6)
    # one_step is the k = 0 term: w = g, i.e. dL/dx = B^T w.
    p, x, w = _contractive()
    np.testing.assert_allclose(_grads("one_step")[1], p["b"].T @ w, rtol=1e-5)


def test_implicit_gradient_of_a_nonlinear_map():
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    wz = 0.5 * jax.random.normal(k[0], (N, N)) / np.sqrt(N)
    params = {"wz": wz, "wx": jax.random.normal(k[1], (N, N))}
    x, c = jax.random.normal(k[2], (N,)), jax.random.normal(k[3], (N,))
    step = lambda p, z, x_: jnp.tanh(p["wz"] @ z + p["wx"] @ x_)

    def loss(p, x_):
        out = recursion.recurse(
            lambda pp, cc, xx: {"z": step(pp, cc["z"], xx)},
            _identity,
            p,
            {"z": jnp.zeros(N)},
            x_,
            cycles=100,
            latent_steps=1,
            rule="implicit",
            implicit_tol=1e-7,
            implicit_max_iters=200,
        )
        return jnp.dot(c, out["z"])

    g_p, g_x = jax.grad(loss, argnums=(0, 1))(params, x)
    z = jnp.zeros(N)
    for _ in range(200):
        z = step(params, z, x)
    jz = jax.jacobian(step, argnums=1)(params, z, x)
    jx = jax.jacobian(step, argnums=2)(params, z, x)
    u = jnp.linalg.solve((jnp.eye(N) - jz).T, c)
    np.testing.assert_allclose(g_x, jx.T @ u, rtol=1e-4, atol=1e-5)
    jw = jax.jacobian(step, argnums=0)(params, z, x)["wz"]  # [N, N, N]
    np.testing.assert_allclose(g_p["wz"], jnp.einsum("i,ijk->jk", u, jw), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rule", ["neumann", "implicit"])
def test_fixed_point_rules_send_nothing_to_the_initial_state(rule):
    p, x, w = _contractive()

    def loss(c):
        out = recursion.recurse(
            _linear_step, _identity, p, c, x, cycles=5, latent_steps=1, rule=rule
        )
        return jnp.dot(w, out["z"])

    g = jax.grad(loss)({"z": jnp.ones(N)})
    assert float(jnp.abs(g["z"]).max()) == 0.0


def test_implicit_gradient_where_the_neumann_series_diverges():
    # A with spectral radius 1.5: the series g + g A + g A^2 + ... diverges, but I - A is
    # invertible and the implicit-function gradient w = g (I - A)^-1 exists (GMRES finds it).
    p, x, w = _contractive()
    p = dict(p, a=p["a"] * (1.5 / float(jnp.max(jnp.abs(jnp.linalg.eigvals(p["a"]))))))
    z_star = jnp.linalg.solve(jnp.eye(N) - p["a"], p["b"] @ x)

    def loss(p, x, terms):
        out = recursion.fixed_point(
            lambda pp, c, xx: {"z": z_star},  # the reached state: the fixed point itself
            lambda pp, c, xx: _linear_step(pp, c, xx),
            p,
            {"z": jnp.zeros(N)},
            x,
            terms=terms,
            tol=1e-7,
            max_iters=N,  # GMRES is exact after N iterations on an N-dimensional system
        )
        return jnp.dot(w, out["z"])

    u = jnp.linalg.solve((jnp.eye(N) - p["a"]).T, w)
    g_p, g_x = jax.grad(loss, argnums=(0, 1))(p, x, None)
    np.testing.assert_allclose(g_x, p["b"].T @ u, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_p["a"], jnp.outer(u, z_star), rtol=1e-4, atol=1e-5)
    series = [jnp.linalg.norm(jax.grad(loss, argnums=1)(p, x, k)) for k in (8, 16, 32)]
    assert series[0] < series[1] < series[2] and series[2] > 10 * jnp.linalg.norm(g_x)
