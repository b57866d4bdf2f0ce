"""The papers' tables as rows of experiment configs, with the summary key each row is read from.

A row names an experiment config (`FILE:ROW[,ablation=NAME]` under `experiments/`) and the key of
the run's `results.json` summary that holds its measured number. The reported number, the metric's
wording, the hardware and the conditions come from the config's `paper` block, so each is written
once, in the experiment file. Keys holding "{p}" take the sampling metrics' prefix of the config
("ptrm", "gram", or the model's name for the stochastic TRM baselines).

Every paper here reports single runs (no seeds); `--seeds` gives our spread.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os

import ml_collections

EXPERIMENTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "experiments"
)


@dataclasses.dataclass(frozen=True)
class Row:
    name: str  # the row's label in the table (unique within it)
    config: str  # "trm.py:sudoku_extreme" or "trm.py:sudoku_extreme,ablation=no_ema"
    result: str  # summary key of the measured number (a fraction; "{p}": sampling prefix)
    # Evaluate the checkpoint of this other row instead of training (a test-time method on a
    # trained model: PTRM's width on the TRM row): a row of the same table, or "TABLE:ROW" of
    # another table of the same paper.
    checkpoint_of: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    paper: str
    key: str
    title: str
    rows: tuple[Row, ...]
    single_run: bool = True  # the paper reports one run per row
    numbers: bool = True  # the paper gives numbers (False: a figure, or no paper)


def _ablations(file: str, row: str, names, result: str) -> tuple[Row, ...]:
    return tuple(Row(f"{row}/{n}", f"{file}:{row},ablation={n}", result) for n in names)


TRM_ABLATIONS = (
    "one_step_gradient",
    "separate_nets",
    "no_ema",
    "T2_n2",
    "act_continue",
    "four_layers_n3",
    "self_attention",
)
TRM_DEPTHS = ("T1_n2", "T2_n4", "T4_n8", "T6_n6")
HRM_DEPTHS = ("T1_n1", "T3_n3", "T4_n4", "T3_n6", "T6_n3", "T6_n6")
GRAM_ABLATIONS = (
    "looped_tf",
    "sg",
    "ds_sg",
    "none",
    "no_guidance",
    "stochastic_only",
    "guide_only",
    "direct_prediction",
    "trm_stochastic_decoder",
    "trm_random_init",
)

LDT_ABLATIONS = tuple(f"loops_{n}" for n in (1, 2, 4, 8, 16, 32)) + (
    "bce_1x",
    "bce_2x",
    "bce_32x",
    "no_conflict",
    "final_only",
    "ce_0",
    "ce_1",
)

TABLES: tuple[Table, ...] = (
    Table(
        "hrm",
        "main",
        "HRM, as TRM's Tables 4-5 quote it (exact accuracy; ARC pass@2)",
        (
            Row("sudoku_extreme", "hrm.py:sudoku_extreme", "exact_accuracy"),
            Row("maze_hard", "hrm.py:maze_hard", "exact_accuracy"),
            Row("arc_agi_1", "hrm.py:arc_agi_1", "ARC/hrm/pass@2"),
            Row("arc_agi_2", "hrm.py:arc_agi_2", "ARC/hrm/pass@2"),
        ),
    ),
    Table(
        "hrm",
        "depth",
        "HRM's recursion depth T x n on Sudoku-Extreme",
        _ablations("hrm.py", "sudoku_extreme", HRM_DEPTHS, "exact_accuracy"),
    ),
    Table(
        "trm",
        "main",
        "TRM Tables 4-5 (exact accuracy; ARC pass@2)",
        (
            Row("sudoku_extreme (MLP)", "trm.py:sudoku_extreme", "exact_accuracy"),
            Row("sudoku_extreme (Att)", "trm.py:sudoku_extreme_att", "exact_accuracy"),
            Row("maze_hard", "trm.py:maze_hard", "exact_accuracy"),
            Row("arc_agi_1", "trm.py:arc_agi_1", "ARC/trm/pass@2"),
            Row("arc_agi_2", "trm.py:arc_agi_2", "ARC/trm/pass@2"),
        ),
    ),
    Table(
        "trm",
        "ablation",
        "TRM Table 1: ablations on Sudoku-Extreme (TRM-MLP base 87.4)",
        _ablations("trm.py", "sudoku_extreme", TRM_ABLATIONS, "exact_accuracy"),
    ),
    Table(
        "trm",
        "depth",
        "TRM Table 3: recursion depth T x n on Sudoku-Extreme",
        _ablations("trm.py", "sudoku_extreme", TRM_DEPTHS, "exact_accuracy"),
    ),
    Table(
        "ptrm",
        "main",
        "PTRM Table 3: K rollouts x D steps of a trained TRM",
        (
            Row("sudoku_extreme (best-Q)", "ptrm.py:sudoku_extreme", "ptrm/best_q"),
            Row("maze_hard (mode)", "ptrm.py:maze_hard", "ptrm/mode"),
            Row("arc_agi_2 (pass@1)", "ptrm.py:arc_agi_2", "ptrm/best_q/ARC/trm/pass@1"),
        ),
    ),
    Table(
        "ptrm",
        "sigma",
        "PTRM App. B: the noise scale sigma (our grid; the paper's is a figure)",
        tuple(
            Row(f"{task} sigma={s}", f"ptrm.py:sigma_{task},sigma={s}", key, checkpoint_of=base)
            for task, key, base in (
                ("sudoku", "ptrm/best_q", "main:sudoku_extreme (best-Q)"),
                ("maze", "ptrm/pass", "main:maze_hard (mode)"),
            )
            for s in (0.1, 0.3, 1.0)
        ),
        numbers=False,
    ),
    Table(
        "gram",
        "challenging",
        "GRAM Table 8: challenging puzzles",
        (
            Row("sudoku_extreme (N=20, LPRM)", "gram.py:sudoku_extreme", "gram/value"),
            Row("arc_agi_1", "gram.py:arc_agi_1", "ARC/trm/pass@2"),
            Row("arc_agi_2", "gram.py:arc_agi_2", "ARC/trm/pass@2"),
        ),
    ),
    Table(
        "gram",
        "csp",
        "GRAM Table 1: multi-solution CSPs (coverage of 20 samples)",
        tuple(
            Row(n, f"gram.py:{n}", "gram/csp/coverage")
            for n in ("n_queens_8", "n_queens_10", "graph_coloring_8", "graph_coloring_10")
        ),
    ),
    Table(
        "gram",
        "ablation",
        "GRAM Table 3: ablations, 5 samples (Sudoku-Extreme exact; N-Queens 8x8 accuracy)",
        _ablations("gram.py", "sudoku_extreme", GRAM_ABLATIONS, "{p}/selected")
        + _ablations("gram.py", "n_queens_8", GRAM_ABLATIONS, "{p}/csp/accuracy"),
    ),
    Table(
        "gram",
        "generation",
        "GRAM Table 2: unconditional Sudoku (valid boards)",
        (Row("sudoku_generation", "gram.py:sudoku_generation", "gram/generation/valid"),),
    ),
    Table(
        "sotaku",
        "iterations",
        "Sotaku (github chenglou/sotaku, exp_baseline_lr2e3): exact accuracy on the 25K "
        "rating-stratified test subset against test-time iterations (trained with 16)",
        (Row("sudoku_extreme (1024 iterations)", "sotaku.py:sudoku_extreme", "exact_accuracy"),)
        + tuple(
            Row(
                f"{n} iterations",
                f"sotaku.py:sudoku_extreme,iters={n}",
                "exact_accuracy",
                checkpoint_of="sudoku_extreme (1024 iterations)",
            )
            for n in (16, 32, 64, 128, 256, 512, 2048)
        ),
    ),
    Table(
        "ldt",
        "main",
        "LDT's claims: solved (%) by the abstaining solver (Maze: the paper's lenient "
        "any-optimal-path metric, K=512 sampled shortest paths; K=1 the label only)",
        (
            Row("sudoku_extreme (800K)", "ldt.py:sudoku_extreme", "ldt/correct"),
            Row("snowflake", "ldt.py:snowflake", "ldt/correct"),
            Row("maze_hard (1.8M)", "ldt.py:maze_hard", "ldt/lenient_correct"),
            Row("maze_hard K=1", "ldt.py:maze_hard,ablation=k1", "ldt/lenient_correct"),
        ),
    ),
    Table(
        "ldt",
        "followups",
        "LDT authors' follow-up ablations on Sudoku-Extreme (1K puzzles, 2K-step endpoint)",
        _ablations("ldt.py", "sudoku_extreme", LDT_ABLATIONS, "ldt/correct"),
    ),
    Table(
        "cpu_study",
        "main",
        "Which parts are load-bearing: one small task, one budget (CPU)",
        tuple(
            Row(n, f"cpu_study.py:{n}", "exact_accuracy")
            for n in (
                "trm",
                "hrm",
                "trm_one_step",
                "trm_no_ema",
                "trm_no_deep_supervision",
                "trm_implicit",
                "trm_full_bptt",
            )
        )
        + (Row("ptrm_width", "cpu_study.py:ptrm_width", "ptrm/best_q", checkpoint_of="trm"),),
        single_run=False,
        numbers=False,
    ),
)


def papers() -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.paper for t in TABLES))


def tables(paper: str, table: str = "") -> tuple[Table, ...]:
    """The tables of `paper` (one of `papers()`), or only `table` of it."""
    if paper not in papers():
        raise ValueError(f"unknown paper {paper!r}; expected one of {papers()}")
    found = tuple(t for t in TABLES if t.paper == paper and (not table or t.key == table))
    if not found:
        keys = [t.key for t in TABLES if t.paper == paper]
        raise ValueError(f"paper {paper!r} has no table {table!r}; expected one of {keys}")
    return found


@functools.cache
def _module(file: str):
    path = os.path.join(EXPERIMENTS, file)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the experiments folder is needed (a source checkout)")
    spec = importlib.util.spec_from_file_location(f"rrm_experiments_{file[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_config(spec: str) -> ml_collections.ConfigDict:
    """The config of `FILE:ARG` (an experiment file under experiments/ and its get_config arg)."""
    file, _, arg = spec.partition(":")
    return _module(file).get_config(arg or None)


def checkpoint_source(table: Table, row: Row) -> tuple[Table, str]:
    """(table, row name) whose checkpoint `row` evaluates (`row.checkpoint_of`)."""
    key, sep, name = row.checkpoint_of.rpartition(":")
    if not sep:
        return table, name
    found = [t for t in TABLES if t.paper == table.paper and t.key == key]
    if not found or name not in {r.name for r in found[0].rows}:
        raise ValueError(f"{table.paper}/{table.key} {row.name}: no row {row.checkpoint_of!r}")
    return found[0], name


def result_key(row: Row, config) -> str:
    """The summary key of a row's measured number ("{p}" resolved for this config)."""
    if "{p}" not in row.result:
        return row.result
    from rrm_jax.eval.scaling import metric_prefix

    return row.result.format(p=metric_prefix(config))
