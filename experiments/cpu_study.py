"""The CPU study: which parts of the recursive models are load-bearing, at a size that runs here.

One small task and one budget for every row: generated 6x6 Sudoku (`config.cpu_sudoku`: 3,000
minimal puzzles, 500 held out, augmentation on the fly), width 64, batch 64, 1,200 optimizer
steps, 8 supervision segments at test time, fp32. Every row changes one thing of the TRM row
(`experiments/trm.py:tiny`, the `make demo` model), except HRM (`experiments/hrm.py:tiny`):

| row                     | change                                                                |
|-------------------------|-----------------------------------------------------------------------|
| trm                     | TRM-MLP, T=2, n=2, gradient through the last recursion (the base)     |
| hrm                     | HRM: two nets, 1-step gradient, Q-learning halting                    |
| trm_one_step            | HRM's 1-step gradient on TRM                                          |
| trm_no_ema              | no EMA of the weights (evaluation on the raw weights)                 |
| trm_no_deep_supervision | one supervision segment per example (training and test)               |
| trm_implicit            | the implicit (fixed-point) gradient instead of the last recursion's:  |
|                         | w (I - J) = g by GMRES, at most 10 iterations (VJPs) per step         |
| trm_full_bptt           | backprop through every recursion of the segment (Sotaku's full BPTT)  |
| ptrm_width              | PTRM on the trained `trm` row: 16 noisy rollouts x 8 steps, best-Q    |

`python -m rrm_jax.tables --paper=cpu_study --workdir=DIR` trains and evaluates every row (the
`ptrm_width` row evaluates the `trm` row's checkpoint) and writes the table: 37.5 minutes end to
end on an idle 2-core CPU (2 to 10 minutes a row, the implicit row the longest). No paper reports
these numbers: the table holds what comes out (README, "Paper tables").
"""

from __future__ import annotations

import ml_collections

from rrm_jax.config import parse_arg, set_paper, sibling_row

HARDWARE = "CPU (the study's budget: 2 cores, <= 60 minutes for the table)"


def _trm_change(change):
    def make():
        c = sibling_row(__file__, "trm.py", "tiny")
        change(c)
        return c

    return make


def _no_ema(c):
    c.optim.ema = False
    c.eval.use_ema = False


def _one_segment(c):
    c.act.max_steps = 1


def _hrm():
    return sibling_row(__file__, "hrm.py", "tiny")


def _ptrm():
    return sibling_row(__file__, "ptrm.py", "tiny")


ROWS = {
    "trm": _trm_change(lambda c: None),
    "hrm": _hrm,
    "trm_one_step": _trm_change(lambda c: c.recursion.update(dict(gradient="one_step"))),
    "trm_no_ema": _trm_change(_no_ema),
    "trm_no_deep_supervision": _trm_change(_one_segment),
    # 10 GMRES iterations (the default 30 take 23 minutes of the study's hour on 2 cores).
    "trm_implicit": _trm_change(
        lambda c: c.recursion.update(dict(gradient="implicit", implicit_max_iters=10))
    ),
    "trm_full_bptt": _trm_change(lambda c: c.recursion.update(dict(gradient="full"))),
    "ptrm_width": _ptrm,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Config of one row of the study (the table above); default `trm`."""
    row, options = parse_arg(arg, "trm")
    if row not in ROWS or options:
        raise ValueError(f"unknown row {arg!r}; expected one of {sorted(ROWS)} (no options)")
    c = ROWS[row]()
    set_paper(
        c,
        arxiv="",
        table="cpu_study",
        row=row,
        metric="exact accuracy (%)" if row != "ptrm_width" else "ptrm/best_q exact accuracy (%)",
        reported=-1.0,
        hardware=HARDWARE,
        notes="not a paper row: measured here",
    )
    return c
