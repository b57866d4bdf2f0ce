"""Tests for rrm_jax.optim against the update equations of the official HRM/TRM optimisers."""

from __future__ import annotations

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rrm_jax.optim import (
    ScaleByAdamAtan2State,
    SparseSignSGD,
    adam_atan2,
    ema_init,
    ema_update,
    official_lr,
    scale_by_adam_atan2,
    sparse_signsgd_update,
    sum_grads_by_id,
    warmup_cosine_schedule,
)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _make_step(opt: optax.GradientTransformation):
    """Jitted (params, state, grads) -> (new_params, new_state, updates)."""

    @jax.jit
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, updates

    return step


def _np_adam_atan2(p0, grads_seq, lrs, b1, b2, wd):
    """fp64 reference of the official AdamATan2 kernel; lrs[t-1] is the lr at step t."""
    p = np.asarray(p0, np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    out = []
    for t, (g, lr) in enumerate(zip(grads_seq, lrs, strict=True), start=1):
        g = np.asarray(g, np.float64)
        p = p * (1.0 - lr * wd)
        m = m + (1.0 - b1) * (g - m)
        v = v + (1.0 - b2) * (g * g - v)
        p = p - lr * np.arctan2(m / (1.0 - b1**t), np.sqrt(v) / np.sqrt(1.0 - b2**t))
        out.append(p.copy())
    return out


def _np_sparse_signsgd(table, ids, row_grads, lr, wd):
    """Loop reference of CastedSparseEmbeddingSignSGD_Distributed (fp64 accumulation)."""
    table = np.array(table, copy=True)
    sums: dict[int, np.ndarray] = {}
    for i, g in zip(ids.tolist(), np.asarray(row_grads, np.float64), strict=True):
        sums[i] = sums.get(i, 0.0) + g
    for i, g in sums.items():
        table[i] = table[i] * np.float32(1.0 - lr * wd) - np.float32(lr) * np.sign(g)
    return table


_sparse_update_jit = jax.jit(sparse_signsgd_update)


# ---------------------------------------------------------------------------------------------
# AdamATan2
# ---------------------------------------------------------------------------------------------


def test_adam_atan2_matches_numpy_reference_with_schedule_and_wd():
    b1, b2, wd = 0.9, 0.95, 0.1
    base, warmup, total = 1e-2, 3, 10
    opt = adam_atan2(warmup_cosine_schedule(base, warmup, total, 0.1), b1, b2, wd)
    step = _make_step(opt)
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(7, 5)).astype(np.float32)
    grads = [
        (rng.normal(size=(7, 5)) * 10.0 ** rng.uniform(-3, 1)).astype(np.float32) for _ in range(5)
    ]
    # Include zero and sign-changing entries.
    grads[0][0, :] = 0.0
    grads[2][1, :] = 0.0
    lrs = [official_lr(t, base, warmup, total, 0.1) for t in range(1, 6)]
    ref = _np_adam_atan2(p0, grads, lrs, b1, b2, wd)

    params = jnp.asarray(p0)
    state = opt.init(params)
    for t in range(5):
        params, state, _ = step(params, state, jnp.asarray(grads[t]))
        np.testing.assert_allclose(np.asarray(params), ref[t], rtol=1e-6, atol=1e-7)
        assert int(state[0].count) == t + 1


def test_first_step_is_lr_pi_over_4_sign_and_zero_grad_is_still():
    lr = 0.1
    opt = adam_atan2(lr, weight_decay=0.0)
    step = _make_step(opt)
    g = jnp.array([[3.0, -2e-5, 0.0], [-7e4, 0.0, 1.0]], jnp.float32)
    p0 = jnp.arange(6, dtype=jnp.float32).reshape(2, 3) - 2.5
    params, state, updates = step(p0, opt.init(p0), g)
    expected = p0 - lr * (math.pi / 4) * jnp.sign(g)
    np.testing.assert_allclose(np.asarray(params), np.asarray(expected), rtol=0, atol=1e-6)
    zero = np.asarray(g) == 0.0
    np.testing.assert_array_equal(np.asarray(params)[zero], np.asarray(p0)[zero])
    # A second all-zero step: moments of the zero entries stay 0, atan2(0, 0) = 0, no NaN.
    params2, state, updates = step(params, state, jnp.zeros_like(g))
    for tree in (params2, updates, state):
        for leaf in jax.tree.leaves(tree):
            assert np.all(np.isfinite(np.asarray(leaf)))
    np.testing.assert_array_equal(np.asarray(params2)[zero], np.asarray(p0)[zero])


