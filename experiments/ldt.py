"""LDT: "Lattice Deduction Transformers".

Davis, Haller, Alfarano, Santolucito, arXiv 2605.08605; official code (MIT)
`lcrh/lattice-deduction-transformers` (= `santolucito/...`), a "curated reconstruction" whose
`experiments/sudoku/run.py` defaults these rows follow. The model (`rrm_jax/models/ldt.py`) is a
looped transformer whose only state between forward passes is a lattice element (candidate
sets per cell); it is trained on an on-policy pool (the ACT carry here) and evaluated by an
abstaining K-chain solver (`rrm_jax/eval/ldt_solver.py`) that reports correct, wrong and abstained
separately, plus the accepted answers that break a Sudoku rule.

    python -m rrm_jax.main --config=experiments/ldt.py:tiny --workdir=runs/ldt_tiny
    python -m rrm_jax.main --config=experiments/ldt.py:sudoku_extreme --workdir=runs/ldt_sudoku
    python -m rrm_jax.main --config=experiments/ldt.py:sudoku_extreme,ablation=loops_4 ...
    python -m rrm_jax.main --config=experiments/ldt.py:maze_hard,ablation=k1 ...

| row                   | task                             | params | reported                    |
|-----------------------|----------------------------------|--------|-----------------------------|
| sudoku_extreme        | Sudoku-Extreme, 1k train puzzles | 0.80M  | 99.96 (authors' correction) |
| snowflake             | Snowflake Sudoku (orders 4-8)    | 0.80M  | 100 (1,000 test puzzles)    |
| maze_hard             | Maze-Hard 30x30, 1k train        | 1.78M  | 99.9 lenient (K=512 paths)  |
| maze_hard,ablation=k1 | the same with K=1 (label only)   | 1.78M  | 99.3 lenient (memo)         |
| tiny                  | generated 6x6 Sudoku, CPU        | 0.10M  | no paper number             |

Settings (official `run.py`): 4 pre-norm layers, d=128, 4 heads, FFN x4, dropout 0.1, 16 loops;
batch = pool = 512; AdamW lr 3e-3, betas (0.9, 0.95), weight decay 0.1, grad clip 1.0, 10% linear
warmup then cosine to 1% of the peak, no EMA; 4000 steps; max_age 100 (act.max_steps 101: the
official pool drops a row when age + 1 > 100); loss weights BCE 4 / 0.5, CE 0.2, conflict 0.1;
kill threshold 0.1, conflict threshold 0.5 in training and 0.6 in the solver, branching
temperature 1.5; solver: 64 chains, 1000 rounds, dropout 0.05 kept on. The authors evaluated
4,000 test puzzles (seed 200); these rows evaluate the FULL test split (their correction says the
100% came from a pass that skipped part of the test set).

Ablations (`sudoku_extreme,ablation=NAME`; the authors' follow-ups, `followups/RESULTS.md`: 2,000
steps, 1,000 train and ~1,000 eval puzzles, 3 seeds, baseline 99.2): loops_1 / loops_2 / loops_4
/ loops_8 / loops_16 / loops_32 (17.1 / 41.6 / 91.9 / 98.8 / 99.1 / 99.0), bce_1x / bce_2x /
bce_32x (positive weight 0.5 / 1 / 16 against 0.5: 24.7 / 50.3 / 97.8), no_conflict (no CLS token
and conflict head, conflicts only from empty cells: 21.2, mostly wrong answers), final_only
(supervise the last loop only: 96.1), ce_0 / ce_1 (CE weight 0 / 1: 24.4 / 99.93).

Maze-Hard (`maze_hard`): K=512 multi-path supervision (`ldt.num_solutions`, the official
`--k-solutions 512`): each maze's targets come from its label plus 511 shortest paths drawn
uniformly over its shortest paths, alpha = the union of those still consistent with the state
(`rrm_jax/data/maze_paths.py`, `models/ldt_lattice.py`); as in the official maze trainer the pool
takes the raw mazes (no hint mix, no UNSAT samples). The paper's 99.9 is the lenient metric (any
valid S->G path of optimal length: the official CORRECT_GT + CORRECT_ALT), reported by the
solver as `ldt/lenient_correct` next to the exact match `ldt/correct`; `ablation=k1` is the K=1
run (label only; 99.3 lenient per the authors' memo, a secondary source). The 1,000
Sudoku-Extreme training puzzles are this repository's `1k` subset (the TRM rows' recorded draw),
not the official loader's seed-42 draw.
"""

from __future__ import annotations

import ml_collections

from rrm_jax.config import base_config, cpu_sudoku, parse_row, set_paper

ARXIV = "2605.08605"
HARDWARE = "1x NVIDIA B200 (Modal), ~15 min for Sudoku"


