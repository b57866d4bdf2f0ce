"""HRM: Hierarchical Reasoning Model (Wang et al., arXiv 2506.21734).

Matches `models/hrm/hrm_act_v1.py` of the official code (sapientinc/HRM @ 42410daa). What is new
in this paper: two separate recurrent modules, a low-level f_L and a high-level f_H (4 post-norm
blocks each at the paper's size), updated on two time scales,

    z_L <- f_L(z_L + (z_H + x))   L_cycles (n) times per high-level cycle
    z_H <- f_H(z_H + z_L)          once per cycle, H_cycles (T) cycles per segment

with the 1-step gradient (only the last f_L and f_H calls are differentiated, `one_step`, a
member of the fixed-point family in `recursion.py`), a 1-token puzzle prefix
(P = ceil(puzzle_emb_ndim / hidden)), fixed untrained initial states H_init/L_init, and
Q-learning halting: halt when q_halt > q_continue, q_continue trained on a bootstrapped target
from an extra forward pass that carries no gradient (`act.q_continue_target`). The carry is
{"z_H", "z_L"}; everything else is shared with TRM (`core.py`).
"""

from __future__ import annotations

from rrm_jax.models import core
from rrm_jax.models.base import Model


def build(config) -> Model:
    """Builds HRM from an experiment config (blocks `model` and `recursion`)."""
    m = config.model
    return core.build(
        config, answer="z_H", latent="z_L", separate=True, answer_layers=m.h_layers or m.num_layers
    )