def test_all_zero_gradients_produce_no_nan():
    opt = adam_atan2(1e-3, weight_decay=0.0)
    step = _make_step(opt)
    p = jnp.ones((4,), jnp.float32)
    state = opt.init(p)
    for _ in range(3):
        p, state, u = step(p, state, jnp.zeros((4,), jnp.float32))
        chex.assert_tree_all_finite((p, state, u))
    np.testing.assert_array_equal(np.asarray(p), np.ones(4, np.float32))


def test_step_bounded_and_scale_invariant():
    lr = 0.05
    opt = adam_atan2(lr, weight_decay=0.0)
    step = _make_step(opt)
    rng = np.random.default_rng(1)
    base_grads = [rng.normal(size=(64,)).astype(np.float32) for _ in range(8)]
    p0 = jnp.asarray(rng.normal(size=(64,)).astype(np.float32))

    def trajectory(scale: float, wild: bool = False):
        p, s = p0, opt.init(p0)
        deltas = []
        for g in base_grads:
            g = g * scale
            if wild:  # per-element scales from 1e-12 to 1e12 that change every step
                g = g * (10.0 ** rng.uniform(-12, 12, size=g.shape)).astype(np.float32)
            new_p, s, u = step(p, s, jnp.asarray(g, jnp.float32))
            deltas.append(np.asarray(u))
            p = new_p
        return deltas

    bound = lr * math.pi / 2 * (1 + 1e-6)
    for scale in (1e-12, 1e-3, 1.0, 1e3, 1e12):
        for d in trajectory(scale):
            assert np.all(np.isfinite(d))
            assert np.max(np.abs(d)) <= bound
    for d in trajectory(1.0, wild=True):
        assert np.all(np.isfinite(d))
        assert np.max(np.abs(d)) <= bound
    ref = trajectory(1.0)
    for scale in (1e-6, 3.7, 1e6):
        for d, r in zip(trajectory(scale), ref, strict=True):
            np.testing.assert_allclose(d, r, rtol=1e-5, atol=lr * 1e-6)


@pytest.mark.parametrize("callable_mask", [False, True])
def test_mask_excludes_weight_decay(callable_mask):
    lr, wd = 0.1, 0.5
    mask = {"w": True, "b": False}
    opt = adam_atan2(lr, weight_decay=wd, mask=(lambda p: mask) if callable_mask else mask)
    params = {"w": jnp.full((3, 2), 2.0), "b": jnp.full((2,), 2.0)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    new, _, _ = _make_step(opt)(params, opt.init(params), zeros)
    # zero gradient => atan2(0, 0) = 0, only decoupled decay moves the decayed leaf
    np.testing.assert_allclose(np.asarray(new["w"]), 2.0 * (1 - lr * wd), rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(new["b"]), np.asarray(params["b"]))


def test_pytree_jit_and_state_dtypes():
    opt = adam_atan2(warmup_cosine_schedule(1e-3, 2, 10), weight_decay=0.1)
    params = {
        "dense": {"kernel": jnp.ones((3, 4), jnp.float32), "bias": jnp.zeros((4,), jnp.float32)},
        "half": jnp.ones((5,), jnp.bfloat16),
        "scalar": jnp.float32(1.5),
    }
    state = jax.jit(opt.init)(params)
    adam_state = state[0]
    assert isinstance(adam_state, ScaleByAdamAtan2State)
    assert adam_state.count.dtype == jnp.int32
    for leaf in jax.tree.leaves((adam_state.mu, adam_state.nu)):
        assert leaf.dtype == jnp.float32
    chex.assert_trees_all_equal_shapes(adam_state.mu, params)
    grads = jax.tree.map(lambda p: jnp.ones_like(p), params)
    step = _make_step(opt)
    new, state, _ = step(params, state, grads)
    new, state, _ = step(new, state, grads)
    chex.assert_trees_all_equal_structs(new, params)
    chex.assert_trees_all_equal_dtypes(new, params)
    for leaf in jax.tree.leaves((state[0].mu, state[0].nu)):
        assert leaf.dtype == jnp.float32
    assert int(state[0].count) == 2
    chex.assert_tree_all_finite(new)


def test_scale_by_adam_atan2_direction_only():
    tx = scale_by_adam_atan2()
    g = jnp.array([2.0, -0.5, 0.0])
    u, _ = jax.jit(tx.update)(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(u), [math.pi / 4, -math.pi / 4, 0.0], atol=1e-6)
    with pytest.raises(ValueError):
        scale_by_adam_atan2(b1=1.0)


def _minimise(f, x0, opt, n):
    @jax.jit
    def go(x):
        def body(carry, _):
            x, s = carry
            u, s = opt.update(jax.grad(f)(x), s, x)
            return (optax.apply_updates(x, u), s), None

        (x, _), _ = jax.lax.scan(body, (x, opt.init(x)), None, length=n)
        return x

    return go(x0)


def test_converges_on_quadratic():
    curv = jnp.array([1.0, 10.0, 100.0, 0.1])
    target = jnp.array([1.0, -2.0, 3.0, 0.5])
    f = lambda x: 0.5 * jnp.sum(curv * (x - target) ** 2)
    x0 = jnp.zeros(4)
    n = 2000
    x = _minimise(f, x0, adam_atan2(warmup_cosine_schedule(0.02, 50, n, 0.0)), n)
    assert float(f(x0)) > 1.0
    np.testing.assert_allclose(np.asarray(x), np.asarray(target), atol=1e-4)
    assert float(f(x)) < 1e-7


def test_converges_on_rosenbrock():
    f = lambda p: (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2
    x0 = jnp.array([-1.5, 2.0])
    n = 3000
    x = _minimise(f, x0, adam_atan2(warmup_cosine_schedule(0.02, 100, n, 0.0), 0.9, 0.95), n)
    assert float(f(x0)) > 10.0
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], atol=1e-3)
    assert float(f(x)) < 1e-6


