"""Sotaku: Cheng Lou's iterative Sudoku transformer (github `chenglou/sotaku`, MIT).

Matches `SudokuTransformer` of `iters/exp_baseline_lr2e3.py` (the 98.9% model, HEAD 1bbdc32),
with the test-time iteration override of `iters/eval_more_iters.py`. Restated:

    h_prev = W_in onehot(x)                    x one-hot over blank + N digits (N + 1 classes)
    preds  = 0                                 [B, L, N]
    repeat I times (16 in training):
        h      = h_prev + W_pred preds         the previous answer, fed back as probabilities
        h      = layer_4(...layer_1(h))        4 pre-LN transformer layers, shared over iterations
        h_prev = h
        logits = W_out h ;  preds = softmax(logits)

Each layer, as the reference's `RoPETransformerLayer` (every linear has a bias; LayerNorm with
scale, bias and eps 1e-5; no final LayerNorm before the output head):

    a = LN1(h);  q, k, v = W_q a, W_k a, W_v a   (4 heads of 32)
    q, k <- 2-D RoPE;  o = softmax(q k^T / sqrt(32)) v   (dropout on the attention weights)
    h = h + Dropout(W_o o)
    h = h + Dropout(W_2 Dropout(ReLU(W_1 LN2(h))))       (d_ff 512)

2-D RoPE, as the reference: the head dimension is read as consecutive PAIRS (x[2j], x[2j+1])
(interleaved, not rotate-half); the first half of the pairs turns with the cell's row, the second
half with its column (cell i of a side-S grid: row i // S, column i % S, both from 0), at
frequencies base^(-2j / (head_dim / 2)), j = 0 .. head_dim / 4 - 1, base 10.

Loss (the reference's `compute_loss`): softmax cross-entropy on the blank cells at EVERY
iteration, averaged over the iterations; full backpropagation through all of them (no detach).
The reference divides each iteration's summed blank-cell loss by the number of blank cells in the
whole batch ("batch_tokens" here, the default); the trainer of this package sums per-row terms
and divides by the global batch, so the per-row term is the row's summed blank-cell loss divided
by the batch's MEAN blank count: the same number when the model sees the whole batch (one
microbatch; under SPMD the jit sees the global batch). With `train.microbatches` > 1 each slice is
normalised by its own blank count (then a mean of slice token-means). "row" averages per row
instead, the trainer's own lm-loss convention.

Tokens: this package's Sudoku layout (0 PAD, 1 blank, 2..N+1 digits) maps onto the reference's
one-hot (class 0 blank, 1..N digits: class = token - 1; PAD is an all-zero row) and its N-way
output (digit d -> class d - 1 = token - 2). The returned logits are over OUR vocabulary: blank
cells carry the head's logits on the digit tokens and a large negative value on PAD and blank;
given cells carry 0 on the given token and the large negative value elsewhere, i.e. the givens are
copied into the answer as the reference's evaluation does (`evaluate_all`: only blank cells are
predicted; a puzzle counts when the filled grid equals the solution). So exact accuracy is the
reference's metric, while this package's token accuracy also counts the copied givens.

Deliberate differences:
- bf16: the reference trains under `torch.autocast(bfloat16)`; here `model.dtype` is the compute
  dtype of the matmuls and of the residual stream, while LayerNorm, RoPE, the attention softmax,
  the output softmax and the loss run in fp32 (autocast also runs layer_norm, softmax and
  cross-entropy in fp32).
- Dropout draws come from JAX keys (the step's key folded with the iteration, then split by flax
  over the dropout sites): the same distribution, never the same masks as PyTorch.

`from_torch_state_dict` converts the reference's `state_dict()` (e.g. its released checkpoint,
git tag `baseline-lr2e3-checkpoint`) into these params.
- Init: PyTorch's default `nn.Linear` init (weight and bias uniform in +-1/sqrt(fan_in)),
  LayerNorm scale 1 and bias 0, as the reference; drawn from JAX keys.

Iterations: `recursion.cycles` in training (`recursion.gradient` must be "full"), and
`sotaku.eval_iterations` (0: the same) when `training=False`, so the count can change at test time
without touching the weights (the reference's `run_with_iters`). One supervision segment per
example (`act.max_steps=1`); the carry only counts the iterations run.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax.models.base import Model, Outputs

BLANK = 1  # this package's blank token (0 is PAD, 2.. are digits)
FIRST_DIGIT = 2
NEG = -1e4  # logit of the tokens a cell cannot take (finite: bf16-safe, exp() is exactly 0)
LOSS_NORMS = ("batch_tokens", "row")
LOSS_NAME = "sotaku_loss"


def torch_linear_init(fan_in: int):
    """PyTorch's default `nn.Linear` init of both weight and bias: U(-1/sqrt(fan_in), +)."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class TorchLinear(nn.Module):
    """y = x W + b with W [in, out] and b fp32, cast to `dtype` per op; PyTorch's default init.

    Leading axes are flattened so every product is a 2-D GEMM (faster to differentiate on
    XLA:CPU, as `layers.Linear`)."""

    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        kernel = self.param("kernel", torch_linear_init(fan_in), (fan_in, self.features))
        bias = self.param("bias", torch_linear_init(fan_in), (self.features,))
        y = x.reshape(-1, fan_in).astype(self.dtype) @ kernel.astype(self.dtype)
        y = y + bias.astype(self.dtype)
        return y.reshape(x.shape[:-1] + (self.features,))


