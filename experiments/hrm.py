"""HRM: "Hierarchical Reasoning Model" (Wang et al., arXiv 2506.21734).

Rows of the paper's results (as quoted in TRM-paper Tables 4-5) with the official hyperparameters
(`config/arch/hrm_v1.yaml`, `config/cfg_pretrain.yaml` and the README commands of
sapientinc/HRM), plus `tiny`, a CPU-sized row.

    python -m rrm_jax.main --config=experiments/hrm.py:tiny --workdir=runs/hrm_tiny
    python -m rrm_jax.main --config=experiments/hrm.py:sudoku_extreme \
        --config.data.path=data/sudoku-extreme-1k-aug-1000 --workdir=runs/hrm_sudoku

| row            | T, n | reported (paper)  | authors' hardware (official README)          |
|----------------|------|-------------------|----------------------------------------------|
| sudoku_extreme | 2, 2 | 55.0 exact        | 8 GPUs, ~10 min (RTX 4070 laptop: ~10 h)     |
| maze_hard      | 2, 2 | 74.5 exact        | 8 GPUs, ~1 h                                 |
| arc_agi_1      | 2, 2 | 40.3 pass@2       | 8 GPUs, ~24 h                                |
| arc_agi_2      | 2, 2 | 5.0 pass@2        | 8 GPUs, ~24 h                                |
| tiny           | 2, 2 | CPU row (53.8)    | 2-core CPU, ~8 min                           |

27,275,266 parameters on Sudoku (the official log's count), 27,276,290 on ARC: two 4-block
modules, hidden 512, 8 heads, 1-token puzzle prefix, 1-step gradient, Q-learning halting with the
bootstrapped continue target, no EMA, stablemax, AdamATan2 with lr 1e-4, batch 768, 2000 warm-up
steps. The HRM column of TRM-paper Table 3 (HRM with n = k and T cycles, Sudoku-Extreme) is
`sudoku_extreme,ablation=T{T}_n{n}`: T1_n1 46.4, T3_n3 61.6, T4_n4 59.5, T3_n6 62.3, T6_n3 58.8,
T6_n6 57.5 (T2_n2 is the main row, 55.0).

Released checkpoints (Hugging Face `sapientinc/HRM-checkpoint-sudoku-extreme`, `-maze-30x30-hard`,
`-ARC-2`) convert with `python -m rrm_jax.convert` (see the README).
"""

from __future__ import annotations

import ml_collections

from rrm_jax.config import base_config, cpu_sudoku, parse_row, set_paper

ARXIV = "2506.21734"
# As TRM's rows (experiments/trm.py): TFDS builders, official Sudoku augmentation on the fly.
SUDOKU_DATA = dict(
    source="tfds", name="sudoku_extreme", config="1k", augmentation="sudoku", num_aug=1000
)
MAZE_DATA = dict(source="tfds", name="maze_hard", config="", augmentation="none", num_aug=0)


def _hrm(c):
    """The official `hrm_v1` architecture and ACT settings."""
    c.model.update(
        dict(
            name="hrm",
            hidden_size=512,
            num_heads=8,
            expansion=4.0,
            num_layers=4,
            h_layers=4,
            mixer="attention",
            pos_encodings="rope",
            puzzle_emb_ndim=512,
            puzzle_emb_len=0,
            dtype="bfloat16",
        )
    )
    c.recursion.update(dict(cycles=2, latent_steps=2, gradient="one_step"))
    c.act.update(dict(max_steps=16, exploration_prob=0.1, halt_rule="q_halt_vs_continue"))
    c.optim.update(dict(ema=False))
    c.eval.update(dict(use_ema=False))


def _small_data(c, data: dict):
    """Sudoku-Extreme 1k and Maze-Hard 1k: the README command's overrides."""
    c.data.update(data)
    c.optim.update(dict(lr=1e-4, puzzle_emb_lr=1e-4, weight_decay=1.0, puzzle_emb_weight_decay=1.0))
    c.train.update(dict(epochs=20000, eval_interval_epochs=2000))