# ---------------------------------------------------------------------------------------------
# schedule
# ---------------------------------------------------------------------------------------------


def test_schedule_matches_official_with_off_by_one():
    base, warmup, total = 1e-4, 20, 100
    sched = jax.jit(warmup_cosine_schedule(base, warmup, total))
    ks = np.arange(0, 60)
    got = np.asarray(jax.vmap(sched)(jnp.asarray(ks)))
    want = np.array([official_lr(int(k) + 1, base, warmup, total) for k in ks])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # First update (k=0, official step 1) uses base / W, not 0.
    np.testing.assert_allclose(float(sched(0)), base / warmup, rtol=1e-6)
    # Warm-up boundary: k = W - 2 is still warming up, k = W - 1 (official step W) is at base.
    np.testing.assert_allclose(float(sched(warmup - 2)), base * (warmup - 1) / warmup, rtol=1e-6)
    np.testing.assert_allclose(float(sched(warmup - 1)), base, rtol=1e-6)
    # min_ratio = 1.0 => constant after warm-up, also past total_steps.
    np.testing.assert_allclose(np.asarray(jax.vmap(sched)(jnp.arange(19, 300))), base, rtol=1e-6)


def test_schedule_cosine_min_ratio():
    base, warmup, total, r = 3e-3, 10, 200, 0.1
    sched = jax.jit(warmup_cosine_schedule(base, warmup, total, r))
    ks = np.arange(0, total)
    got = np.asarray(jax.vmap(sched)(jnp.asarray(ks)))
    want = np.array([official_lr(int(k) + 1, base, warmup, total, r) for k in ks])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=base * 1e-7)
    # The last update (k = total - 1, official step = total) reaches base * min_ratio.
    np.testing.assert_allclose(got[-1], base * r, rtol=1e-5)
    assert official_lr(total, base, warmup, total, r) == pytest.approx(base * r)
    # Monotone increasing during warm-up, non-increasing afterwards, bounded by [base*r, base].
    assert np.all(np.diff(got[:warmup]) > 0)
    after = got[warmup - 1 :]
    assert np.all(np.diff(after) <= 1e-12)
    assert after[0] == pytest.approx(base) and np.all(after >= base * r * (1 - 1e-6))
    # Past total_steps nothing breaks.
    assert np.all(np.isfinite(np.asarray(jax.vmap(sched)(jnp.arange(total, total + 50)))))