class LayerNorm(nn.Module):
    """`nn.LayerNorm(d)` of PyTorch: biased variance, eps inside the sqrt, scale and bias, fp32."""

    eps: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        d = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (d,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (d,), jnp.float32)
        x = x.astype(jnp.float32)
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.eps) * scale + bias


def grid_rope_tables(seq_len: int, head_dim: int, base: float = 10.0):
    """cos/sin [seq_len, head_dim / 2] of the reference's 2-D RoPE, one angle per pair.

    Pairs 0 .. head_dim/4 - 1 turn with the row, the rest with the column, at frequencies
    base^(-2j / (head_dim / 2)) (the reference's `_freqs`, `_angles`)."""
    side = int(round(math.sqrt(seq_len)))
    if side * side != seq_len:
        raise ValueError(f"2-D RoPE needs a square grid, got seq_len={seq_len}")
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs head_dim divisible by 4, got {head_dim}")
    half = head_dim // 2
    freqs = 1.0 / (base ** (np.arange(half // 2, dtype=np.float32) * 2 / half))
    cells = np.arange(seq_len)
    rows, cols = (cells // side).astype(np.float32), (cells % side).astype(np.float32)
    angles = np.concatenate([rows[:, None] * freqs, cols[:, None] * freqs], axis=-1)
    return jnp.asarray(np.cos(angles), jnp.float32), jnp.asarray(np.sin(angles), jnp.float32)


def apply_grid_rope(x_BSHK: jax.Array, cos_SP: jax.Array, sin_SP: jax.Array) -> jax.Array:
    """Rotates consecutive pairs (x[2j], x[2j+1]) of [B, S, H, K] by angle j, in fp32."""
    b, s, h, k = x_BSHK.shape
    x = x_BSHK.astype(jnp.float32).reshape(b, s, h, k // 2, 2)
    x0, x1 = x[..., 0], x[..., 1]
    c, sn = cos_SP[None, :, None, :], sin_SP[None, :, None, :]
    out = jnp.stack([x0 * c - x1 * sn, x0 * sn + x1 * c], axis=-1)
    return out.reshape(b, s, h, k)


class Layer(nn.Module):
    """The reference's `RoPETransformerLayer`: pre-LN attention and ReLU MLP, dropout 0.1."""

    d_model: int
    num_heads: int
    d_ff: int
    dropout: float = 0.1
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, cos, sin, deterministic: bool = True):
        b, s, d = x.shape
        heads, hd = self.num_heads, d // self.num_heads
        drop = lambda name: nn.Dropout(self.dropout, deterministic=deterministic, name=name)
        lin = lambda n, name: TorchLinear(n, self.dtype, name=name)

        a = LayerNorm(self.eps, name="norm1")(x).astype(self.dtype)
        split = lambda t: t.reshape(b, s, heads, hd)
        q = apply_grid_rope(split(lin(d, "q_proj")(a)), cos, sin)
        k = apply_grid_rope(split(lin(d, "k_proj")(a)), cos, sin)
        v = split(lin(d, "v_proj")(a))
        logits = jnp.einsum("bqhk,bshk->bhqs", q * (1.0 / math.sqrt(hd)), k)
        probs = jax.nn.softmax(logits, axis=-1)
        probs = drop("attn_dropout")(probs)  # SDPA's dropout_p on the attention weights
        o = jnp.einsum("bhqs,bshk->bqhk", probs.astype(self.dtype), v.astype(self.dtype))
        x = x + drop("dropout1")(lin(d, "out_proj")(o.reshape(b, s, d))).astype(x.dtype)

        m = LayerNorm(self.eps, name="norm2")(x).astype(self.dtype)
        m = drop("dropout")(jax.nn.relu(lin(self.d_ff, "linear1")(m)))
        return x + drop("dropout2")(lin(d, "linear2")(m)).astype(x.dtype)


class SudokuTransformer(nn.Module):
    """The reference's `SudokuTransformer`, one iteration at a time (`encode`, `iterate`)."""

    d_model: int
    num_heads: int
    d_ff: int
    num_layers: int
    num_digits: int
    dropout: float = 0.1
    eps: float = 1e-5
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.initial_encoder = TorchLinear(self.d_model, self.dtype)
        self.pred_proj = TorchLinear(self.d_model, self.dtype)
        self.layers = [
            Layer(self.d_model, self.num_heads, self.d_ff, self.dropout, self.eps, self.dtype)
            for _ in range(self.num_layers)
        ]
        self.output_head = TorchLinear(self.num_digits, self.dtype)

    def encode(self, onehot):
        return self.initial_encoder(onehot)

    def iterate(self, h_prev, preds, cos, sin, deterministic: bool = True):
        """(h, logits fp32) of one iteration from (h_prev, preds)."""
        h = h_prev + self.pred_proj(preds)
        for layer in self.layers:
            h = layer(h, cos, sin, deterministic)
        return h, self.output_head(h).astype(jnp.float32)

    def __call__(self, onehot, cos, sin):  # for init: every parameter once
        h = self.encode(onehot)
        preds = jnp.zeros(onehot.shape[:-1] + (self.num_digits,), jnp.float32)
        return self.iterate(h, preds, cos, sin)


def check_config(config) -> None:
    """Raises ValueError on settings the Sotaku model cannot honour."""
    m, r, s = config.model, config.recursion, config.sotaku
    if r.gradient != "full":
        raise ValueError(
            f"sotaku backpropagates through every iteration: "
            f"recursion.gradient must be 'full', got {r.gradient!r}"
        )
    if s.loss_norm not in LOSS_NORMS:
        raise ValueError(f"sotaku.loss_norm={s.loss_norm!r}; expected one of {LOSS_NORMS}")
    if not 0.0 <= s.dropout < 1.0 or s.eval_iterations < 0 or s.layer_norm_eps <= 0:
        raise ValueError("need 0 <= sotaku.dropout < 1, eval_iterations >= 0, layer_norm_eps > 0")
    if m.hidden_size % m.num_heads or (m.hidden_size // m.num_heads) % 4:
        raise ValueError("sotaku's 2-D RoPE needs hidden_size / num_heads divisible by 4")
    if s.test_subset not in ("", "stratified") or s.train_first < 0 or s.test_per_bucket < 1:
        raise ValueError(
            "sotaku.test_subset must be '' or 'stratified', train_first >= 0 and "
            "test_per_bucket >= 1"
        )
    if s.curriculum:
        from rrm_jax.data.sotaku import parse_curriculum

        parse_curriculum(s.curriculum)
        if config.data.augmentation != "none":
            raise ValueError("sotaku.curriculum draws stored puzzles: data.augmentation='none'")


def build(config) -> Model:
    """Builds Sotaku from an experiment config (blocks `model`, `recursion`, `sotaku`).

    Sizes: d = model.hidden_size, heads model.num_heads, d_ff = model.expansion * d, layers
    model.num_layers, RoPE base model.rope_theta, iterations recursion.cycles (training) and
    sotaku.eval_iterations (evaluation; 0: recursion.cycles); sotaku.dropout, layer_norm_eps,
    loss_norm. The board is read from model.seq_len (a square grid) and model.vocab_size
    (PAD + blank + N digits).
    """
    check_config(config)
    m, r, s = config.model, config.recursion, config.sotaku
    dtype = jnp.dtype(m.dtype)
    digits = m.vocab_size - FIRST_DIGIT
    if digits < 1:
        raise ValueError(f"model.vocab_size={m.vocab_size} holds no digit tokens")
    net = SudokuTransformer(
        d_model=m.hidden_size,
        num_heads=m.num_heads,
        d_ff=int(round(m.expansion * m.hidden_size)),
        num_layers=m.num_layers,
        num_digits=digits,
        dropout=s.dropout,
        eps=s.layer_norm_eps,
        dtype=dtype,
    )
    cos, sin = grid_rope_tables(m.seq_len, m.hidden_size // m.num_heads, m.rope_theta)
    train_iters = r.cycles
    eval_iters = s.eval_iterations or r.cycles

    def onehot(inputs):
        # token t >= 1 -> class t - 1 over blank + N digits; PAD (0) -> all zeros
        return jax.nn.one_hot(inputs - 1, digits + 1, dtype=jnp.float32)

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch  # shapes come from the config
        x = jnp.zeros((1, m.seq_len, digits + 1), jnp.float32)
        dense = net.init(rng, x, cos, sin)["params"]
        return {
            "dense": dense,
            "puzzle_emb": jnp.zeros((max(m.num_puzzle_identifiers, 1), 1), jnp.float32),
            "const": {},
        }

    def initial_carry(batch: dict) -> dict:
        return {"iterations": jnp.zeros((batch["inputs"].shape[0],), jnp.int32)}

    def reset_carry(params: dict, carry: dict, reset_B: jax.Array) -> dict:
        del params
        return {"iterations": jnp.where(reset_B, 0, carry["iterations"])}

    def run(dense, inputs, iterations: int, *, rng=None, labels=None, remat=False):
        """Logits fp32 [B, L, N] after `iterations` iterations and, with labels, the per-row
        summed blank-cell cross-entropy summed over the iterations (fp32 [B])."""
        variables = {"params": dense}
        deterministic = rng is None
        h0 = net.apply(variables, onehot(inputs), method=SudokuTransformer.encode)
        b = inputs.shape[0]
        blank = inputs == BLANK
        if labels is not None:
            target = jnp.clip(labels - FIRST_DIGIT, 0, digits - 1)

        def body(c, i):
            h_prev, preds, loss = c
            rngs = {} if deterministic else {"dropout": jax.random.fold_in(rng, i)}
            h, logits = net.apply(
                variables,
                h_prev,
                preds.astype(dtype),
                cos,
                sin,
                deterministic,
                method=SudokuTransformer.iterate,
                rngs=rngs,
            )
            if labels is not None:
                logp = jax.nn.log_softmax(logits, axis=-1)
                ce = -jnp.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
                loss = loss + jnp.where(blank, ce, 0.0).sum(-1)
            return (h, jax.nn.softmax(logits, axis=-1), loss), logits

        if remat:
            body = jax.checkpoint(body)

        def step(c, i):  # the last logits ride in the carry: no stacked [I, B, L, N] output
            (h, preds, loss), logits = body(c[:3], i)
            return (h, preds, loss, logits), None

        zeros = jnp.zeros((b, m.seq_len, digits), jnp.float32)
        state = (h0, zeros, jnp.zeros((b,), jnp.float32), zeros)
        (_, _, loss, logits), _ = jax.lax.scan(step, state, jnp.arange(iterations))
        return logits, loss

    def to_vocab(logits_BLN, inputs):
        """The digit logits of blank cells, the givens copied, over this package's vocab."""
        given = jnp.where(jax.nn.one_hot(inputs, m.vocab_size, dtype=bool), 0.0, NEG)
        pad = jnp.full(logits_BLN.shape[:-1] + (FIRST_DIGIT,), NEG, jnp.float32)
        blank_logits = jnp.concatenate([pad, logits_BLN], axis=-1)
        out = jnp.where((inputs == BLANK)[..., None], blank_logits, given)
        return out.astype(dtype)

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        inputs = batch["inputs"]
        b = inputs.shape[0]
        zeros = jnp.zeros((b,), jnp.float32)
        if not training:
            logits, _ = run(params["dense"], inputs, eval_iters)
            new = {"iterations": carry["iterations"] + eval_iters}
            return new, Outputs(to_vocab(logits, inputs), zeros, zeros)
        key = rng if s.dropout > 0 else None
        if key is not None and key.ndim > (
            0 if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else 1
        ):
            raise ValueError("sotaku takes one dropout key for the batch, not one per row")
        logits, loss_sum = run(
            params["dense"], inputs, train_iters, rng=key, labels=batch["labels"], remat=r.remat
        )
        blanks = (inputs == BLANK).sum(-1).astype(jnp.float32)
        if s.loss_norm == "batch_tokens":
            denom = jnp.maximum(blanks.mean(), 1.0)
        else:
            denom = jnp.maximum(blanks, 1.0)
        per_row = loss_sum / train_iters / denom
        new = {"iterations": carry["iterations"] + train_iters}
        out = Outputs(to_vocab(logits, inputs), zeros, zeros, losses={LOSS_NAME: per_row})
        return jax.lax.stop_gradient(new), out

    return Model(init, initial_carry, reset_carry, apply, m.seq_len, 0)


def iterate_all(config, params: dict, inputs: jax.Array, iterations: int) -> jax.Array:
    """Deterministic logits fp32 [I, B, L, N] after each of `iterations` iterations over the
    reference's 9-way (N-way) output (the reference's `forward(x, return_all=True)`)."""
    m, s = config.model, config.sotaku
    digits = m.vocab_size - FIRST_DIGIT
    net = SudokuTransformer(
        m.hidden_size,
        m.num_heads,
        int(round(m.expansion * m.hidden_size)),
        m.num_layers,
        digits,
        s.dropout,
        s.layer_norm_eps,
        jnp.dtype(m.dtype),
    )
    cos, sin = grid_rope_tables(m.seq_len, m.hidden_size // m.num_heads, m.rope_theta)
    variables = {"params": params["dense"]}
    x = jax.nn.one_hot(inputs - 1, digits + 1, dtype=jnp.float32)
    h0 = net.apply(variables, x, method=SudokuTransformer.encode)

    def body(c, _):
        h, preds = c
        h, logits = net.apply(
            variables, h, preds.astype(net.dtype), cos, sin, method=SudokuTransformer.iterate
        )
        return (h, jax.nn.softmax(logits, -1)), logits

    preds0 = jnp.zeros(inputs.shape + (digits,), jnp.float32)
    _, all_logits = jax.lax.scan(body, (h0, preds0), None, length=iterations)
    return all_logits


def from_torch_state_dict(state: dict) -> dict:
    """The reference's `model.state_dict()` (arrays; a torch.compile `_orig_mod.` prefix is
    dropped) as this model's dense params: Linear weight [out, in] -> kernel [in, out]."""
    state = {k.removeprefix("_orig_mod."): np.asarray(v, np.float32) for k, v in state.items()}
    dense: dict = {}
    for key, value in state.items():
        *path, leaf = key.split(".")
        if path[0] == "layers":  # layers.<i>.<module>.<leaf>
            path = [f"layers_{path[1]}"] + path[2:]
        module = path[-1]
        if module.startswith("norm"):
            name = {"weight": "scale", "bias": "bias"}[leaf]
        else:
            name = {"weight": "kernel", "bias": "bias"}[leaf]
            value = value.T if leaf == "weight" else value
        node = dense
        for p in path:
            node = node.setdefault(p, {})
        node[name] = jnp.asarray(value)
    return dense