def _ldt(c, *, steps: int, batch: int = 512, hidden: int = 128):
    c.model.update(
        dict(
            name="ldt",
            hidden_size=hidden,
            num_heads=4,
            num_layers=4,
            expansion=4.0,
            mixer="attention",
            pos_encodings="learned",
            puzzle_emb_ndim=0,
            puzzle_emb_len=0,
            dtype="float32",
        )
    )
    c.act.update(dict(max_steps=101, exploration_prob=0.0, halt_rule="q_halt"))
    c.loss.update(dict(lm_weight=0.0, q_weight=0.0, type="softmax"))
    c.optim.update(
        dict(
            optimizer="adamw",
            lr=3e-3,
            beta1=0.9,
            beta2=0.95,
            weight_decay=0.1,
            grad_clip=1.0,
            adam_eps=1e-8,
            warmup_steps=steps // 10,
            lr_min_ratio=0.01,
            ema=False,
            puzzle_emb_lr=0.0,
        )
    )
    c.train.update(
        dict(global_batch_size=batch, steps=steps, eval_every=steps, log_every=50, epochs=0)
    )
    c.eval.update(dict(use_ema=False, plot=False, batch_size=1000))


def _paper(c, row, metric, reported, notes="", table="1"):
    set_paper(
        c,
        arxiv=ARXIV,
        table=table,
        row=row,
        metric=metric,
        reported=reported,
        hardware=HARDWARE,
        notes=notes,
    )


def sudoku_extreme(c):
    c.data.update(
        dict(source="tfds", name="sudoku_extreme", config="1k", augmentation="none", num_aug=0)
    )
    _ldt(c, steps=4000)
    _paper(
        c,
        "LDT Sudoku-Extreme (800K)",
        "ldt/correct (%)",
        99.96,
        "paper 100; the authors' correction on a full test pass ~99.96; evaluated here on the "
        "full test split, correct / wrong / abstained reported separately",
    )


def snowflake(c):
    # The `snowflake_sudoku` TFDS builder (another part of this repository): tokens PAD 0 outside
    # the puzzle, blank 1, digits 2..7, a 15 x 10 covering grid. Digit permutations only (the
    # covering grid is not square, so no D4), 1000 steps, 500 training puzzles.
    c.data.update(
        dict(source="tfds", name="snowflake_sudoku", config="", augmentation="none", num_aug=0)
    )
    _ldt(c, steps=1000)
    c.ldt.update(dict(domain="snowflake", grid_rows=15, grid_cols=10, symmetries="none"))
    _paper(
        c,
        "LDT Snowflake Sudoku (800K)",
        "ldt/correct (%)",
        100.0,
        "README: 100/100 on the 1,000-puzzle test split (orders 4-8, 500 training puzzles in the "
        "official run: this row trains on the builder's train split). The in-puzzle mask is a "
        "locked 7th input channel as in the official code",
    )


def maze_hard(c):
    c.data.update(dict(source="tfds", name="maze_hard", config="", augmentation="none", num_aug=0))
    _ldt(c, steps=20000, batch=192, hidden=192)
    c.model.pos_encodings = "rope"
    c.ldt.update(
        dict(
            domain="maze",
            threshold=0.5,
            cls_threshold=0.53,
            eval_dropout=0.0,
            num_solutions=512,  # the official `--k-solutions 512`
            # the official maze pool takes the raw puzzles: no hint mix, no UNSAT samples
            # (`experiments/maze/train.py` fills the pool with the dataset's x; MazeHardDataset's
            # is_sat is always True). Correct hints would pin the label's path and leave alpha
            # little of the other K - 1 paths.
            zero_hint=1.0,
            correct_hint=0.0,
            error_hint=0.0,
        )
    )
    c.eval.batch_size = 200
    _paper(
        c,
        "LDT Maze-Hard (1.8M)",
        "ldt/lenient_correct (%), any optimal path",
        99.9,
        "paper 99.9 with K=512 sampled shortest paths and the lenient any-optimal-path metric "
        "(ldt/lenient_correct; exact match is ldt/correct); 99.3 with K=1 (ablation=k1, "
        "secondary source). The official pool of 2x the batch is the batch here",
    )


