"""Layers shared by every model: norms, RoPE, attention, SwiGLU, token mixing, the post-norm block.

Everything here matches `models/layers.py` of the official HRM/TRM code (the two repositories share
the file) so that official weights can be ported and logits compared to float tolerance:

* parameter-free RMSNorm computed in fp32 (eps 1e-5), applied AFTER each residual add (post-norm);
* rotate-half ("GPT-NeoX") RoPE with theta 1e4, positions 0..S-1 where the puzzle-embedding prefix
  takes 0..P-1, applied to q and k in fp32;
* one fused qkv projection split as [q heads | k heads | v heads], non-causal attention;
* SwiGLU whose `gate_up_proj` output is split gate = first half, up = second half, with the official
  intermediate width `ceil256(round(expansion * D * 2 / 3))` (1536 at D = 512);
* the TRM-MLP token mixer: a SwiGLU of width S applied to the transposed [B, D, S] state, whose
  post-norm therefore runs over the sequence axis, exactly as the reference;
* truncated-normal LeCun init for every linear (std 1/sqrt(fan_in), +-2 std, corrected so the
  empirical std equals the target, exactly JAX's `variance_scaling(..., "truncated_normal")`).

Weights are stored in fp32 and cast to the compute dtype per op (`dtype`), like the reference's
CastedLinear. Parameter names follow the reference (`qkv_proj`, `o_proj`, `gate_up_proj`,
`down_proj`, `mlp_t`, `self_attn`, `mlp`) to keep checkpoint conversion a renaming exercise.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

# Std of a standard normal truncated to +-2: dividing by it makes the empirical std equal the
# requested one, as the reference's `trunc_normal_init_` and JAX's variance_scaling do.
TRUNCATED_NORMAL_STD = 0.87962566103423978

Mixer = Literal["attention", "mlp"]


def lecun_normal() -> nn.initializers.Initializer:
    """Truncated LeCun normal: the reference's CastedLinear init (std = 1/sqrt(fan_in))."""
    return nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def truncated_normal(std: float) -> nn.initializers.Initializer:
    """Truncated (+-2 std) normal whose empirical std is `std` (0 gives zeros)."""
    if std == 0:
        return nn.initializers.zeros
    return nn.initializers.truncated_normal(stddev=std / TRUNCATED_NORMAL_STD)


def swiglu_width(hidden: int, expansion: float) -> int:
    """Official SwiGLU width: round(expansion * hidden * 2/3) rounded up to a multiple of 256."""
    inter = round(expansion * hidden * 2 / 3)  # Python round, as the reference
    return -(inter // -256) * 256


def rms_norm(x: jax.Array, eps: float = 1e-5, axis: int = -1) -> jax.Array:
    """Parameter-free RMSNorm in fp32, cast back to the input dtype."""
    dtype = x.dtype
    x = x.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)
    return x.astype(dtype)


def rope_tables(seq_len: int, head_dim: int, theta: float = 10000.0) -> tuple[jax.Array, jax.Array]:
    """cos/sin [seq_len, head_dim] of rotate-half RoPE (frequencies repeated, not interleaved)."""
    inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
    freqs = jnp.outer(jnp.arange(seq_len, dtype=jnp.float32), inv_freq)
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def apply_rope(x_BSHK: jax.Array, cos_SK: jax.Array, sin_SK: jax.Array) -> jax.Array:
    """Rotate-half RoPE on [B, S, H, head_dim], computed in fp32 as the reference."""
    dtype = x_BSHK.dtype
    x = x_BSHK.astype(jnp.float32)
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    out = x * cos_SK[:, None, :] + rotated * sin_SK[:, None, :]
    return out.astype(dtype)


class Linear(nn.Module):
    """The reference's CastedLinear: fp32 weight [in, out] cast to the compute dtype, LeCun init.

    Leading axes are flattened so every product is one 2-D GEMM: XLA:CPU differentiates a
    [B, S, D] x [D, F] contraction about 3x slower than the same product on [B*S, D] (the
    weight gradient contracts two axes), and the whole train step is made of these.
    """

    features: int
    use_bias: bool = False
    dtype: jnp.dtype = jnp.float32
    kernel_init: nn.initializers.Initializer = lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        y = x.reshape(-1, x.shape[-1]).astype(self.dtype) @ kernel.astype(self.dtype)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return y.reshape(x.shape[:-1] + (self.features,))


