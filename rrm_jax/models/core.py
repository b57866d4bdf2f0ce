"""The model HRM and TRM share: input embedding -> recursion of reasoning nets -> heads.

Both official codes (HRM `models/hrm/hrm_act_v1.py`, TRM `models/recursive_reasoning/trm.py`)
run, per supervision segment, `cycles` (T, the reference's H_cycles) cycles of

    latent <- f_L(latent + (answer + x))    `latent_steps` (n, L_cycles) times
    answer <- f_H(answer + latent)          once (no x: its absence tells the net which it is)

and read the logits from lm_head(answer) without the puzzle prefix, and (q_halt, q_continue)
from q_head(answer[:, 0]). TRM uses ONE 2-layer net for f_L and f_H; HRM two 4-layer nets. The
carry restarts from fixed, untrained vectors (truncated normal, std 1). Which part of the
recursion carries gradient is the config's `recursion.gradient` rule (see `recursion.py`).
This file builds that model; `trm.py` and `hrm.py` choose the names and the networks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rrm_jax import recursion
from rrm_jax.layers import ReasoningNet, rope_tables, truncated_normal
from rrm_jax.models.base import Model, Outputs
from rrm_jax.models.embed import InputEmbedding, prefix_length
from rrm_jax.models.heads import OutputHeads


class Parts:
    """The pieces every recursive model here is made of, built from the config: the input
    embedding (with the puzzle prefix), the reasoning nets (one shared "net", or "net_L" for
    latent updates and "net_H" for answer updates), the output heads and the RoPE tables.
    `build` below assembles HRM/TRM from them; GRAM (`gram.py`) adds its noise heads."""

    def __init__(self, config, *, separate: bool, answer_layers: int):
        m = config.model
        self.dtype = jnp.dtype(m.dtype)
        self.prefix = prefix_length(m.puzzle_emb_ndim, m.hidden_size, m.puzzle_emb_len)
        self.seq = m.seq_len + self.prefix
        self.config = config
        self.embed = InputEmbedding(
            m.vocab_size, m.hidden_size, self.prefix, self.seq, m.pos_encodings, self.dtype
        )

        def make_net(layers: int) -> ReasoningNet:
            return ReasoningNet(
                layers,
                m.hidden_size,
                m.num_heads,
                m.expansion,
                self.seq,
                m.mixer,
                m.rms_norm_eps,
                self.dtype,
                m.attention,
                m.batch_chunks,
                m.attention_chunks,
            )

        self.nets = (
            {"net_L": make_net(m.num_layers), "net_H": make_net(answer_layers)}
            if separate
            else {"net": make_net(m.num_layers)}
        )
        self.f_latent = "net_L" if separate else "net"
        self.f_answer = "net_H" if separate else "net"
        self.heads = OutputHeads(m.vocab_size, self.prefix, self.dtype)
        self.head_dim = m.hidden_size // m.num_heads
        self.use_rope = m.pos_encodings == "rope"

    def cos_sin(self):
        m = self.config.model
        return rope_tables(self.seq, self.head_dim, m.rope_theta) if self.use_rope else None

    def hidden_like(self, rows: int = 1) -> jax.Array:
        return jnp.zeros((rows, self.seq, self.config.model.hidden_size), self.dtype)

    def init_dense(self, keys: dict) -> dict:
        """Params of the embedding, the nets and the heads (keys: "embed", "heads", net names)."""
        m = self.config.model
        inputs = jnp.zeros((1, m.seq_len), jnp.int32)
        rows = jnp.zeros((1, m.puzzle_emb_ndim), jnp.float32) if self.prefix else None
        h = self.hidden_like()
        dense = {"embed": self.embed.init(keys["embed"], inputs, rows)["params"]}
        for name, net in self.nets.items():
            dense[name] = net.init(keys[name], h, h, self.cos_sin())["params"]
        dense["heads"] = self.heads.init(keys["heads"], h)["params"]
        return dense

    def puzzle_table(self) -> jax.Array:
        # Zero-initialised, like the reference's CastedSparseEmbedding(init_std=0). Without a
        # puzzle embedding (ndim 0) a one-column table that is never read stands in for it
        # (checkpoints cannot hold zero-size arrays).
        m = self.config.model
        width = m.puzzle_emb_ndim or 1
        return jnp.zeros((max(m.num_puzzle_identifiers, 1), width), jnp.float32)

    def input(self, params: dict, batch: dict) -> jax.Array:
        """x: the embedded inputs with the puzzle prefix [B, S, D]."""
        rows = params["puzzle_emb"][batch["puzzle_identifiers"]] if self.prefix else None
        return self.embed.apply({"params": params["dense"]["embed"]}, batch["inputs"], rows)

    def net(self, name: str, dense: dict, h, injection, cos_sin):
        return self.nets[name].apply({"params": dense[name]}, h, injection, cos_sin)

    def output(self, dense: dict, h):
        """(logits without the prefix, q_halt, q_continue) from an answer state."""
        return self.heads.apply({"params": dense["heads"]}, h)


def build(config, *, answer: str, latent: str, separate: bool, answer_layers: int) -> Model:
    """Builds the shared recursive model.

    Args:
      config: an experiment config (blocks `model`, `recursion`).
      answer, latent: carry keys of the answer (HRM z_H, TRM y) and latent (z_L, z) states;
        their fixed initial vectors are `const[f"{key}_init"]`.
      separate: two networks ("net_L" for latent updates, "net_H" for answer updates) instead
        of one shared "net".
      answer_layers: layers of net_H when separate.
    """
    m, r = config.model, config.recursion
    parts = Parts(config, separate=separate, answer_layers=answer_layers)
    dtype, seq = parts.dtype, parts.seq

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch  # shapes come from the config; a one-row dummy keeps init cheap
        keys = dict(
            zip(
                ("embed", "heads", answer, latent, *parts.nets),
                jax.random.split(rng, 4 + len(parts.nets)),
                strict=True,
            )
        )
        init_std1 = truncated_normal(1.0)
        return {
            "dense": parts.init_dense(keys),
            "puzzle_emb": parts.puzzle_table(),
            "const": {
                f"{k}_init": init_std1(keys[k], (m.hidden_size,), jnp.float32).astype(dtype)
                for k in (answer, latent)
            },
        }

    def initial_carry(batch: dict) -> dict:
        shape = (batch["inputs"].shape[0], seq, m.hidden_size)
        return {answer: jnp.zeros(shape, dtype), latent: jnp.zeros(shape, dtype)}  # distinct

    def reset_carry(params: dict, carry: dict, reset_B: jax.Array) -> dict:
        mask = reset_B[:, None, None]
        c = params["const"]
        return {k: jnp.where(mask, c[f"{k}_init"], carry[k]) for k in (answer, latent)}

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        del rng, training  # deterministic, and identical in training and evaluation
        dense = params["dense"]
        x = parts.input(params, batch)
        cs = parts.cos_sin()
        nets = {name: dense[name] for name in parts.nets}

        def latent_step(p, c, x_):
            h = parts.net(parts.f_latent, p, c[latent], c[answer] + x_, cs)
            return {answer: c[answer], latent: h}

        def answer_step(p, c):
            return {
                answer: parts.net(parts.f_answer, p, c[answer], c[latent], cs),
                latent: c[latent],
            }

        carry = recursion.recurse(
            latent_step,
            answer_step,
            nets,
            carry,
            x,
            cycles=r.cycles,
            latent_steps=r.latent_steps,
            rule=r.gradient,
            remat=r.remat,
            remat_policy=r.remat_policy,
            **recursion.options(r),
        )
        logits, q_halt, q_continue = parts.output(dense, carry[answer])
        return jax.lax.stop_gradient(carry), Outputs(logits, q_halt, q_continue)

    return Model(init, initial_carry, reset_carry, apply, m.seq_len, parts.prefix, answer, latent)
