"""Test-time scaling: accuracy over depth (supervision steps D) x width (rollouts K).

Depth and width are the two axes of test-time compute of a recursive model (the survey's
Observation 3): run one rollout for more supervision steps, or more rollouts and select among
them. This harness measures both on the same puzzles, at matched compute, for any model whose
`apply` takes a noise or sampling key (`model.stochastic`: TRM/HRM with PTRM's noise now).

- Compute is counted as forward block applications per puzzle: K * D * blocks per segment,
  where a segment is T cycles of n latent updates and one answer update
  (T * (n * L_layers + H_layers); TRM's base row 3 * (6 * 2 + 2) = 42).
- One run of K_max rollouts x D_max steps gives the whole grid: a rollout's noise is a function
  of (key, step, rollout, row) alone (`rollouts.py`), so the first K rollouts after D steps are
  exactly the (K, D) experiment.
- Rules per cell: best-Q@K, mode@K (`selection.py`), pass@K (oracle) and the mean accuracy of a
  single noisy rollout; plus the deterministic model (no noise) at every depth, the depth-only
  allocation.
- Outputs (`write`): scaling.md (the table, and the compute-matched comparison: at each budget,
  the deterministic model at depth K*D against K noisy rollouts of depth D), scaling.csv,
  scaling.json and scaling.png (accuracy against compute, one line per allocation).

Accuracy here is the exact accuracy per test row (for ARC, per augmented test example; the
ARC vote over augmentations is PTRM's evaluation, `sampling_metrics`).

LDT (`run_ldt_grid`): width is the chains K per puzzle, depth the round budget R of its
abstaining solver (`eval/ldt_solver.py`); defaults are powers of two up to `ldt.chains` and
`ldt.rounds`. Each cell is its own solver run (`ldt_solver.evaluate` with K and R, the same
seed): the solver streams puzzles through slots and a puzzle's random draws depend on its slot
and the call it entered at, which depend on the budget, so a cell cannot be read off a larger
one; the round budget is an argument of the compiled round function, so each width compiles
once for every depth. A cell records correct (the accuracy: the exact accuracy of the accepted
answers over all puzzles), wrong and abstained (fractions), the mean rounds and chain forward
passes used, and the rule-breaking accepted answers. Compute is the budget per puzzle, K * R
forward passes of num_loops * num_layers blocks each; K = 1 is the depth-only line ("depth"), so
the compute-matched comparison is one chain of K*R rounds against K chains of R rounds. More
rounds cannot finish fewer puzzles when every puzzle gets a slot at once (`ldt.solver_puzzles` >=
the puzzles: each puzzle's draws are then those of (seed, round) alone); otherwise only in
expectation.

    python -m rrm_jax.evaluate --config=experiments/ptrm.py:tiny \
        --checkpoint=runs/demo --workdir=runs/demo_scaling --scaling
    python -m rrm_jax.evaluate --config=experiments/ldt.py:tiny \
        --checkpoint=runs/ldt_tiny --workdir=runs/ldt_scaling --scaling
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import losses
from rrm_jax.eval import rollouts as rollouts_lib
from rrm_jax.eval import selection

CELL_METRICS = ("best_q", "mode", "pass", "rollout_mean")


def blocks_per_segment(config) -> int:
    """Forward block applications of one supervision segment: T * (n * L_layers + H_layers);
    for LDT, of one chain's solver round: num_loops * num_layers."""
    m, r = config.model, config.recursion
    if m.name == "ldt":
        return config.ldt.num_loops * m.num_layers
    return r.cycles * (r.latent_steps * m.num_layers + (m.h_layers or m.num_layers))


