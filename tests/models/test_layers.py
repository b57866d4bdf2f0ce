"""Layer math against the reference conventions: norms, RoPE layout, qkv order, SwiGLU halves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import layers


def test_swiglu_width_matches_reference_sizes():
    # 1536 at D=512 (HRM/TRM), 512 for TRM-MLP's token mixer over 97 tokens, 2560 over 916.
    assert layers.swiglu_width(512, 4) == 1536
    assert layers.swiglu_width(97, 4) == 512
    assert layers.swiglu_width(916, 4) == 2560
    assert layers.swiglu_width(128, 4) == 512


def test_rms_norm_fp32_and_axis():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7)) * 3 + 1
    y = layers.rms_norm(x)
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(y), -1)), 1.0, rtol=1e-4)
    y1 = layers.rms_norm(x, axis=1)
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(y1), 1)), 1.0, rtol=1e-4)
    xb = x.astype(jnp.bfloat16)
    yb = layers.rms_norm(xb)
    assert yb.dtype == jnp.bfloat16
    # Computed in fp32 then rounded once: equals the fp32 result rounded to bf16.
    want = layers.rms_norm(xb.astype(jnp.float32)).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(yb, np.float32), np.asarray(want, np.float32))


def _numpy_rope(x, theta=10000.0):
    """Rotate-half RoPE written from its definition (GPT-NeoX layout)."""
    b, s, h, d = x.shape
    inv = 1.0 / theta ** (np.arange(0, d, 2) / d)
    ang = np.arange(s)[:, None] * inv[None, :]  # [S, d/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def test_rope_is_rotate_half_with_positions_from_zero():
    x = np.random.default_rng(0).normal(size=(2, 6, 3, 8)).astype(np.float32)
    cos, sin = layers.rope_tables(6, 8)
    got = layers.apply_rope(jnp.asarray(x), cos, sin)
    np.testing.assert_allclose(got, _numpy_rope(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 0], x[:, 0], rtol=1e-6)  # position 0 is not rotated


def test_rope_scores_depend_on_relative_position_only():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(1, 1, 1, 16)).astype(np.float32)
    k = rng.normal(size=(1, 1, 1, 16)).astype(np.float32)
    cos, sin = layers.rope_tables(12, 16)
    at = lambda v, p: layers.apply_rope(jnp.asarray(v), cos[p : p + 1], sin[p : p + 1])[0, 0, 0]
    s1 = float(at(q, 5) @ at(k, 2))
    s2 = float(at(q, 9) @ at(k, 6))
    assert s1 == pytest.approx(s2, rel=1e-5)


def _attention(hidden=16, heads=2):
    mod = layers.Attention(hidden, heads)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, hidden))
    params = mod.init(jax.random.PRNGKey(1), x, None)["params"]
    return mod, params, x


def test_attention_qkv_split_order_and_non_causal():
    mod, params, x = _attention()
    hidden = 16
    # Zero q and k columns -> uniform attention: the output is o_proj(mean over positions of v).
    w = np.array(params["qkv_proj"]["kernel"])
    w[:, : 2 * hidden] = 0.0  # [q | k | v]: only the last third survives
    p = {**params, "qkv_proj": {"kernel": jnp.asarray(w)}}
    out = mod.apply({"params": p}, x, None)
    v = x @ w[:, 2 * hidden :]
    want = jnp.mean(v, axis=1, keepdims=True) @ params["o_proj"]["kernel"]
    np.testing.assert_allclose(out, jnp.broadcast_to(want, out.shape), rtol=1e-5, atol=1e-6)
    # Non-causal: the first position's output depends on the last position's input.
    g = jax.grad(lambda xx: mod.apply({"params": params}, xx, None)[:, 0].sum())(x)
    assert float(jnp.abs(g[:, -1]).sum()) > 0


def test_swiglu_gate_is_first_half():
    mod = layers.SwiGLU(8, 4.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 8))
    p = mod.init(jax.random.PRNGKey(1), x)["params"]
    wgu, wd = np.asarray(p["gate_up_proj"]["kernel"]), np.asarray(p["down_proj"]["kernel"])
    inter = wd.shape[0]
    gate, up = np.asarray(x) @ wgu[:, :inter], np.asarray(x) @ wgu[:, inter:]
    want = (gate / (1 + np.exp(-gate)) * up) @ wd
    np.testing.assert_allclose(mod.apply({"params": p}, x), want, rtol=1e-5, atol=1e-6)


def test_mlp_block_mixes_positions_then_channels_with_sequence_axis_norm():
    b, s, d = 2, 6, 8
    x = jax.random.normal(jax.random.PRNGKey(0), (b, s, d))
    block = layers.Block(d, 2, 4.0, s, mixer="mlp")
    p = block.init(jax.random.PRNGKey(1), x, None)["params"]
    wgu = p["mlp_t"]["gate_up_proj"]["kernel"]  # [S, 2I]: mixes positions
    wd = p["mlp_t"]["down_proj"]["kernel"]  # [I, S]
    inter = wd.shape[0]
    gate_up = jnp.einsum("bsd,si->bid", x, wgu)
    gate, up = gate_up[:, :inter], gate_up[:, inter:]
    mixed = jnp.einsum("bid,is->bsd", jax.nn.silu(gate) * up, wd)
    h = layers.rms_norm(x + mixed, axis=1)  # the reference's norm of the transposed [B, D, S]
    h = layers.rms_norm(h + layers.SwiGLU(d, 4.0).apply({"params": p["mlp"]}, h))
    np.testing.assert_allclose(block.apply({"params": p}, x, None), h, rtol=1e-5, atol=1e-6)


def test_truncated_lecun_init_statistics():
    w = layers.lecun_normal()(jax.random.PRNGKey(0), (512, 1536))
    std = 1 / np.sqrt(512)
    assert float(jnp.std(w)) == pytest.approx(std, rel=0.01)
    # Truncated at two (uncorrected) standard deviations.
    assert float(jnp.abs(w).max()) <= 2 * std / layers.TRUNCATED_NORMAL_STD + 1e-6
    e = layers.truncated_normal(1.0)(jax.random.PRNGKey(1), (200_000,))
    assert float(jnp.std(e)) == pytest.approx(1.0, rel=0.01)
    assert float(jnp.abs(layers.truncated_normal(0.0)(jax.random.PRNGKey(2), (4,))).max()) == 0


def _plain_attention(qkv, cos_sin, h):
    q, k, v = qkv[:, :, :h], qkv[:, :, h : 2 * h], qkv[:, :, 2 * h :]
    if cos_sin is not None:
        q, k = layers.apply_rope(q, *cos_sin), layers.apply_rope(k, *cos_sin)
    return jax.nn.dot_product_attention(q, k, v)


@pytest.mark.parametrize("rope", [True, False])
def test_hand_written_attention_vjp_matches_autodiff(rope):
    b, s, h, k = 2, 7, 3, 8
    qkv = jax.random.normal(jax.random.PRNGKey(0), (b, s, 3 * h, k))
    w = jax.random.normal(jax.random.PRNGKey(1), (b, s, h, k))
    cs = layers.rope_tables(s, k) if rope else None
    cos, sin = cs if rope else (None, None)
    got = layers.qkv_attention(qkv, cos, sin, h)
    np.testing.assert_allclose(got, _plain_attention(qkv, cs, h), rtol=1e-5, atol=1e-6)
    g_got = jax.grad(lambda t: jnp.sum(layers.qkv_attention(t, cos, sin, h) * w))(qkv)
    g_want = jax.grad(lambda t: jnp.sum(_plain_attention(t, cs, h) * w))(qkv)
    np.testing.assert_allclose(g_got, g_want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["recompute", "xla"])
def test_attention_implementations_agree_inside_the_module(impl):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 16))
    cs = layers.rope_tables(5, 8)
    explicit, other = layers.Attention(16, 2), layers.Attention(16, 2, impl=impl)
    p = explicit.init(jax.random.PRNGKey(1), x, cs)
    f = lambda mod: lambda pp, xx: jnp.sum(jnp.sin(mod.apply(pp, xx, cs)))
    np.testing.assert_allclose(
        explicit.apply(p, x, cs), other.apply(p, x, cs), rtol=1e-5, atol=1e-6
    )
    ge = jax.grad(f(explicit), argnums=(0, 1))(p, x)
    go = jax.grad(f(other), argnums=(0, 1))(p, x)
    for a, b in zip(jax.tree.leaves(ge), jax.tree.leaves(go), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_recompute_keeps_no_quadratic_residual():
    """ "recompute" saves a [N, S, 1] logsumexp for the backward pass instead of [N, S, S]."""
    from jax._src.ad_checkpoint import saved_residuals

    s, h, k = 64, 2, 8
    qkv = jax.random.normal(jax.random.PRNGKey(0), (2, s, 3 * h, k))
    cos, sin = layers.rope_tables(s, k)

    def shapes(recompute):
        f = lambda t: jnp.sum(layers.qkv_attention(t, cos, sin, h, recompute))
        return [tuple(aval.shape) for aval, _ in saved_residuals(f, qkv)]

    assert (2 * h, s, s) in shapes(False)
    assert all(shape[-2:] != (s, s) for shape in shapes(True))
    assert (2 * h, s, 1) in shapes(True)


def test_auto_attention_picks_cudnn_only_on_gpus_in_half_precision():
    pick = layers.resolve_attention
    assert pick("auto", jnp.bfloat16, "gpu") == "cudnn"
    assert pick("auto", jnp.float16, "gpu") == "cudnn"
    assert pick("auto", jnp.float32, "gpu") == "explicit"
    assert pick("auto", jnp.bfloat16, "cpu") == "explicit"
    assert pick("auto", jnp.bfloat16, "tpu") == "explicit"
    assert pick("recompute", jnp.bfloat16, "gpu") == "recompute"
    with pytest.raises(ValueError, match="fused"):
        pick("fused", jnp.float32, "cpu")
    # cuDNN's backward rejects odd lengths (TRM-Att Sudoku's 97 tokens, HRM Maze's 901)
    assert pick("auto", jnp.bfloat16, "gpu", seq_len=916) == "cudnn"
    assert pick("auto", jnp.bfloat16, "gpu", seq_len=97) == "recompute"
    assert pick("auto", jnp.bfloat16, "cpu", seq_len=97) == "explicit"
    with pytest.raises(ValueError, match="odd sequence length"):
        pick("cudnn", jnp.bfloat16, "gpu", seq_len=901)


def test_hand_written_swiglu_vjp_matches_autodiff():
    gu = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 10)) * 3
    w = jax.random.normal(jax.random.PRNGKey(1), (4, 6, 5))
    plain = lambda t: jax.nn.silu(t[..., :5]) * t[..., 5:]
    np.testing.assert_allclose(layers.swiglu_activation(gu), plain(gu), rtol=1e-6, atol=1e-6)
    g_got = jax.grad(lambda t: jnp.sum(layers.swiglu_activation(t) * w))(gu)
    g_want = jax.grad(lambda t: jnp.sum(plain(t) * w))(gu)
    np.testing.assert_allclose(g_got, g_want, rtol=1e-5, atol=1e-6)


def test_batch_slices_cover_the_batch_once():
    assert layers.batch_slices(5, 2) == [(0, 2), (2, 5)]
    for batch, chunks in ((1, 4), (7, 3), (32, 2), (8, 8)):
        sl = layers.batch_slices(batch, chunks)
        assert len(sl) == min(batch, chunks)
        assert sl[0][0] == 0 and sl[-1][1] == batch
        assert all(hi > lo for lo, hi in sl)
        assert all(a[1] == b[0] for a, b in zip(sl[:-1], sl[1:], strict=True))
    assert layers.resolve_chunks(0, "cpu") == layers.CPU_CHUNKS
    assert layers.resolve_chunks(0, "gpu") == layers.resolve_chunks(0, "tpu") == 1
    assert layers.resolve_chunks(3, "gpu") == 3
    with pytest.raises(ValueError, match="chunks"):
        layers.resolve_chunks(-1)


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_batch_chunks_change_nothing_but_the_schedule(mixer):
    """Slicing the batch (net level and attention core) gives the same values and gradients."""
    b, s, d = 5, 6, 16
    x = jax.random.normal(jax.random.PRNGKey(0), (b, s, d))
    inj = jax.random.normal(jax.random.PRNGKey(1), (b, s, d))
    cs = layers.rope_tables(s, 8) if mixer == "attention" else None

    def net(bc, ac):
        return layers.ReasoningNet(2, d, 2, 4.0, s, mixer, batch_chunks=bc, attention_chunks=ac)

    p = net(1, 1).init(jax.random.PRNGKey(2), x, inj, cs)
    f = lambda mod: lambda pp, xx: jnp.sum(jnp.sin(mod.apply(pp, xx, inj, cs)))
    want, g_want = f(net(1, 1))(p, x), jax.grad(f(net(1, 1)), argnums=(0, 1))(p, x)
    for bc, ac in ((3, 1), (2, 8)):
        np.testing.assert_allclose(f(net(bc, ac))(p, x), want, rtol=1e-5)
        got = jax.grad(f(net(bc, ac)), argnums=(0, 1))(p, x)
        for a, w in zip(jax.tree.leaves(got), jax.tree.leaves(g_want), strict=True):
            np.testing.assert_allclose(a, w, rtol=1e-4, atol=1e-5)