# ---------------------------------------------------------------------------------------------
# sparse SignSGD
# ---------------------------------------------------------------------------------------------


def test_sparse_duplicates_summed_before_sign_and_decay_once():
    lr, wd = 0.1, 0.5
    table = jnp.ones((6, 3), jnp.float32)
    ids = jnp.array([2, 4, 2, 0, 0], jnp.int32)
    g = jnp.array(
        [[3.0, 3.0, -1.0], [1.0, -1.0, 0.0], [-1.0, -5.0, 1.0], [1.0, 2.0, 0.0], [-1.0, -2.0, 0.0]],
        jnp.float32,
    )
    new = np.asarray(_sparse_update_jit(table, ids, g, lr, wd))
    decayed = 1.0 * (1.0 - lr * wd)
    # id 2: sums (+2, -2, 0) -> sign (+1, -1, 0), decay applied once.
    np.testing.assert_allclose(new[2], [decayed - lr, decayed + lr, decayed], rtol=1e-7)
    np.testing.assert_allclose(new[4], [decayed - lr, decayed + lr, decayed], rtol=1e-7)
    # id 0: gradients cancel exactly -> only decay (sign(0) = 0).
    np.testing.assert_allclose(new[0], [decayed] * 3, rtol=1e-7)
    for untouched in (1, 3, 5):
        np.testing.assert_array_equal(new[untouched], np.ones(3, np.float32))


def test_sparse_duplicate_with_opposite_grads_takes_sign_of_sum():
    lr = 0.01
    table = jnp.zeros((3, 1), jnp.float32)
    new = _sparse_update_jit(table, jnp.array([1, 1]), jnp.array([[3.0], [-1.0]]), lr, 0.0)
    np.testing.assert_allclose(np.asarray(new)[1], [-lr * 1.0])  # -lr * sign(+2)


def test_sparse_matches_numpy_loop_and_untouched_bitwise():
    rng = np.random.default_rng(3)
    num_ids, d, b = 50, 8, 32
    table = rng.normal(size=(num_ids, d)).astype(np.float32)
    ids = rng.integers(0, 12, size=(b,)).astype(np.int32)  # many repeats, ids >= 12 untouched
    ids[-1] = num_ids - 1  # also touch the last row
    row_grads = rng.normal(size=(b, d)).astype(np.float32)
    lr, wd = 3e-3, 0.1
    new = np.asarray(
        _sparse_update_jit(
            jnp.asarray(table), jnp.asarray(ids), jnp.asarray(row_grads), jnp.float32(lr), wd
        )
    )
    ref = _np_sparse_signsgd(table, ids, row_grads, lr, wd)
    np.testing.assert_allclose(new, ref, rtol=1e-6, atol=1e-7)
    untouched = np.setdiff1d(np.arange(num_ids), ids)
    assert untouched.size > 30
    np.testing.assert_array_equal(new[untouched], table[untouched])  # bit for bit
    assert new.dtype == np.float32


def test_sparse_wrapper_uses_schedule_and_traced_lr_under_jit():
    base, warmup, total, wd = 1e-2, 5, 50, 0.1
    opt = SparseSignSGD(warmup_cosine_schedule(base, warmup, total), wd)
    table = jnp.ones((10, 2), jnp.float32)
    ids = jnp.array([[1, 3], [3, 7]], jnp.int32)  # any id shape; grads ids.shape + (D,)
    grads = jnp.ones((2, 2, 2), jnp.float32)

    @functools.partial(jax.jit, donate_argnums=0)
    def apply(table, count):
        return opt.update(table, ids, grads, count)

    for k in range(3):
        lr = official_lr(k + 1, base, warmup, total)
        expected = np.ones((10, 2), np.float32)
        expected[[1, 3, 7]] = 1.0 * (1 - lr * wd) - lr
        out = np.asarray(apply(jnp.ones((10, 2), jnp.float32), jnp.int32(k)))
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    # constant learning rate also accepted
    const = SparseSignSGD(0.5, 0.0).update(table, ids, grads, 0)
    np.testing.assert_allclose(np.asarray(const)[3], [0.5, 0.5])