def dense(features: int, dtype, name: str, use_bias: bool = False, **kw) -> Linear:
    """A reference CastedLinear named `name` (no bias unless asked)."""
    return Linear(features, use_bias=use_bias, dtype=dtype, name=name, **kw)


# --- Attention and SwiGLU with hand-written backward passes --------------------------------------
# The math is the reference's; only the VJPs are written out, because XLA:CPU's autodiff of these
# few ops spends more time in elementwise passes, layout transposes and the scatter-like adjoints
# of slices (pad + add) than in the matmuls. Each is tested against autodiff of the plain forward.


def _rope_f32(x_BHSK: jax.Array, cos_SK: jax.Array, sin_SK: jax.Array) -> jax.Array:
    x = x_BHSK.astype(jnp.float32)
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos_SK + rotated * sin_SK


def _rope_transpose_f32(g_BHSK: jax.Array, cos_SK: jax.Array, sin_SK: jax.Array) -> jax.Array:
    # RoPE is x -> x*cos + R(x)*sin with R(x) = (-x2, x1); its transpose is g*cos + R^T(g*sin)
    # with R^T(y) = (y2, -y1).
    g = g_BHSK.astype(jnp.float32)
    gs = g * sin_SK
    half = g.shape[-1] // 2
    return g * cos_SK + jnp.concatenate([gs[..., half:], -gs[..., :half]], axis=-1)


def _core_fwd(q, k, v, recompute: bool = False):
    # softmax(q k^T / sqrt(K)) v over [N, S, K]; logits and softmax in fp32, probabilities cast
    # to the input dtype for the second product, as fused attention kernels do. The scale goes
    # on q, not on the [N, S, S] logits (XLA:CPU would materialise the scalar's broadcast).
    # `recompute` keeps the per-row logsumexp [N, S] for the backward pass instead of the
    # [N, S, S] probabilities (memory O(S) per row, as flash attention; the backward pays one
    # more q k^T product).
    scale = 1.0 / math.sqrt(q.shape[-1])
    logits = jnp.einsum("nqd,nkd->nqk", q * scale, k, preferred_element_type=jnp.float32)
    if recompute:
        lse = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
        p = jnp.exp(logits - lse).astype(q.dtype)
        saved = lse
    else:
        p = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
        saved = p
    out = jnp.einsum("nqk,nkd->nqd", p, v, preferred_element_type=jnp.float32).astype(q.dtype)
    return out, (q, k, v, saved, out)


def _core_bwd(res, d_out, recompute: bool = False):
    # Flash-attention style: the softmax term uses rowsum(dO * O) instead of rowsum(dP * P).
    q, k, v, saved, out = res
    scale = 1.0 / math.sqrt(q.shape[-1])
    f32 = jnp.float32
    if recompute:
        # The barrier ties the recomputation to the incoming gradient, so XLA can neither merge
        # it with the forward pass's identical product nor schedule it early: either would keep
        # an [N, S, S] array alive from the forward pass, undoing the point.
        q, k, d_out = jax.lax.optimization_barrier((q, k, d_out))
        logits = jnp.einsum("nqd,nkd->nqk", q * scale, k, preferred_element_type=f32)
        p = jnp.exp(logits - saved).astype(q.dtype)
    else:
        p = saved
    d_v = jnp.einsum("nqk,nqd->nkd", p, d_out, preferred_element_type=f32)
    d_p = jnp.einsum("nqd,nkd->nqk", d_out, v, preferred_element_type=f32)
    delta = jnp.sum(d_out.astype(f32) * out.astype(f32), axis=-1, keepdims=True)
    d_s = (p.astype(f32) * (d_p - delta)).astype(q.dtype)
    d_q = jnp.einsum("nqk,nkd->nqd", d_s, k, preferred_element_type=f32) * scale
    d_k = jnp.einsum("nqk,nqd->nkd", d_s, q, preferred_element_type=f32) * scale
    return d_q, d_k, d_v


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def qkv_attention(
    qkv_BSTK: jax.Array,
    cos_SK: jax.Array | None,
    sin_SK: jax.Array | None,
    num_heads: int,
    recompute: bool = False,
    chunks: int = 1,
) -> jax.Array:
    """Non-causal attention from a fused projection [B, S, 3H, K] split [q | k | v].

    RoPE (when cos/sin are given) is applied to q and k in fp32. Returns [B, S, H, K].
    `recompute=True` saves the logsumexp instead of the probabilities for the backward pass;
    `chunks` > 1 computes that many slices of the batch independently (same math).
    """
    return _qkv_attention_fwd(qkv_BSTK, cos_SK, sin_SK, num_heads, recompute, chunks)[0]


