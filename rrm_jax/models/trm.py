"""TRM: Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871).

Matches `models/recursive_reasoning/trm.py` of the official code (SamsungSAILMontreal/
TinyRecursiveModels @ e7b68717). What is new in this paper, against HRM: ONE small network
(2 post-norm blocks) for both updates of each cycle,

    z <- net(z + (y + x))   n times   (latent update; the reference's z_L <- L_level(z_L, z_H + x))
    y <- net(y + z)         once      (answer update; without x, which tells the net which it is)

T cycles per supervision segment with gradient through the last cycle only (`last_recursion`,
full backprop through n + 1 net calls), a 16-token puzzle prefix, halting on q_halt > 0 with no
continue loss, and an EMA of the weights. The paper's y is the reference's z_H and its z is
z_L; the carry is {"y", "z"} and halted rows restart from `const.y_init` / `const.z_init`.
`model.separate_nets` gives the paper's "separate f_H, f_L" ablation. Everything else (blocks,
embedding, heads, recursion, ACT) is shared, see `core.py`.
"""

from __future__ import annotations

from rrm_jax.models import core
from rrm_jax.models.base import Model


def build(config) -> Model:
    """Builds TRM from an experiment config (blocks `model` and `recursion`)."""
    m = config.model
    return core.build(
        config,
        answer="y",
        latent="z",
        separate=m.separate_nets,
        answer_layers=m.h_layers or m.num_layers,
    )
