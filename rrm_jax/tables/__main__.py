"""`python -m rrm_jax.tables`: a paper's tables, reported beside measured.

    python -m rrm_jax.tables --paper=cpu_study --workdir=runs/tables      # runs here (~45 min)
    python -m rrm_jax.tables --paper=trm --workdir=runs/tables --skip_runs  # reported + projected
    python -m rrm_jax.tables --paper=trm --table=ablation --workdir=DIR --seeds=0,1,2
    python -m rrm_jax.tables --paper=gram --workdir=DIR --eval_only       # evaluate what exists

Papers: hrm, trm, ptrm, gram, cpu_study (`rrm_jax/tables/registry.py`).
"""

from __future__ import annotations

from absl import app, flags, logging

_PAPER = flags.DEFINE_string("paper", None, "hrm, trm, ptrm, gram or cpu_study.")
_TABLE = flags.DEFINE_string("table", "", "Only this table of the paper (default: all).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Root of the rows' workdirs and the report.")
_ROWS = flags.DEFINE_list("rows", [], "Only these rows (names as printed).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Training seeds; the table shows mean and spread.")
_EVAL_ONLY = flags.DEFINE_bool(
    "eval_only", False, "Do not train: evaluate the rows whose workdir has a checkpoint."
)
_SKIP_RUNS = flags.DEFINE_bool(
    "skip_runs", False, "Run nothing: report what exists (and project the rest)."
)
_PROJECT = flags.DEFINE_bool(
    "project", True, "Time the train step of rows with no result to project their run time."
)
_PROJECT_BATCH = flags.DEFINE_integer(
    "project_batch", 0, "Rows per timed step (0: 8 on a CPU, the row's batch elsewhere)."
)
flags.mark_flags_as_required(["paper", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    from rrm_jax.tables import run

    results, paths = run.run(
        _PAPER.value,
        _WORKDIR.value,
        table=_TABLE.value,
        rows=tuple(_ROWS.value),
        seeds=tuple(int(s) for s in _SEEDS.value),
        eval_only=_EVAL_ONLY.value,
        skip_runs=_SKIP_RUNS.value,
        project=_PROJECT.value,
        project_batch=_PROJECT_BATCH.value,
    )
    with open(paths["md"]) as f:
        print(f.read(), flush=True)
    print(f"written: {paths['md']}, {paths['csv']}", flush=True)


if __name__ == "__main__":
    app.run(main)