def batch_slices(batch: int, chunks: int) -> list[tuple[int, int]]:
    """[lo, hi) bounds of min(chunks, batch) near-equal slices of a batch."""
    n = max(1, min(chunks, batch))
    bounds = [round(i * batch / n) for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _qkv_attention_fwd(qkv, cos, sin, num_heads, recompute=False, chunks=1):
    # One layout change for all of q, k and v: [b, S, 3H, K] -> [b, 3H, S, K], then contiguous
    # slices; the backward mirrors it (one concatenate along heads, one transpose back).
    s, kd, h = qkv.shape[1], qkv.shape[3], num_heads
    outs, residuals = [], []
    for lo, hi in batch_slices(qkv.shape[0], chunks):
        b = hi - lo
        t = jnp.swapaxes(qkv[lo:hi], 1, 2)
        q, k, v = t[:, :h], t[:, h : 2 * h], t[:, 2 * h :]
        if cos is not None:
            q = _rope_f32(q, cos, sin).astype(qkv.dtype)
            k = _rope_f32(k, cos, sin).astype(qkv.dtype)
        flat = lambda a, b=b: a.reshape(b * h, s, kd)
        out, res = _core_fwd(flat(q), flat(k), flat(v), recompute)
        outs.append(jnp.swapaxes(out.reshape(b, h, s, kd), 1, 2))
        residuals.append(res)
    out = outs[0] if len(outs) == 1 else jnp.concatenate(outs, 0)
    return out, (tuple(residuals), cos, sin)


def _qkv_attention_bwd(num_heads, recompute, chunks, res, d_out_BSHK):
    residuals, cos, sin = res
    s, h, kd = d_out_BSHK.shape[1:]
    dtype = d_out_BSHK.dtype
    parts = []
    slices = batch_slices(d_out_BSHK.shape[0], chunks)
    for (lo, hi), core_res in zip(slices, residuals, strict=True):
        b = hi - lo
        d_out = jnp.swapaxes(d_out_BSHK[lo:hi], 1, 2).reshape(b * h, s, kd)
        d_q, d_k, d_v = (t.reshape(b, h, s, kd) for t in _core_bwd(core_res, d_out, recompute))
        if cos is not None:
            d_q = _rope_transpose_f32(d_q, cos, sin)
            d_k = _rope_transpose_f32(d_k, cos, sin)
        d_t = jnp.concatenate([d_q.astype(dtype), d_k.astype(dtype), d_v.astype(dtype)], axis=1)
        parts.append(jnp.swapaxes(d_t, 1, 2))
    zeros = lambda a: None if a is None else jnp.zeros_like(a)
    d_qkv = parts[0] if len(parts) == 1 else jnp.concatenate(parts, 0)
    return d_qkv, zeros(cos), zeros(sin)


qkv_attention.defvjp(_qkv_attention_fwd, _qkv_attention_bwd)


@jax.custom_vjp
def swiglu_activation(gate_up: jax.Array) -> jax.Array:
    """silu(gate) * up for gate_up = [gate | up] along the last axis (computed in fp32)."""
    return _swiglu_fwd(gate_up)[0]


def _swiglu_fwd(gate_up):
    g, u = jnp.split(gate_up.astype(jnp.float32), 2, axis=-1)
    return (g * jax.nn.sigmoid(g) * u).astype(gate_up.dtype), gate_up


def _swiglu_bwd(gate_up, d_h):
    # One elementwise pass writes [d_gate | d_up] directly (no separate concatenate).
    g, u = jnp.split(gate_up.astype(jnp.float32), 2, axis=-1)
    d = d_h.astype(jnp.float32)
    s = jax.nn.sigmoid(g)
    d_g = d * u * s * (1.0 + g * (1.0 - s))
    d_u = d * g * s
    return (jnp.concatenate([d_g, d_u], axis=-1).astype(gate_up.dtype),)


swiglu_activation.defvjp(_swiglu_fwd, _swiglu_bwd)


ATTENTION_IMPLS = ("auto", "explicit", "recompute", "xla", "cudnn")


def resolve_attention(
    impl: str, dtype, platform: str | None = None, seq_len: int | None = None
) -> str:
    """The attention implementation `impl` stands for on `platform` (default: JAX's backend).

    "auto" is cuDNN's fused flash attention on GPUs in bf16/fp16 (memory O(S) per row: the
    paper rows' 916-token ARC/Maze batches do not fit otherwise) and "explicit" elsewhere
    (XLA:CPU runs the explicit products fastest; on TPUs choose "recompute" for long sequences).
    cuDNN's backward pass rejects odd sequence lengths (measured on an H200 with jax 0.11.2:
    "Unsupported sequence length Q 97, KV 97" for 97, 101, 901 tokens; the forward pass and every
    even length tried, 96..916, work), so for an odd `seq_len` "auto" on a GPU is "recompute"
    (also O(S) memory) and an explicit "cudnn" is refused.
    """
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"attention implementation {impl!r}; expected one of {ATTENTION_IMPLS}")
    odd = seq_len is not None and seq_len % 2 == 1
    if impl == "cudnn" and odd:
        raise ValueError(
            f"attention 'cudnn' at an odd sequence length ({seq_len}): cuDNN's backward pass "
            "rejects it; use 'auto' (recompute there) or 'recompute'"
        )
    if impl != "auto":
        return impl
    platform = platform or jax.default_backend()
    half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
    if platform == "gpu" and half:
        return "recompute" if odd else "cudnn"
    return "explicit"


