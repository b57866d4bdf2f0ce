"""TRM: Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871).

Matches `models/recursive_reasoning/trm.py` of the official code (SamsungSAILMontreal/
TinyRecursiveModels @ e7b68717). One small network (2 post-norm blocks) is used for both updates of
each cycle:

    z <- net(z + (y + x))   n times   (latent update; the reference's z_L <- L_level(z_L, z_H + x))
    y <- net(y + z)         once      (answer update; without x, which tells the net which it is)

T cycles per supervision segment, gradient through the last cycle only (`last_recursion`). The
paper's y is the reference's z_H and its z is z_L. The carry is {"y", "z"}, [B, P + L, D] in the
compute dtype; halted rows restart from the fixed, untrained vectors `const.y_init`/`const.z_init`
(truncated normal, std 1). Logits come from lm_head(y) without the P prefix positions; the Q head
reads y at position 0. What is not new in this paper (blocks, embedding, heads, the recursion
engine, ACT) lives in the shared modules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rrm_jax import recursion
from rrm_jax.layers import ReasoningNet, rope_tables, truncated_normal
from rrm_jax.models.base import Model, Outputs
from rrm_jax.models.embed import InputEmbedding, prefix_length
from rrm_jax.models.heads import OutputHeads


def build(config) -> Model:
    """Builds TRM from an experiment config (blocks `model` and `recursion`)."""
    m, r = config.model, config.recursion
    dtype = jnp.dtype(m.dtype)
    prefix = prefix_length(m.puzzle_emb_ndim, m.hidden_size, m.puzzle_emb_len)
    seq = m.seq_len + prefix
    embed = InputEmbedding(m.vocab_size, m.hidden_size, prefix, seq, m.pos_encodings, dtype)
    net = ReasoningNet(
        m.num_layers,
        m.hidden_size,
        m.num_heads,
        m.expansion,
        seq,
        m.mixer,
        m.rms_norm_eps,
        dtype,
        m.attention,
    )
    heads = OutputHeads(m.vocab_size, prefix, dtype)
    head_dim = m.hidden_size // m.num_heads
    use_rope = m.pos_encodings == "rope"

    def cos_sin():
        return rope_tables(seq, head_dim, m.rope_theta) if use_rope else None

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch  # shapes come from the config; a one-row dummy keeps init cheap
        k_embed, k_net, k_heads, k_y, k_z = jax.random.split(rng, 5)
        inputs = jnp.zeros((1, m.seq_len), jnp.int32)
        rows = jnp.zeros((1, m.puzzle_emb_ndim), jnp.float32) if prefix else None
        h = jnp.zeros((1, seq, m.hidden_size), dtype)
        init_std1 = truncated_normal(1.0)
        return {
            "dense": {
                "embed": embed.init(k_embed, inputs, rows)["params"],
                "net": net.init(k_net, h, h, cos_sin())["params"],
                "heads": heads.init(k_heads, h)["params"],
            },
            # Zero-initialised, like the reference's CastedSparseEmbedding(init_std=0).
            "puzzle_emb": jnp.zeros(
                (max(m.num_puzzle_identifiers, 1), m.puzzle_emb_ndim), jnp.float32
            ),
            "const": {
                "y_init": init_std1(k_y, (m.hidden_size,), jnp.float32).astype(dtype),
                "z_init": init_std1(k_z, (m.hidden_size,), jnp.float32).astype(dtype),
            },
        }

    def initial_carry(batch: dict) -> dict:
        b = batch["inputs"].shape[0]
        shape = (b, seq, m.hidden_size)
        return {"y": jnp.zeros(shape, dtype), "z": jnp.zeros(shape, dtype)}  # distinct buffers

    def reset_carry(params: dict, carry: dict, reset_B: jax.Array) -> dict:
        mask = reset_B[:, None, None]
        c = params["const"]
        return {
            "y": jnp.where(mask, c["y_init"], carry["y"]),
            "z": jnp.where(mask, c["z_init"], carry["z"]),
        }

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        del rng, training  # TRM is deterministic and identical in train and eval
        dense = params["dense"]
        rows = params["puzzle_emb"][batch["puzzle_identifiers"]] if prefix else None
        x = embed.apply({"params": dense["embed"]}, batch["inputs"], rows)
        cs = cos_sin()

        def f(p, h, injection):
            return net.apply({"params": p}, h, injection, cs)

        def latent(p, c, x_):
            return {"y": c["y"], "z": f(p, c["z"], c["y"] + x_)}

        def answer(p, c):
            return {"y": f(p, c["y"], c["z"]), "z": c["z"]}

        carry = recursion.recurse(
            latent,
            answer,
            dense["net"],
            carry,
            x,
            cycles=r.cycles,
            latent_steps=r.latent_steps,
            rule=r.gradient,
            remat=r.remat,
        )
        logits, q_halt, q_continue = heads.apply({"params": dense["heads"]}, carry["y"])
        return jax.lax.stop_gradient(carry), Outputs(logits, q_halt, q_continue)

    return Model(init, initial_carry, reset_carry, apply, m.seq_len, prefix)