def tiny(c):
    """Generated 6x6 Sudoku (2x3 boxes) at CPU size: d=64, 2 layers, 4 loops, batch 64, 3,000 steps
    (~12 minutes on 2 cores: 99.6% correct, 0.4% wrong, 0% abstained on 500 held-out puzzles; at
    1,200 steps the conflict head had not learned to fire: 27.8% correct, 72.2% wrong).

    CPU-budget departures from the paper rows (all switches of the `ldt` block): no dropout in
    training nor in the solver (on 2 CPU cores the dropout masks' random bits cost more than the
    forward pass: 0.09 s against 0.38 s per solver round of 384 chains); conflict-loss weight 1.0
    (the official TrainConfig default; the run.py value 0.1 left the conflict head at its base
    rate after 1,000 steps of batch 64 here); 16 chains and 64 rounds per puzzle (a 6x6 puzzle
    has ~25 blanks); the grid symmetries are the mirrors and the half turn (a quarter turn is no
    symmetry of 2x3 boxes).
    """
    cpu_sudoku(c)
    c.data.update(dict(augmentation="none", num_aug=0))
    _ldt(c, steps=3000, batch=64, hidden=64)
    c.model.update(dict(num_heads=4, num_layers=2))
    c.ldt.update(
        dict(
            num_loops=4,
            dropout=0.0,
            eval_dropout=0.0,
            conflict_weight=1.0,
            symmetries="flips",
            chains=16,
            rounds=64,
            solver_puzzles=25,
            rounds_per_call=8,
        )
    )
    c.train.update(dict(eval_every=3000, checkpoint_every=500, log_every=50))
    c.eval.update(dict(batch_size=250))
    set_paper(
        c,
        arxiv=ARXIV,
        table="",
        row="tiny (LDT on 6x6 Sudoku, CPU)",
        metric="ldt/correct (%)",
        reported=-1.0,
        hardware="2-core CPU",
        notes="not a paper row",
    )


ROWS = {
    "sudoku_extreme": sudoku_extreme,
    "snowflake": snowflake,
    "maze_hard": maze_hard,
    "tiny": tiny,
}


def _loops(n):
    return lambda c: c.ldt.update(dict(num_loops=n))


# name -> (reported pass rate %, change); the authors' follow-up ablations of sudoku_extreme
ABLATIONS = {
    **{f"loops_{n}": (r, _loops(n)) for n, r in ((1, 17.1), (2, 41.6), (4, 91.9), (8, 98.8))},
    "loops_16": (99.1, _loops(16)),
    "loops_32": (99.0, _loops(32)),
    "bce_1x": (24.7, lambda c: c.ldt.update(dict(bce_pos_weight=0.5))),
    "bce_2x": (50.3, lambda c: c.ldt.update(dict(bce_pos_weight=1.0))),
    "bce_32x": (97.8, lambda c: c.ldt.update(dict(bce_pos_weight=16.0))),
    "no_conflict": (21.2, lambda c: c.ldt.update(dict(conflict_weight=0.0))),
    "final_only": (96.1, lambda c: c.ldt.update(dict(final_only=True))),
    "ce_0": (24.4, lambda c: c.ldt.update(dict(ce_weight=0.0))),
    "ce_1": (99.93, lambda c: c.ldt.update(dict(ce_weight=1.0))),
}


# name -> (reported lenient pass rate %, change); ablations of maze_hard (same protocol as the row)
MAZE_ABLATIONS = {
    # K=1: the label only (the official `--k-solutions 1`, "head-to-head with TRM")
    "k1": (99.3, lambda c: c.ldt.update(dict(num_solutions=1))),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Config of one row, `row[,ablation=NAME]` (rows and ablations in the table above)."""
    row, name = parse_row(
        arg,
        ROWS,
        {**ABLATIONS, **MAZE_ABLATIONS},
        default="tiny",
        ablation_rows=("sudoku_extreme", "maze_hard"),
    )
    c = base_config()
    ROWS[row](c)
    if name is not None and row == "maze_hard":
        if name not in MAZE_ABLATIONS:
            raise ValueError(
                f"unknown ablation {name!r} of maze_hard; expected one of {sorted(MAZE_ABLATIONS)}"
            )
        reported, change = MAZE_ABLATIONS[name]
        change(c)
        _paper(
            c,
            f"LDT Maze-Hard ablation {name}",
            "ldt/lenient_correct (%), any optimal path",
            reported,
            "K=1 (the label only): 99.3 per the authors' memo (secondary source), lenient metric",
        )
        return c
    if name is not None:
        if name not in ABLATIONS:
            raise ValueError(
                f"unknown ablation {name!r} of sudoku_extreme; expected one of {sorted(ABLATIONS)}"
            )
        reported, change = ABLATIONS[name]
        change(c)
        # the follow-ups' protocol: 2,000 steps, ~1,000 evaluation puzzles
        c.train.update(dict(steps=2000, eval_every=2000))
        c.optim.warmup_steps = 200
        c.eval.max_examples = 1000
        _paper(
            c,
            f"LDT Sudoku-Extreme ablation {name}",
            "ldt/correct (%)",
            reported,
            "authors' follow-ups (followups/RESULTS.md): mean of 3 seeds, 2K steps; baseline 99.2",
            table="follow-up D1-D4",
        )
    return c