# Slices of the batch run independently on CPUs (`ReasoningNet.batch_chunks`,
# `Attention.chunks`); accelerators get one (their kernels are parallel already).
CPU_CHUNKS = 2


def resolve_chunks(chunks: int, platform: str | None = None) -> int:
    """`chunks`, or for 0 the platform's default: CPU_CHUNKS on a CPU, 1 elsewhere."""
    if chunks < 0:
        raise ValueError(f"chunks must be >= 0 (0: auto), got {chunks}")
    if chunks:
        return chunks
    return CPU_CHUNKS if (platform or jax.default_backend()) == "cpu" else 1


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused qkv projection and optional RoPE."""

    hidden_size: int
    num_heads: int
    dtype: jnp.dtype = jnp.float32
    # "explicit": `qkv_attention`, saving the [S, S] probabilities for the backward pass (fastest
    #     on CPU); "recompute": the same, saving the logsumexp and recomputing them (memory O(S));
    # "xla" / "cudnn": jax.nn.dot_product_attention with that implementation (cuDNN: fused flash
    #     attention, GPU only, bf16/fp16); "auto": see `resolve_attention`.
    impl: str = "explicit"
    # explicit/recompute: the attention core runs on this many independent slices of the batch
    # (same math; XLA:CPU overlaps them, its batched products being single-threaded); 0: auto.
    chunks: int = 1

    @nn.compact
    def __call__(self, x_BSD: jax.Array, cos_sin: tuple[jax.Array, jax.Array] | None) -> jax.Array:
        b, s, _ = x_BSD.shape
        h = self.num_heads
        head_dim = self.hidden_size // h
        impl = resolve_attention(self.impl, self.dtype, seq_len=s)
        qkv = dense(3 * h * head_dim, self.dtype, "qkv_proj")(x_BSD)
        # Reference split order: [q heads | k heads | v heads] (num_kv_heads == num_heads).
        qkv = qkv.reshape(b, s, 3 * h, head_dim)
        if impl in ("xla", "cudnn"):
            q, k, v = qkv[:, :, :h], qkv[:, :, h : 2 * h], qkv[:, :, 2 * h :]
            if cos_sin is not None:
                q = apply_rope(q, *cos_sin)
                k = apply_rope(k, *cos_sin)
            # Scale 1/sqrt(head_dim), as the reference's scaled_dot_product_attention.
            out = jax.nn.dot_product_attention(q, k, v, is_causal=False, implementation=impl)
        else:
            cos, sin = cos_sin if cos_sin is not None else (None, None)
            chunks = resolve_chunks(self.chunks)
            out = qkv_attention(qkv, cos, sin, h, impl == "recompute", chunks)
        return dense(self.hidden_size, self.dtype, "o_proj")(out.reshape(b, s, h * head_dim))


class SwiGLU(nn.Module):
    """down(silu(gate) * up) over the last axis; gate is the FIRST half of gate_up_proj."""

    hidden_size: int
    expansion: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        inter = swiglu_width(self.hidden_size, self.expansion)
        gate_up = dense(2 * inter, self.dtype, "gate_up_proj")(x)
        return dense(self.hidden_size, self.dtype, "down_proj")(swiglu_activation(gate_up))


class Block(nn.Module):
    """Post-norm block: h = norm(h + mix(h)); h = norm(h + SwiGLU(h)).

    `mixer="mlp"` is TRM-MLP: the mixing SwiGLU (width `seq_len`) and its norm act on the
    transposed [B, D, S] state, i.e. across positions, as in the reference.
    """

    hidden_size: int
    num_heads: int
    expansion: float
    seq_len: int
    mixer: Mixer = "attention"
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32
    attention: str = "explicit"  # see Attention.impl and resolve_attention
    attention_chunks: int = 1  # see Attention.chunks

    @nn.compact
    def __call__(self, h_BSD: jax.Array, cos_sin: tuple[jax.Array, jax.Array] | None) -> jax.Array:
        if self.mixer == "mlp":
            h_BDS = jnp.swapaxes(h_BSD, 1, 2)
            out = SwiGLU(self.seq_len, self.expansion, self.dtype, name="mlp_t")(h_BDS)
            h_BSD = jnp.swapaxes(rms_norm(h_BDS + out, self.eps), 1, 2)
        else:
            attn = Attention(
                self.hidden_size,
                self.num_heads,
                self.dtype,
                self.attention,
                self.attention_chunks,
                name="self_attn",
            )
            h_BSD = rms_norm(h_BSD + attn(h_BSD, cos_sin), self.eps)
        out = SwiGLU(self.hidden_size, self.expansion, self.dtype, name="mlp")(h_BSD)
        return rms_norm(h_BSD + out, self.eps)


class ReasoningNet(nn.Module):
    """The reference's ReasoningModule: add the input injection, then apply the blocks in order.

    `batch_chunks` > 1 runs the blocks on that many slices of the batch, independently: every op
    in a block is per example, so the math is unchanged, but XLA:CPU then overlaps the slices'
    single-threaded work (batched attention products, reductions) on its threads (about 10% of a
    CPU train step). 0 means `resolve_chunks`' default for the platform.
    """

    num_layers: int
    hidden_size: int
    num_heads: int
    expansion: float
    seq_len: int
    mixer: Mixer = "attention"
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32
    attention: str = "explicit"
    batch_chunks: int = 1
    attention_chunks: int = 1

    @nn.compact
    def __call__(
        self,
        h_BSD: jax.Array,
        injection_BSD: jax.Array,
        cos_sin: tuple[jax.Array, jax.Array] | None = None,
    ) -> jax.Array:
        h_BSD = h_BSD + injection_BSD
        blocks = [
            Block(
                self.hidden_size,
                self.num_heads,
                self.expansion,
                self.seq_len,
                self.mixer,
                self.eps,
                self.dtype,
                self.attention,
                self.attention_chunks,
                name=f"layers_{i}",
            )
            for i in range(self.num_layers)
        ]
        outs = []
        for lo, hi in batch_slices(h_BSD.shape[0], resolve_chunks(self.batch_chunks)):
            h = h_BSD[lo:hi]
            for block in blocks:
                h = block(h, cos_sin)
            outs.append(h)
        return outs[0] if len(outs) == 1 else jnp.concatenate(outs, 0)


def embed_scale(hidden_size: int) -> float:
    """Token embeddings are initialised with std 1/sqrt(D) and multiplied by sqrt(D)."""
    return math.sqrt(hidden_size)