def sudoku_extreme(c):
    _small_data(c, SUDOKU_DATA)
    set_paper(
        c,
        arxiv=ARXIV,
        table="TRM-paper 4",
        row="HRM Sudoku-Extreme",
        metric="exact accuracy (%)",
        reported=55.0,
        hardware="8 GPUs, ~10 min",
        notes="reproductions range 45.8-57.5 (official issue #12)",
    )


def maze_hard(c):
    _small_data(c, MAZE_DATA)
    set_paper(
        c,
        arxiv=ARXIV,
        table="TRM-paper 4",
        row="HRM Maze-Hard",
        metric="exact accuracy (%)",
        reported=74.5,
        hardware="8 GPUs, ~1 h",
    )


def arc(c, version: int):
    # HRM's arc-aug-1000 / arc-2-aug-1000: ARC-AGI-{1,2} + ConceptARC, evaluation test pairs held
    # out (the same split as TRM's), 1000 augmentations per task.
    c.data.update(
        dict(
            source="tfds", name="arc_agi", config=f"arc{version}", num_aug=1000, augmentation="none"
        )
    )
    c.optim.update(dict(lr=1e-4, puzzle_emb_lr=1e-2, weight_decay=0.1, puzzle_emb_weight_decay=0.1))
    c.train.update(dict(epochs=100000, eval_interval_epochs=10000))
    set_paper(
        c,
        arxiv=ARXIV,
        table="TRM-paper 5",
        row=f"HRM ARC-AGI-{version}",
        metric="pass@2 (%)",
        reported={1: 40.3, 2: 5.0}[version],
        hardware="8 GPUs, ~24 h",
        notes="measured as ARC/hrm/pass@2: a task counts only if all its test inputs are "
        "right (HRM's arc_eval.ipynb)",
    )


def tiny(c):
    """Generated 6x6 Sudoku, a two-module HRM of width 64 with 2 blocks per module, on CPU.

    HRM's structure (two nets, 1-step gradient, Q-learning halting) at CPU size, with the same
    departures as TRM's tiny row (fp32, lr 3e-3, 8 segments) and the token-mixing MLP instead of
    attention (the HRM copy in the TRM repository has the same `mlp_t` switch). Measured on a
    2-core CPU, 1200 steps: 53.8% exact on the 500 held-out puzzles with the MLP mixer, 0.0%
    (token accuracy 60.9%) with attention and RoPE.
    """
    cpu_sudoku(c)
    c.model.update(dict(num_layers=2, h_layers=2, mixer="mlp", pos_encodings="none"))
    set_paper(c, arxiv=ARXIV, row="tiny (CPU)")


ROWS = {
    "sudoku_extreme": sudoku_extreme,
    "maze_hard": maze_hard,
    "arc_agi_1": lambda c: arc(c, 1),
    "arc_agi_2": lambda c: arc(c, 2),
    "tiny": tiny,
}

# TRM-paper Table 3, HRM column (Sudoku-Extreme, n = k, T cycles): name -> (T, n, reported %).
ABLATIONS = {
    "T1_n1": (1, 1, 46.4),
    "T3_n3": (3, 3, 61.6),
    "T4_n4": (4, 4, 59.5),
    "T3_n6": (3, 6, 62.3),
    "T6_n3": (6, 3, 58.8),
    "T6_n6": (6, 6, 57.5),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Config of one row, `row[,ablation=NAME]`: rows `sudoku_extreme`, `maze_hard`,
    `arc_agi_1`, `arc_agi_2`, `tiny` (default); ablations of `sudoku_extreme`."""
    row, name = parse_row(arg, ROWS, ABLATIONS, default="tiny", ablation_rows=("sudoku_extreme",))
    c = base_config()
    _hrm(c)
    ROWS[row](c)
    if name is not None:
        t, n, reported = ABLATIONS[name]
        c.recursion.update(dict(cycles=t, latent_steps=n))
        set_paper(
            c,
            arxiv="2510.04871",
            table="3",
            row=f"HRM Sudoku-Extreme, T={t} n={n}",
            metric="exact accuracy (%)",
            reported=reported,
            hardware="",
        )
    return c
