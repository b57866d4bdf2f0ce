"""LDT's network (arXiv 2605.08605; the official `looped_transformer.py` + `transformer2d.py`).

`LoopedTransformer`: h0 = Linear(C -> d)(state); `num_loops` times: h <- h + h0 (input
re-injection), then h <- LayerNorm(h + Backbone(h)) (the normalised outer residual the authors call
load-bearing). The backbone is a pre-norm transformer (`Block`: LayerNorm eps 1e-5, biases, exact
GELU FFN x4, dropout on the attention probabilities, on the attention output and on the FFN output)
whose input gets learned row + column embeddings at every loop (or 2D RoPE in the attention,
`rope_2d`, the Maze setting), with a learned CLS token appended after the cells, re-created at
every loop (it carries no state). After every loop (`LoopCell`): keep logits Linear(d -> C)(h),
digit logits Linear(d -> C)(h) and the conflict logit Linear(d -> 1) of the CLS output (raw
backbone output, not normalised). The CLS token and conflict head exist only when the conflict
loss weight is > 0, as in the official `run.py`. Weights are tied across loops and initialised as
PyTorch's defaults (`torch_dense`: nn.Linear's; the attention's as nn.MultiheadAttention's).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _torch_bias_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound
    )


def torch_dense(features: int, fan_in: int, name: str) -> nn.Dense:
    """nn.Linear's default init: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return nn.Dense(
        features,
        kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
        bias_init=_torch_bias_init(fan_in),
        name=name,
    )


def rope_2d(head_dim: int, rows: int, cols: int, base: float, cls: bool):
    """cos/sin [S(+1), head_dim] of the official 2D RoPE: the first half of each head rotates by
    the row, the second by the column, interleaved pairs (2i, 2i+1); the CLS position is not
    rotated."""
    if head_dim % 4:
        raise ValueError(f"2D RoPE needs head_dim % 4 == 0, got {head_dim}")
    half = head_dim // 2
    inv = base ** (-np.arange(half // 2, dtype=np.float64) * 2 / half)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    ang = np.concatenate(
        [
            np.repeat(r.reshape(-1, 1) * inv, 2, axis=1),
            np.repeat(c.reshape(-1, 1) * inv, 2, axis=1),
        ],
        axis=1,
    )
    cos, sin = np.cos(ang), np.sin(ang)
    if cls:
        cos = np.concatenate([cos, np.ones((1, head_dim))])
        sin = np.concatenate([sin, np.zeros((1, head_dim))])
    return jnp.asarray(cos, jnp.float32), jnp.asarray(sin, jnp.float32)


def _rotate_pairs(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, 0::2], sin[:, None, 0::2]
    return jnp.stack([even * c - odd * s, even * s + odd * c], axis=-1).reshape(x.shape)


class Block(nn.Module):
    """Pre-norm transformer block (official `TransformerBlock`, pre_norm=True)."""

    dim: int
    heads: int
    ffn_mult: float
    dropout: float

    @nn.compact
    def __call__(self, x, rope=None):
        det = self.dropout == 0.0
        d, hd = self.dim, self.dim // self.heads
        b, s, _ = x.shape
        h = nn.LayerNorm(epsilon=1e-5, name="norm1")(x)
        # nn.MultiheadAttention's init: xavier-uniform in-projection, zero biases
        qkv = nn.Dense(
            3 * d,
            kernel_init=nn.initializers.variance_scaling(1.0, "fan_avg", "uniform", in_axis=-2),
            bias_init=nn.initializers.zeros,
            name="in_proj",
        )(h).reshape(b, s, 3, self.heads, hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if rope is not None:
            q, k = _rotate_pairs(q, *rope), _rotate_pairs(k, *rope)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
        probs = nn.Dropout(self.dropout, deterministic=det)(jax.nn.softmax(scores, axis=-1))
        att = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, s, d)
        att = nn.Dense(
            d,
            kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
            bias_init=nn.initializers.zeros,
            name="out_proj",
        )(att)
        x = x + nn.Dropout(self.dropout, deterministic=det)(att)
        h = nn.LayerNorm(epsilon=1e-5, name="norm2")(x)
        hidden = int(d * self.ffn_mult)
        f = torch_dense(hidden, d, "fc1")(h)
        f = torch_dense(d, hidden, "fc2")(jax.nn.gelu(f, approximate=False))
        return x + nn.Dropout(self.dropout, deterministic=det)(f)


class LoopCell(nn.Module):
    """One loop: h <- h + h0; h <- LayerNorm(h + backbone(h)); the three heads."""

    dim: int
    heads: int
    layers: int
    ffn_mult: float
    channels: int
    rows: int
    cols: int
    cls: bool
    rope: bool
    dropout: float

    @nn.compact
    def __call__(self, h, h0):
        s = self.rows * self.cols
        h = h + h0
        x = h
        rope = None
        if self.rope:
            rope = rope_2d(self.dim // self.heads, self.rows, self.cols, 10000.0, self.cls)
        else:  # learned row and column embeddings, added at the backbone input of every loop
            row = self.param("row_embed", nn.initializers.normal(1.0), (self.rows, self.dim))
            col = self.param("col_embed", nn.initializers.normal(1.0), (self.cols, self.dim))
            x = x + (row[:, None, :] + col[None, :, :]).reshape(s, self.dim)
        if self.cls:  # re-created every loop: no state
            emb = self.param("cls_embed", nn.initializers.normal(0.02), (self.dim,))
            pos = self.param("cls_pos", nn.initializers.normal(0.02), (self.dim,))
            token = jnp.broadcast_to(emb + pos, (x.shape[0], 1, self.dim))
            x = jnp.concatenate([x, token], axis=1)
        for i in range(self.layers):
            x = Block(self.dim, self.heads, self.ffn_mult, self.dropout, name=f"layers_{i}")(
                x, rope
            )
        h = nn.LayerNorm(epsilon=1e-5, name="loop_norm")(h + x[:, :s])
        keep = torch_dense(self.channels, self.dim, "bce_head")(h)
        digit = torch_dense(self.channels, self.dim, "softmax_head")(h)
        if self.cls:
            conflict = torch_dense(1, self.dim, "conflict_head")(x[:, s])[:, 0]
        else:
            conflict = jnp.zeros((h.shape[0],), h.dtype)
        return h, (keep, digit, conflict)


class LoopedTransformer(nn.Module):
    """The official PowersetModel: per-loop (keep [L, B, S, C], digit [L, B, S, C], conflict
    [L, B]) logits, weights tied across loops."""

    dim: int
    heads: int
    layers: int
    loops: int
    ffn_mult: float
    channels: int
    rows: int
    cols: int
    cls: bool
    rope: bool
    dropout: float = 0.0

    @nn.compact
    def __call__(self, state_BSC):
        h0 = torch_dense(self.dim, self.channels, "input_proj")(state_BSC.astype(jnp.float32))
        scan = nn.scan(
            LoopCell,
            variable_broadcast="params",
            split_rngs={"params": False, "dropout": True},
            in_axes=nn.broadcast,
            length=self.loops,
        )
        cell = scan(
            self.dim,
            self.heads,
            self.layers,
            self.ffn_mult,
            self.channels,
            self.rows,
            self.cols,
            self.cls,
            self.rope,
            self.dropout,
            name="loop",
        )
        _, outs = cell(h0, h0)
        return outs