def powers_of_two(limit: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to `limit`, with `limit` itself last."""
    out, v = [], 1
    while v < limit:
        out.append(v)
        v *= 2
    return (*out, limit)


def grid_axes(config) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(widths, depths) of the sweep: `scaling.*`, or powers of two up to sampling.rollouts
    and sampling.steps (LDT: up to ldt.chains and ldt.rounds)."""
    if config.model.name == "ldt":
        width, depth = config.ldt.chains, config.ldt.rounds
    else:
        width, depth = config.sampling.rollouts, config.sampling.steps or config.act.max_steps
    widths = tuple(sorted(int(w) for w in config.scaling.widths)) or powers_of_two(width)
    depths = tuple(sorted(int(d) for d in config.scaling.depths)) or powers_of_two(depth)
    return widths, depths


def make_grid_step(
    model,
    *,
    widths: Sequence[int],
    depths: Sequence[int],
    chunk: int = 0,
    noise: bool = True,
    keep_rows: bool = False,
    keep_samples: bool = False,
    act_halt: bool = False,
) -> Callable:
    """Builds `step(params, batch, key) -> (sums, rows)` for one batch.

    `sums` holds "count" (valid rows with labels) and, for each of CELL_METRICS, an array
    [len(depths), len(widths)] of summed correctness. With `keep_rows`, `rows` holds for each
    rule of `selection.RULES` the selected answer "preds/{rule}" [B, L] and halt logit
    "q_halt/{rule}" [B] at the largest width and depth (for the task's own evaluator), and the
    rows' "exact/{rule}"; else it is empty. With `keep_samples` it also holds every rollout's
    answer "samples" [B, K, L] at the largest cell (for multi-solution coverage). With
    `act_halt` (depth by ACT, see `rollouts.make_rollouts`) `sums` adds "segments", the summed
    mean number of supervision steps the rollouts used.
    """
    widths, depths = tuple(sorted(widths)), tuple(sorted(depths))
    run = rollouts_lib.make_rollouts(
        model,
        rollouts=widths[-1],
        steps=depths[-1],
        record=depths,
        chunk=chunk,
        noise=noise,
        act_halt=act_halt,
    )

    def step(params: dict, batch: dict, key: jax.Array):
        out = run(params, batch, key)
        preds, q = out["preds"], out["q_halt"]  # [R, B, K, L], [R, B, K]
        value = out.get("value")  # [R, B, K] for models with a value head
        rules = selection.RULES + ((selection.VALUE_RULE,) if value is not None else ())
        labels = batch["labels"]
        counts = (labels != losses.IGNORE_LABEL).sum(-1)
        w = (batch["valid"] & (counts > 0)).astype(jnp.float32)
        exact = selection.exact(preds, labels[None])  # [R, B, K]
        cells = {name: [] for name in CELL_METRICS + rules[len(selection.RULES) :]}
        for width in widths:
            p, qq, ex = preds[:, :, :width], q[:, :, :width], exact[:, :, :width]
            vv = None if value is None else value[:, :, :width]
            for rule in rules:
                chosen = selection.pick(ex, selection.select(rule, p, qq, vv))
                cells[rule].append((chosen * w).sum(-1))
            cells["pass"].append((selection.passed(ex) * w).sum(-1))
            cells["rollout_mean"].append((ex.mean(-1) * w).sum(-1))
            if act_halt:
                cells.setdefault("segments", []).append(
                    (out["segments"][:, :, :width].mean(-1) * w).sum(-1)
                )
        sums = {"count": w.sum(), **{k: jnp.stack(v, axis=-1) for k, v in cells.items()}}
        rows = {}
        if keep_rows:
            p, qq, ex = preds[-1], q[-1], exact[-1]
            vv = None if value is None else value[-1]
            for rule in rules:
                index = selection.select(rule, p, qq, vv)
                rows[f"preds/{rule}"] = selection.pick(p, index).astype(jnp.int32)
                rows[f"q_halt/{rule}"] = selection.pick(qq, index)
                rows[f"exact/{rule}"] = selection.pick(ex, index)
        if keep_samples:
            rows["samples"] = preds[-1]
        return sums, rows

    step.widths, step.depths = widths, depths
    return step


def sweep(
    step: Callable,
    params: dict,
    batches: Iterable[dict],
    to_global: Callable,
    key: jax.Array,
    *,
    collect: bool = False,
) -> tuple[dict, dict | None]:
    """Runs a grid step over host batches (batch i uses `fold_in(key, i)`); returns the means
    ({"count", metric: [depths, widths]}) and, with `collect`, the valid rows' inputs, labels,
    identifiers and selected outputs as host arrays."""
    from rrm_jax.eval.evaluate import run_batches

    batch_keys = (jax.random.fold_in(key, i) for i in itertools.count())
    total, rows = run_batches(
        lambda batch: step(params, batch, next(batch_keys)), batches, to_global, collect=collect
    )
    count = max(float(total["count"]), 1.0)
    means = {"count": float(total["count"])}
    means.update({k: np.asarray(v) / count for k, v in total.items() if k != "count"})
    return means, rows


ALLOCATIONS = ("depth", "depth+noise", "width", "mixed")


def allocation(k: int, d: int, noise: bool, min_depth: int) -> str:
    """How a cell spends its compute: "depth" (the deterministic model, K=1), "depth+noise"
    (one noisy rollout), "width" (K > 1 rollouts at the grid's smallest depth) or "mixed"."""
    if not noise:
        return "depth"
    if k == 1:
        return "depth+noise"
    return "width" if d == min_depth else "mixed"


def table_rows(
    config, noisy: dict, deterministic: dict, widths, depths, det_depths=None
) -> list[dict]:
    """One record per cell: allocation, K, D, compute and accuracies (fractions). The
    deterministic line is at `det_depths` (default `depths`); there every rule is its answer."""
    per_segment = blocks_per_segment(config)
    out = []
    for i, d in enumerate(det_depths or depths):
        det = float(deterministic["best_q"][i, 0])
        out.append(
            dict(
                allocation="depth",
                K=1,
                D=d,
                compute=d * per_segment,
                **{m: det for m in noisy if m not in ("count", "segments")},
                **({"segments": float(d)} if "segments" in noisy else {}),
            )
        )
    for i, d in enumerate(depths):
        for j, k in enumerate(widths):
            out.append(
                dict(
                    allocation=allocation(k, d, True, depths[0]),
                    K=k,
                    D=d,
                    compute=k * d * per_segment,
                    **{m: float(noisy[m][i, j]) for m in noisy if m != "count"},
                )
            )
    return out


def frontier(records: list[dict], rule: str) -> list[tuple[int, float]]:
    """The best accuracy under `rule` reachable with at most each compute, over every cell
    (deterministic and noisy; pass@K only over noisy cells and the deterministic ones)."""
    best, out = -1.0, []
    for c in sorted({r["compute"] for r in records}):
        best = max([best] + [r[rule] for r in records if r["compute"] == c])
        out.append((c, best))
    return out


def is_ldt(records: list[dict]) -> bool:
    """Records of LDT's grid (`ldt_record`: correct / wrong / abstained)."""
    return "correct" in records[0]


def matched(records: list[dict]) -> list[dict]:
    """Compute-matched pairs: for each budget reached by the deterministic model (LDT: by one
    chain), the best cell with K > 1 at that same compute (by best-Q, then mode; LDT: by
    correct, then fewer wrong; every column kept)."""
    det = {r["compute"]: r for r in records if r["allocation"] == "depth"}
    if is_ldt(records):
        rank = lambda r: (r["correct"], -r["wrong"])
    else:
        rank = lambda r: (r["best_q"], r["mode"])
    out = []
    for c, d in sorted(det.items()):
        wide = [r for r in records if r["K"] > 1 and r["compute"] == c]
        if wide:
            out.append({"compute": c, "depth": d, "width": max(wide, key=rank)})
    return out


def markdown(records: list[dict], title: str = "") -> str:
    """The grid and the compute-matched comparison as Markdown."""
    if is_ldt(records):
        return _ldt_markdown(records, title)
    pct = lambda v: f"{100 * v:.2f}"
    lines = [f"## {title}" if title else "## Test-time scaling", ""]
    value = "value" in records[0]  # models with a value head (GRAM's LPRM)
    lines += [
        "| allocation | K | D | compute (blocks/puzzle) | best-Q | mode | "
        + ("best value | " if value else "")
        + "pass@K (oracle) | one rollout (mean) |",
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if value else "") + "---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['allocation']} | {r['K']} | {r['D']} | {r['compute']:,} | {pct(r['best_q'])} "
            f"| {pct(r['mode'])} | "
            + (f"{pct(r['value'])} | " if value else "")
            + f"{pct(r['pass'])} | {pct(r['rollout_mean'])} |"
        )
    pairs = matched(records)
    if pairs:
        lines += [
            "",
            "Compute-matched: the deterministic model at depth K*D against K noisy rollouts of "
            "depth D (the best such K > 1 by best-Q).",
            "",
            "| compute | depth only: D, exact | width: K x D | best-Q | mode | pass@K |",
            "|---:|---|---|---:|---:|---:|",
        ]
        for p in pairs:
            d, w = p["depth"], p["width"]
            lines.append(
                f"| {p['compute']:,} | D={d['D']}, {pct(d['best_q'])} | {w['K']} x {w['D']} | "
                f"{pct(w['best_q'])} | {pct(w['mode'])} | {pct(w['pass'])} |"
            )
    return "\n".join(lines) + "\n"


