"""Runs, evaluates and reports the rows of a paper's tables (`python -m rrm_jax.tables`).

Each (row, seed) lives in `WORKDIR/<paper>/<table>/<row>/seed_<s>`, a training workdir: running
again resumes it (`rrm_jax.train.loop`), and a row with a `results.json` is not run again. Beside
it `run_info.json` records the wall time and the devices. A row that evaluates another row's
checkpoint (`Row.checkpoint_of`, e.g. PTRM's width on the TRM row) runs after that row.

For rows with no result, the projected training time on the current devices is the measured
time of the row's train step (compiled for its shapes, run on random batches at `project_batch`
rows, scaled linearly to the row's global batch) times its optimizer steps (train.steps, or
epochs x the dataset's groups x mean examples / batch as the official sampler counts them);
evaluation time is not included.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import statistics
import time

from rrm_jax.tables import registry


@dataclasses.dataclass
class Result:
    table: registry.Table
    row: registry.Row
    reported: float | None
    metric: str
    values: list[float]  # measured, one per seed that has a result (fractions)
    seeds: list[int]
    wall_s: list[float]
    hardware: str
    steps: int | None
    projected_s: float | None = None
    note: str = ""

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def spread(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_")


def row_dir(root: str, table: registry.Table, row_name: str, seed: int) -> str:
    return os.path.join(root, table.paper, table.key, slug(row_name), f"seed_{seed}")


def hardware() -> str:
    import jax

    devices = jax.devices()
    if devices[0].platform == "cpu":
        return f"CPU, {os.cpu_count()} cores"
    return f"{len(devices)}x {devices[0].device_kind}"


def row_config(row: registry.Row, seed: int):
    """The row's config with the seed set (training and, for sampling rows, the noise)."""
    c = registry.load_config(row.config)
    c.train.seed = seed
    c.sampling.seed = seed
    return c


def official_steps(c) -> int | None:
    """Optimizer steps of a row: train.steps, or epochs x groups x mean examples / batch (None:
    unknown)."""
    from rrm_jax.train.timing import KNOWN_DATA

    if c.train.steps:
        return int(c.train.steps)
    known = KNOWN_DATA.get((c.data.name, c.data.config))
    if c.data.source != "tfds" or not known or not known["groups"]:
        return None
    examples = known["groups"] * known.get("mean_examples", 1)
    if c.data.task == "generate" and c.data.generate_boards:  # N distinct solutions, 1 group each
        examples = min(examples, c.data.generate_boards)
    return int(c.train.epochs * examples / c.train.global_batch_size)


