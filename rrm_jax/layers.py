"""Layers shared by every model: norms, RoPE, attention, SwiGLU, token mixing, the post-norm block.

Everything here matches `models/layers.py` of the official HRM/TRM code (the two repositories share
the file) so that official weights can be ported and logits compared to float tolerance:

* parameter-free RMSNorm computed in fp32 (eps 1e-5), applied AFTER each residual add (post-norm);
* rotate-half ("GPT-NeoX") RoPE with theta 1e4, positions 0..S-1 where the puzzle-embedding prefix
  takes 0..P-1, applied to q and k in fp32;
* one fused qkv projection split as [q heads | k heads | v heads], non-causal attention;
* SwiGLU whose `gate_up_proj` output is split gate = first half, up = second half, with the official
  intermediate width `ceil256(round(expansion * D * 2 / 3))` (1536 at D = 512);
* the TRM-MLP token mixer: a SwiGLU over the SEQUENCE axis whose post-norm also runs over the
  sequence axis (the reference transposes to [B, D, S] and normalises the last axis);
* truncated-normal LeCun init for every linear (std 1/sqrt(fan_in), +-2 std, corrected so the
  empirical std equals the target, exactly JAX's `variance_scaling(..., "truncated_normal")`).

Weights are stored in fp32 and cast to the compute dtype per op (`dtype`), like the reference's
CastedLinear. Parameter names follow the reference (`qkv_proj`, `o_proj`, `gate_up_proj`,
`down_proj`, `mlp_t`, `self_attn`, `mlp`) to keep checkpoint conversion a renaming exercise.
"""

from __future__ import annotations

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


def rope_tables(
    seq_len: int, head_dim: int, theta: float = 10000.0
) -> tuple[jax.Array, jax.Array]:
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


def dense(features: int, dtype, name: str, use_bias: bool = False, **kw) -> nn.Dense:
    """A reference CastedLinear: fp32 weight, cast to the compute dtype, LeCun truncated init."""
    return nn.Dense(
        features,
        use_bias=use_bias,
        dtype=dtype,
        param_dtype=jnp.float32,
        kernel_init=kw.pop("kernel_init", lecun_normal()),
        name=name,
        **kw,
    )


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused qkv projection and optional RoPE."""

    hidden_size: int
    num_heads: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(
        self, x_BSD: jax.Array, cos_sin: tuple[jax.Array, jax.Array] | None
    ) -> jax.Array:
        b, s, _ = x_BSD.shape
        h = self.num_heads
        head_dim = self.hidden_size // h
        qkv = dense(3 * h * head_dim, self.dtype, "qkv_proj")(x_BSD)
        qkv = qkv.reshape(b, s, 3 * h, head_dim)
        # Reference split order: [q heads | k heads | v heads] (num_kv_heads == num_heads).
        q, k, v = qkv[:, :, :h], qkv[:, :, h : 2 * h], qkv[:, :, 2 * h :]
        if cos_sin is not None:
            q = apply_rope(q, *cos_sin)
            k = apply_rope(k, *cos_sin)
        out = jax.nn.dot_product_attention(q, k, v, is_causal=False)  # scale 1/sqrt(head_dim)
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
        gate, up = jnp.split(gate_up, 2, axis=-1)
        return dense(self.hidden_size, self.dtype, "down_proj")(jax.nn.silu(gate) * up)


class TokenMixer(nn.Module):
    """TRM-MLP token mixing: a SwiGLU over the sequence axis of a [B, S, D] state.

    The reference transposes to [B, D, S] and applies a SwiGLU of width S; contracting the
    sequence axis with einsum is the same math without the two transposes. Kernels keep the
    Dense layout ([S, 2I] and [I, S]) so reference weights map one to one.
    """

    seq_len: int
    expansion: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BSD: jax.Array) -> jax.Array:
        inter = swiglu_width(self.seq_len, self.expansion)
        init = lecun_normal()
        w_gu = self.param("gate_up_proj", init, (self.seq_len, 2 * inter), jnp.float32)
        w_down = self.param("down_proj", init, (inter, self.seq_len), jnp.float32)
        x = x_BSD.astype(self.dtype)
        gate_up = jnp.einsum("bsd,si->bid", x, w_gu.astype(self.dtype))
        gate, up = jnp.split(gate_up, 2, axis=1)
        return jnp.einsum("bid,is->bsd", jax.nn.silu(gate) * up, w_down.astype(self.dtype))


class Block(nn.Module):
    """Post-norm block: h = norm(h + mix(h)); h = norm(h + SwiGLU(h)).

    `mixer="mlp"` is TRM-MLP: its norm runs over the SEQUENCE axis, as in the reference (which
    normalises the last axis of the transposed [B, D, S] state).
    """

    hidden_size: int
    num_heads: int
    expansion: float
    seq_len: int
    mixer: Mixer = "attention"
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h_BSD: jax.Array, cos_sin: tuple[jax.Array, jax.Array] | None) -> jax.Array:
        if self.mixer == "mlp":
            out = TokenMixer(self.seq_len, self.expansion, self.dtype, name="mlp_t")(h_BSD)
            h_BSD = rms_norm(h_BSD + out, self.eps, axis=1)
        else:
            attn = Attention(self.hidden_size, self.num_heads, self.dtype, name="self_attn")
            h_BSD = rms_norm(h_BSD + attn(h_BSD, cos_sin), self.eps)
        out = SwiGLU(self.hidden_size, self.expansion, self.dtype, name="mlp")(h_BSD)
        return rms_norm(h_BSD + out, self.eps)


class ReasoningNet(nn.Module):
    """The reference's ReasoningModule: add the input injection, then apply the blocks in order."""

    num_layers: int
    hidden_size: int
    num_heads: int
    expansion: float
    seq_len: int
    mixer: Mixer = "attention"
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(
        self,
        h_BSD: jax.Array,
        injection_BSD: jax.Array,
        cos_sin: tuple[jax.Array, jax.Array] | None = None,
    ) -> jax.Array:
        h_BSD = h_BSD + injection_BSD
        for i in range(self.num_layers):
            h_BSD = Block(
                self.hidden_size,
                self.num_heads,
                self.expansion,
                self.seq_len,
                self.mixer,
                self.eps,
                self.dtype,
                name=f"layers_{i}",
            )(h_BSD, cos_sin)
        return h_BSD


def embed_scale(hidden_size: int) -> float:
    """Token embeddings are initialised with std 1/sqrt(D) and multiplied by sqrt(D)."""
    return math.sqrt(hidden_size)
