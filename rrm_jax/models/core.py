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
    dtype = jnp.dtype(m.dtype)
    prefix = prefix_length(m.puzzle_emb_ndim, m.hidden_size, m.puzzle_emb_len)
    seq = m.seq_len + prefix
    embed = InputEmbedding(m.vocab_size, m.hidden_size, prefix, seq, m.pos_encodings, dtype)

    def make_net(layers: int) -> ReasoningNet:
        return ReasoningNet(
            layers,
            m.hidden_size,
            m.num_heads,
            m.expansion,
            seq,
            m.mixer,
            m.rms_norm_eps,
            dtype,
            m.attention,
            m.batch_chunks,
            m.attention_chunks,
        )

    net_names = (
        {"net_L": make_net(m.num_layers), "net_H": make_net(answer_layers)}
        if separate
        else {"net": make_net(m.num_layers)}
    )
    f_latent_name = "net_L" if separate else "net"
    f_answer_name = "net_H" if separate else "net"
    heads = OutputHeads(m.vocab_size, prefix, dtype)
    head_dim = m.hidden_size // m.num_heads
    use_rope = m.pos_encodings == "rope"

    def cos_sin():
        return rope_tables(seq, head_dim, m.rope_theta) if use_rope else None

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch  # shapes come from the config; a one-row dummy keeps init cheap
        keys = dict(
            zip(
                ("embed", "heads", answer, latent, *net_names),
                jax.random.split(rng, 4 + len(net_names)),
                strict=True,
            )
        )
        inputs = jnp.zeros((1, m.seq_len), jnp.int32)
        rows = jnp.zeros((1, m.puzzle_emb_ndim), jnp.float32) if prefix else None
        h = jnp.zeros((1, seq, m.hidden_size), dtype)
        dense = {"embed": embed.init(keys["embed"], inputs, rows)["params"]}
        for name, net in net_names.items():
            dense[name] = net.init(keys[name], h, h, cos_sin())["params"]
        dense["heads"] = heads.init(keys["heads"], h)["params"]
        init_std1 = truncated_normal(1.0)
        return {
            "dense": dense,
            # Zero-initialised, like the reference's CastedSparseEmbedding(init_std=0).
            "puzzle_emb": jnp.zeros(
                (max(m.num_puzzle_identifiers, 1), m.puzzle_emb_ndim), jnp.float32
            ),
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
        rows = params["puzzle_emb"][batch["puzzle_identifiers"]] if prefix else None
        x = embed.apply({"params": dense["embed"]}, batch["inputs"], rows)
        cs = cos_sin()
        nets = {name: dense[name] for name in net_names}

        def f(name, p, h, injection):
            return net_names[name].apply({"params": p[name]}, h, injection, cs)

        def latent_step(p, c, x_):
            return {answer: c[answer], latent: f(f_latent_name, p, c[latent], c[answer] + x_)}

        def answer_step(p, c):
            return {answer: f(f_answer_name, p, c[answer], c[latent]), latent: c[latent]}

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
        logits, q_halt, q_continue = heads.apply({"params": dense["heads"]}, carry[answer])
        return jax.lax.stop_gradient(carry), Outputs(logits, q_halt, q_continue)

    return Model(init, initial_carry, reset_carry, apply, m.seq_len, prefix, answer, latent)