def _read(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _has_checkpoint(workdir: str) -> bool:
    return os.path.isdir(os.path.join(workdir, "checkpoints")) and bool(
        os.listdir(os.path.join(workdir, "checkpoints"))
    )


def run_row(root, table, row, seed: int, *, eval_only: bool, log=print) -> bool:
    """Runs (or with `eval_only`, evaluates) one row and seed unless it has a result; returns
    whether a result exists afterwards."""
    workdir = row_dir(root, table, row.name, seed)
    if os.path.exists(os.path.join(workdir, "results.json")):
        return True
    config = row_config(row, seed)
    source = workdir
    if row.checkpoint_of:
        source = row_dir(root, *registry.checkpoint_source(table, row), seed)
    if (row.checkpoint_of or eval_only) and not _has_checkpoint(source):
        log(f"[{table.paper}/{table.key}] {row.name} seed {seed}: no checkpoint in {source}")
        return False
    os.makedirs(workdir, exist_ok=True)
    log(f"[{table.paper}/{table.key}] {row.name} seed {seed}: {row.config} -> {workdir}")
    t0 = time.time()
    if row.checkpoint_of or eval_only:
        from rrm_jax.eval.offline import checkpoint_params, evaluate_params

        params = checkpoint_params(source, config.eval.use_ema)
        evaluate_params(config, params, workdir)
    else:
        from rrm_jax.train import loop

        loop.run(config, workdir)
    info = {"wall_s": time.time() - t0, "hardware": hardware(), "seed": seed}
    info["mode"] = "evaluate" if (row.checkpoint_of or eval_only) else "train+evaluate"
    with open(os.path.join(workdir, "run_info.json"), "w") as f:
        json.dump(info, f, indent=2)
    return os.path.exists(os.path.join(workdir, "results.json"))


_PROJECTION_CACHE: dict[str, tuple[float, int]] = {}


def step_seconds(c, batch: int) -> tuple[float, int]:
    """(Seconds per train step of `c` at its global batch, rows timed): timed at `batch` rows (or
    fewer, `_time_fitting`) and scaled linearly."""
    from rrm_jax.train import timing

    c = c.copy_and_resolve_references()
    known = timing.KNOWN_DATA.get((c.data.name, c.data.config), {})
    if c.data.source == "sudoku" or c.data.name == "sudoku_generated":  # generated boards
        from rrm_jax.data import sudoku

        board = sudoku.parse_board(c.data.config or c.data.board)
        known = dict(vocab_size=board.vocab_size, seq_len=board.cells, num_puzzle_identifiers=1)
    for field in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if not c.model[field]:
            if field not in known:
                raise ValueError(f"{c.data.name}/{c.data.config}: {field} unknown without data")
            c.model[field] = known[field]
    full = c.train.global_batch_size
    small = min(batch, full)
    c.train.microbatches = 1
    # Rows that build the same train step share one timing: every block the step can read (the
    # model families' own blocks included: GRAM's hierarchy switch changes the step's cost).
    step_blocks = ("model", "recursion", "act", "loss", "optim", "gram", "ldt", "sotaku", "ptrm")
    key = json.dumps(
        {k: c[k].to_dict() for k in step_blocks if k in c} | {"batch": small},
        sort_keys=True,
        default=str,
    )
    if key not in _PROJECTION_CACHE:
        _PROJECTION_CACHE[key] = _time_fitting(c, small)
    seconds, timed = _PROJECTION_CACHE[key]
    return seconds * full / timed, timed


def _out_of_memory(e: Exception) -> bool:
    text = f"{type(e).__name__}: {e}"
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def _time_fitting(c, batch: int) -> tuple[float, int]:
    """(median seconds per step, rows timed): at `batch` rows, or at a quarter of that each time
    the step does not fit in device memory (the official runs spread the batch over several
    devices; one device times a slice of it), down to one row."""
    from rrm_jax.train import timing

    while True:
        c.train.global_batch_size = batch
        try:
            return timing.time_train_step(c, steps=2, warmup=1)["median_s"], batch
        except Exception as e:
            if not _out_of_memory(e) or batch == 1:
                raise
            batch = max(1, batch // 4)


def collect(root, table, row, seeds, *, project: bool, project_batch: int, log=print) -> Result:
    """The row's results over `seeds` (those that exist) and, if none, its projected time."""
    config = registry.load_config(row.config)
    values, done, walls, hw = [], [], [], set()
    for s in seeds:
        workdir = row_dir(root, table, row.name, s)
        summary = _read(os.path.join(workdir, "results.json"))
        if summary is None:
            continue
        key = registry.result_key(row, config)
        if key not in summary:
            raise KeyError(f"{workdir}/results.json has no {key!r} (row {row.name})")
        values.append(float(summary[key]))
        done.append(s)
        info = _read(os.path.join(workdir, "run_info.json")) or {}
        if "wall_s" in info:
            walls.append(float(info["wall_s"]))
        if "hardware" in info:
            hw.add(info["hardware"])
    p = config.paper
    result = Result(
        table,
        row,
        p.reported if p.reported >= 0 else None,
        p.metric,
        values,
        done,
        walls,
        ", ".join(sorted(hw)),
        official_steps(config),
    )
    if not values and project and not row.checkpoint_of:
        if result.steps is None:
            result.note = "steps unknown without the built dataset"
        else:
            try:
                seconds, timed = step_seconds(config, project_batch)
                result.projected_s = result.steps * seconds
                if timed < min(project_batch, config.train.global_batch_size):  # did not fit
                    result.note = f"step timed at batch {timed} (memory), scaled to the row's"
            except Exception as e:  # a row that does not compile here: say why, go on
                result.note = f"not projected: {type(e).__name__}: {str(e)[:80]}"
                log(f"{row.name}: {result.note}")
    return result


def _duration(s: float | None) -> str:
    if s is None:
        return ""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def _pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{100 * x:.2f}"


def row_cells(r: Result) -> dict[str, str]:
    measured = _pct(r.mean)
    if r.spread is not None:
        measured += f" ± {100 * r.spread:.2f}"
    reported = "" if r.reported is None else f"{r.reported:g}"
    if reported and r.table.single_run:
        reported += " †"
    return {
        "row": r.row.name,
        "config": r.row.config,
        "metric": r.metric,
        "reported": reported,
        "measured": measured,
        "seeds": ",".join(map(str, r.seeds)),
        "hardware": r.hardware,
        "wall time": _duration(statistics.fmean(r.walls) if r.wall_s else None),
        "steps": "" if r.steps is None else f"{r.steps:,}",
        "projected": _duration(r.projected_s),
        "note": r.note,
    }


Result.walls = property(lambda self: self.wall_s)


def markdown(results: list[Result], device: str) -> str:
    out = []
    for table in dict.fromkeys(r.table for r in results):
        rows = [row_cells(r) for r in results if r.table is table]
        cols = list(rows[0])
        out.append(f"### {table.paper} / {table.key}: {table.title}\n")
        out.append("measured: mean ± std over the seeds run (%)\n")
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" for _ in cols) + "|")
        out.extend("| " + " | ".join(r[c] for c in cols) + " |" for r in rows)
        if table.single_run:
            out.append("\n† the paper reports a single run.")
        out.append("")
    out.append(f"projected: training steps only, timed on {device}.")
    return "\n".join(out)


def write(results: list[Result], path_stem: str, device: str) -> dict[str, str]:
    """Writes `<stem>.md` and `<stem>.csv`; returns their paths."""
    os.makedirs(os.path.dirname(path_stem) or ".", exist_ok=True)
    md = markdown(results, device)
    with open(path_stem + ".md", "w") as f:
        f.write(md + "\n")
    with open(path_stem + ".csv", "w", newline="") as f:
        rows = [{"paper": r.table.paper, "table": r.table.key, **row_cells(r)} for r in results]
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"md": path_stem + ".md", "csv": path_stem + ".csv"}


def run(
    paper: str,
    workdir: str,
    *,
    table: str = "",
    rows: tuple[str, ...] = (),
    seeds: tuple[int, ...] = (0,),
    eval_only: bool = False,
    skip_runs: bool = False,
    project: bool = True,
    project_batch: int = 0,
    log=print,
) -> tuple[list[Result], dict[str, str]]:
    """Runs the rows not yet run (unless `skip_runs`), collects every row, writes the report.

    Returns (results, paths of the Markdown and CSV files)."""
    import jax

    tables = registry.tables(paper, table)
    if project_batch <= 0:
        project_batch = 8 if jax.devices()[0].platform == "cpu" else 1 << 30
    selected = []
    for t in tables:
        unknown = set(rows) - {r.name for t2 in tables for r in t2.rows}
        if unknown:
            raise ValueError(f"unknown rows {sorted(unknown)} in {paper} {table or ''}")
        selected.extend((t, r) for r in t.rows if not rows or r.name in rows)
    if not skip_runs:
        for t, r in selected:
            for s in seeds:
                run_row(workdir, t, r, s, eval_only=eval_only, log=log)
    results = [
        collect(workdir, t, r, seeds, project=project, project_batch=project_batch, log=log)
        for t, r in selected
    ]
    stem = os.path.join(workdir, paper + (f"_{table}" if table else ""))
    paths = write(results, stem, hardware())
    return results, paths