def _plot_frontier(ax, records: list[dict], rule: str) -> None:
    edge = frontier(records, rule)
    ax.plot(
        [c for c, _ in edge],
        [100 * a for _, a in edge],
        "k:",
        alpha=0.6,
        label="frontier (best at or below this compute)",
    )


def plot(records: list[dict], path: str, title: str = "") -> None:
    """Accuracy against compute, one panel per rule: the depth-only line (deterministic), the
    width-only line (K rollouts at the smallest depth), one mixed line per larger depth, and
    the frontier (the best cell at or below each compute). LDT's records: `_ldt_plot`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if is_ldt(records):
        return _ldt_plot(records, path, title, plt)
    panels = (("best_q", "best-Q@K"), ("mode", "mode@K"), ("pass", "pass@K (oracle)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.2), sharey=True)
    det = [r for r in records if r["allocation"] == "depth"]
    noisy = [r for r in records if r["allocation"] != "depth"]
    for ax, (rule, name) in zip(axes, panels, strict=True):
        ax.plot(
            [r["compute"] for r in det],
            [100 * r[rule] for r in det],
            "k-o",
            label="depth only (deterministic, K=1)",
        )
        for d in sorted({r["D"] for r in noisy}):
            line = sorted((r for r in noisy if r["D"] == d), key=lambda r: r["K"])
            if len(line) > 1:
                kind = line[-1]["allocation"]
                ax.plot(
                    [r["compute"] for r in line],
                    [100 * r[rule] for r in line],
                    marker=".",
                    alpha=0.8,
                    label=f"{'width only' if kind == 'width' else 'mixed'}: K rollouts, D={d}",
                )
        _plot_frontier(ax, records, rule)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("compute (forward block applications per puzzle)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("exact accuracy (%)")
    axes[-1].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(records: list[dict], workdir: str, title: str = "") -> dict[str, str]:
    """Writes scaling.md, scaling.csv, scaling.json and scaling.png; returns their paths."""
    os.makedirs(workdir, exist_ok=True)
    paths = {ext: os.path.join(workdir, f"scaling.{ext}") for ext in ("md", "csv", "json", "png")}
    with open(paths["md"], "w") as f:
        f.write(markdown(records, title))
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    with open(paths["json"], "w") as f:
        json.dump({"records": records, "compute_matched": matched(records)}, f, indent=2)
    plot(records, paths["png"], title)
    return paths


def run_grid(
    config, model, params, batches_fn: Callable, to_global: Callable, data=None
) -> tuple[list[dict], dict | None]:
    """The noisy K x D grid and the deterministic depth line on the same test rows.

    Returns (records, sampled): when the grid's largest cell is (sampling.rollouts,
    sampling.steps) and `data` is given, `sampled` is `sampling_metrics`' result read off that
    cell (the same draws), so the rollouts are not run twice; else None.
    """
    from rrm_jax.eval import evaluate as eval_lib

    widths, depths = grid_axes(config)
    p = config.sampling
    is_sampling_cell = data is not None and (widths[-1], depths[-1]) == (
        p.rollouts,
        p.steps or config.act.max_steps,
    )
    collect = is_sampling_cell and eval_lib.needs_predictions(data)
    samples = collect and data.kind in eval_lib.SAMPLED_KINDS
    key = jax.random.PRNGKey(p.seed)
    noisy_step = jax.jit(
        make_grid_step(
            model,
            widths=widths,
            depths=depths,
            chunk=_chunk(config, widths[-1]),
            noise=True,
            keep_rows=collect,
            keep_samples=samples,
            act_halt=p.act_halt,
        )
    )
    # The depth-only line goes as deep as the widest cell's compute, so that every budget of
    # the grid has a deterministic cell to be matched against (depths beyond the trained
    # number of segments included: how far depth alone carries is part of the answer).
    det_depths = tuple(sorted(set(depths) | set(powers_of_two(widths[-1] * depths[-1]))))
    det_step = jax.jit(make_grid_step(model, widths=(1,), depths=det_depths, noise=False))
    noisy, rows = sweep(noisy_step, params, batches_fn(), to_global, key, collect=collect)
    deterministic, _ = sweep(det_step, params, batches_fn(), to_global, key)
    records = table_rows(config, noisy, deterministic, widths, depths, det_depths)
    sampled = _sampling_summary(config, data, noisy, rows) if is_sampling_cell else None
    return records, sampled


def ldt_record(k: int, rounds: int, summary: dict, per_round: int, min_rounds: int) -> dict:
    """One LDT cell from its `ldt_solver.evaluate` summary: allocation ("depth" for one chain,
    "width" for K > 1 chains at the grid's smallest budget `min_rounds`, else "mixed"), K, D (the
    round budget), compute (the budget: K * D * blocks per round), the mean chain forward passes and
    rounds used, the correct / wrong / abstained fractions and the rule-breaking accepted answers
    (-1: no checker for the domain); for Maze also the lenient correct fraction (any shortest
    path, `ldt/lenient_correct`)."""
    record = dict(
        allocation="depth" if k == 1 else ("width" if rounds == min_rounds else "mixed"),
        K=k,
        D=rounds,
        compute=k * rounds * per_round,
        forwards=float(summary["ldt/forwards_mean"]),
        rounds=float(summary["ldt/rounds_mean"]),
        correct=float(summary["ldt/correct"]),
        wrong=float(summary["ldt/wrong"]),
        abstained=float(summary["ldt/abstained"]),
        rule_violations=float(summary["ldt/rule_violations"]),
    )
    if "ldt/lenient_correct" in summary:
        record["lenient_correct"] = float(summary["ldt/lenient_correct"])
    return record


def run_ldt_grid(config, params, batches_fn: Callable) -> tuple[list[dict], dict | None]:
    """LDT's grid: one solver run per (K chains, R rounds) of `grid_axes` on the same test rows
    and seed (`ldt.solver_seed`); one compiled solver per K, shared by every R.

    Returns (records, evaluated): `evaluated` is the `ldt_solver.evaluate` summary of the cell
    (ldt.chains, ldt.rounds) when the grid has it (the usual evaluation, not run twice), else
    None. Records are ordered by K, then R.
    """
    from rrm_jax.eval import ldt_solver

    widths, depths = grid_axes(config)
    per_round = blocks_per_segment(config)
    records, evaluated = [], None
    for k in widths:
        for r in depths:
            cell = config.copy_and_resolve_references()
            cell.ldt.chains, cell.ldt.rounds = k, r
            summary = ldt_solver.evaluate(cell, params, batches_fn())
            records.append(ldt_record(k, r, summary, per_round, depths[0]))
            if (k, r) == (config.ldt.chains, config.ldt.rounds):
                evaluated = summary
    return records, evaluated


def _ldt_markdown(records: list[dict], title: str) -> str:
    pct = lambda v: f"{100 * v:.2f}"
    rules = lambda v: "n/a" if v < 0 else f"{v:.0f}"
    lenient = "lenient_correct" in records[0]  # Maze: any shortest path counts
    lines = [
        f"## {title}" if title else "## Test-time scaling: LDT chains x rounds",
        "",
        "K chains per puzzle, a budget of D rounds; compute is the budget (K * D forward passes "
        "per puzzle, in blocks), forwards the chain forward passes used (mean); correct, wrong "
        "and abstained are fractions of all puzzles.",
        "",
        "| allocation | K | D (rounds) | compute (blocks/puzzle) | forwards used (mean) | "
        "rounds used (mean) | correct | wrong | abstained | rule-breaking accepted |"
        + (" lenient correct |" if lenient else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if lenient else ""),
    ]
    for r in records:
        lines.append(
            f"| {r['allocation']} | {r['K']} | {r['D']} | {r['compute']:,} | "
            f"{r['forwards']:.1f} | {r['rounds']:.1f} | {pct(r['correct'])} | "
            f"{pct(r['wrong'])} | {pct(r['abstained'])} | {rules(r['rule_violations'])} |"
            + (f" {pct(r['lenient_correct'])} |" if lenient else "")
        )
    pairs = matched(records)
    if pairs:
        lines += [
            "",
            "Compute-matched: one chain of K*D rounds against K chains of D rounds (the best "
            "such K > 1 by correct).",
            "",
            "| compute | one chain: D, correct / wrong | K x D | correct | wrong | abstained |",
            "|---:|---|---|---:|---:|---:|",
        ]
        for p in pairs:
            d, w = p["depth"], p["width"]
            lines.append(
                f"| {p['compute']:,} | D={d['D']}, {pct(d['correct'])} / {pct(d['wrong'])} | "
                f"{w['K']} x {w['D']} | {pct(w['correct'])} | {pct(w['wrong'])} | "
                f"{pct(w['abstained'])} |"
            )
    return "\n".join(lines) + "\n"


def _ldt_plot(records: list[dict], path: str, title: str, plt) -> None:
    """Correct, wrong and abstained against compute: one line per K over the round budgets
    (K = 1: one chain, depth only), and the frontier of correct."""
    panels = (("correct", "correct"), ("wrong", "wrong (accepted, not the solution)"))
    panels += (("abstained", "abstained"),)
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.2), sharey=True)
    for ax, (col, name) in zip(axes, panels, strict=True):
        for k in sorted({r["K"] for r in records}):
            line = sorted((r for r in records if r["K"] == k), key=lambda r: r["D"])
            ax.plot(
                [r["compute"] for r in line],
                [100 * r[col] for r in line],
                "k-o" if k == 1 else ".-",
                alpha=1.0 if k == 1 else 0.8,
                label="one chain (depth only)" if k == 1 else f"K={k} chains",
            )
        if col == "correct":
            _plot_frontier(ax, records, col)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("compute budget (blocks per puzzle: K x rounds x loops x layers)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% of puzzles")
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _chunk(config, rollouts: int) -> int:
    """sampling.rollout_chunk when it divides `rollouts`, else all at once."""
    c = config.sampling.rollout_chunk
    return c if c and rollouts % c == 0 else 0


def metric_prefix(config) -> str:
    """ "ptrm" for PTRM's noise on a TRM/HRM, else the model's name ("gram")."""
    return "ptrm" if config.ptrm.sigma > 0 else config.model.name


def sampling_metrics(config, model, params, data, batches: Iterable[dict], to_global) -> dict:
    """The K-rollout evaluation at (sampling.rollouts, sampling.steps), as PTRM reports it:
    "<p>/{best_q,mode,pass,rollout_mean}" exact accuracies (and "<p>/value" for GRAM's LPRM),
    "<p>/selected" (the config's headline rule), and the task's own metrics on each rule's
    selected rows ("ptrm/best_q/maze/lenient", "ptrm/best_q/ARC/trm/pass@2", ...: for ARC, the
    best rollout within each augmented variant, then the usual vote across variants); <p> is
    `metric_prefix`."""
    from rrm_jax.eval import evaluate as eval_lib

    p = config.sampling
    collect = eval_lib.needs_predictions(data)
    step = jax.jit(
        make_grid_step(
            model,
            widths=(p.rollouts,),
            depths=(p.steps or config.act.max_steps,),
            chunk=p.rollout_chunk,
            noise=True,
            keep_rows=collect,
            keep_samples=collect and data.kind in eval_lib.SAMPLED_KINDS,
            act_halt=p.act_halt,
        )
    )
    means, rows = sweep(
        step, params, batches, to_global, jax.random.PRNGKey(p.seed), collect=collect
    )
    return _sampling_summary(config, data, means, rows)


def _sampling_summary(config, data, means: dict, rows: dict | None) -> dict:
    """`sampling_metrics` from the largest cell of a sweep (and its selected rows, if kept)."""
    from rrm_jax.eval import evaluate as eval_lib

    pre = metric_prefix(config)
    out = {f"{pre}/{k}": float(v[-1, -1]) for k, v in means.items() if k != "count"}
    out[f"{pre}/selected"] = out[f"{pre}/{config.sampling.selection}"]
    if rows is not None and "samples" in rows and data.kind == "sudoku_generation":
        from rrm_jax.eval import generation  # every sample of every empty board

        for k, v in generation.metrics(rows["samples"], data.train.labels).items():
            out[f"{pre}/generation/{k}"] = v
    elif rows is not None and "samples" in rows:  # all K answers: the CSPs' accuracy, coverage
        from rrm_jax.eval import csp

        for k, v in csp.task_metrics(data.kind, rows["inputs"], rows["samples"]).items():
            out[f"{pre}/csp/{k}"] = v
    if rows is not None:
        for rule in [k.split("/", 1)[1] for k in rows if k.startswith("preds/")]:
            selected = {
                "inputs": rows["inputs"],
                "labels": rows["labels"],
                "puzzle_identifiers": rows["puzzle_identifiers"],
                "preds": rows[f"preds/{rule}"],
                "q_halt": rows[f"q_halt/{rule}"],
            }
            for k, v in eval_lib.task_metrics(data, selected).items():
                out[f"{pre}/{rule}/{k}"] = v
    return out