def test_grad_of_gathered_rows_summed_per_id_equals_table_grad():
    rng = np.random.default_rng(4)
    num_ids, d, b = 20, 4, 16
    table = jnp.asarray(rng.normal(size=(num_ids, d)).astype(np.float32))
    ids = jnp.asarray(rng.integers(0, 6, size=(b,)).astype(np.int32))
    w = jnp.asarray(rng.normal(size=(d, 3)).astype(np.float32))
    y = jnp.asarray(rng.normal(size=(b, 3)).astype(np.float32))

    def loss_rows(rows):
        return jnp.sum((jnp.tanh(rows @ w) - y) ** 2)

    row_grads = jax.grad(loss_rows)(table[ids])  # [B, D], what the model hands to the optimiser
    full_grad = jax.grad(lambda t: loss_rows(t[ids]))(table)  # dense [num_ids, D]

    unique_ids, summed = jax.jit(sum_grads_by_id, static_argnums=2)(ids, row_grads, num_ids)
    unique_ids, summed = np.asarray(unique_ids), np.asarray(summed)
    valid = unique_ids < num_ids
    touched = np.unique(np.asarray(ids))
    np.testing.assert_array_equal(unique_ids[valid], touched)
    np.testing.assert_allclose(summed[valid], np.asarray(full_grad)[touched], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(summed[~valid], 0.0)
    untouched = np.setdiff1d(np.arange(num_ids), touched)
    np.testing.assert_array_equal(np.asarray(full_grad)[untouched], 0.0)


# ---------------------------------------------------------------------------------------------
# EMA
# ---------------------------------------------------------------------------------------------


def test_ema_update_three_steps():
    mu = 0.999
    rng = np.random.default_rng(5)
    p0 = {"a": rng.normal(size=(3, 2)).astype(np.float32), "b": np.float32(2.0)}
    params_seq = [
        jax.tree.map(functools.partial(lambda i, x: x + np.float32(i + 1), i), p0) for i in range(3)
    ]
    shadow = ema_init(jax.tree.map(jnp.asarray, p0))
    chex.assert_trees_all_equal(shadow, jax.tree.map(jnp.asarray, p0))
    ref = jax.tree.map(lambda x: np.asarray(x, np.float64), p0)
    update = jax.jit(ema_update)
    for params in params_seq:
        shadow = update(shadow, jax.tree.map(jnp.asarray, params), mu)
        ref = jax.tree.map(lambda s, p: mu * s + (1 - mu) * np.asarray(p, np.float64), ref, params)
        chex.assert_trees_all_close(
            shadow, jax.tree.map(lambda r: r.astype(np.float32), ref), rtol=1e-6
        )
    chex.assert_trees_all_equal_dtypes(shadow, jax.tree.map(jnp.asarray, p0))


def test_adamw_with_clipping_matches_its_update_equation():
    """optim.optimizer="adamw", grad_clip=1 (GRAM): g <- g * min(1, 1/||g||); PyTorch's AdamW
    w <- w - lr * (m_hat / (sqrt(v_hat) + eps) + wd * w)."""
    from rrm_jax.config import base_config
    from rrm_jax.train.step import make_optimizer

    c = base_config()
    c.optim.update(
        dict(optimizer="adamw", grad_clip=1.0, lr=1e-2, warmup_steps=0, weight_decay=0.5)
    )
    tx, _ = make_optimizer(c, 100)
    w = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.5])}
    grads = [
        {"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.0])},
        {"a": jnp.array([0.1, -0.2]), "b": jnp.array([0.3])},
    ]
    state = tx.init(w)
    ref = {k: np.asarray(v, np.float64) for k, v in w.items()}
    m = {k: np.zeros_like(v) for k, v in ref.items()}
    v = {k: np.zeros_like(x) for k, x in ref.items()}
    b1, b2, eps, lr, wd = 0.9, 0.95, 1e-8, 1e-2, 0.5
    for t, g in enumerate(grads, 1):
        updates, state = tx.update(g, state, w)
        w = optax.apply_updates(w, updates)
        gn = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in g.values()))
        scale = min(1.0, 1.0 / gn)
        for k in ref:
            gk = np.asarray(g[k], np.float64) * scale
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk**2
            m_hat, v_hat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            ref[k] = ref[k] - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * ref[k])
        for k in ref:
            np.testing.assert_allclose(np.asarray(w[k]), ref[k], rtol=1e-5, atol=1e-7)
