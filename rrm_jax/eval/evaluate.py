"""Evaluation: every row runs all supervision segments; metrics, a results table, a depth plot.

Reports the reference's metrics at the last segment (token accuracy, exact accuracy -- the number
the papers report for Sudoku and Maze -- and halting accuracy), plus two things the reference does
not: the exact accuracy after each segment (how accuracy grows with test-time depth) and what
adaptive halting would give (the first segment with q_halt > 0: mean segments used, and the exact
accuracy there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import act, losses
from rrm_jax.train import metrics as metrics_lib


def make_eval_step(model, config) -> Callable:
    """Runs every row through all `act.max_steps` segments: (summed metrics, per-row outputs).

    Besides the reference's metrics at the final segment, it records the exact accuracy after
    each segment (test-time depth curve) and what ACT would give: the first segment whose
    q_halt > 0 ("halt_steps") and whether the answer there is exact ("exact_at_halt").
    Rows with `valid` False (padding) or without labels are not counted. The per-row outputs
    (final argmax "preds" and "q_halt") feed evaluators that vote across rows, such as ARC's.
    """
    k_max = config.act.max_steps

    def eval_step(params: dict, batch: dict) -> dict:
        data = {k: batch[k] for k in ("inputs", "labels", "puzzle_identifiers")}
        carry = act.refill(model, params, act.initial_carry(model, data), data)

        def segment(c, _):
            latent, _ = c
            latent, out = model.apply(params, latent, data, training=False)
            row = losses.correctness(out.logits, data["labels"])
            return (latent, out.logits), (row["exact"], row["token_accuracy"], out.q_halt)

        b, length = data["inputs"].shape
        init_logits = jnp.zeros((b, length, config.model.vocab_size), jnp.dtype(config.model.dtype))
        (_, logits), (exact_KB, token_KB, q_KB) = jax.lax.scan(
            segment, (carry.latent, init_logits), None, length=k_max
        )
        labels = data["labels"]
        counts = (labels != losses.IGNORE_LABEL).sum(-1)
        valid = batch["valid"] & (counts > 0)
        w = valid.astype(jnp.float32)
        row_lm = losses.token_cross_entropy(logits, labels, config.loss.type).sum(-1) / jnp.maximum(
            counts, 1
        )
        wants = q_KB > 0
        halt_idx = jnp.where(wants.any(0), jnp.argmax(wants, axis=0), k_max - 1)
        exact_at_halt = jnp.take_along_axis(exact_KB, halt_idx[None], axis=0)[0]
        sums = {
            "count": w.sum(),
            "accuracy": (token_KB[-1] * w).sum(),
            "exact_accuracy": (exact_KB[-1] * w).sum(),
            "q_halt_accuracy": (((q_KB[-1] >= 0) == exact_KB[-1]) * w).sum(),
            "steps": k_max * w.sum(),
            "exact_by_segment": (exact_KB * w).sum(-1),
            "halt_steps": ((halt_idx + 1) * w).sum(),
            "exact_at_halt": (exact_at_halt * w).sum(),
            "lm_loss": (row_lm * w).sum(),
        }
        rows = {"preds": jnp.argmax(logits, axis=-1).astype(jnp.int32), "q_halt": q_KB[-1]}
        return sums, rows

    return eval_step


def evaluate(
    eval_step: Callable,
    params: dict,
    batches: Iterable[dict],
    to_global: Callable,
    *,
    collect: bool = False,
) -> tuple[dict, dict | None]:
    """Runs `eval_step` over host batches and reduces the sums to means.

    Returns:
      (summary, predictions). The summary has "count", "accuracy", "exact_accuracy",
      "q_halt_accuracy", "steps", "lm_loss", "halt_steps" (mean segments ACT would use),
      "exact_at_halt" and "exact_by_segment" (one entry per segment). With `collect`,
      predictions holds the valid rows' "inputs", "labels", "puzzle_identifiers", "preds"
      (final argmax tokens) and "q_halt" as host arrays (for voting evaluators); else None.
    """
    total, predictions = run_batches(
        lambda batch: eval_step(params, batch), batches, to_global, collect=collect
    )
    summary = metrics_lib.reduce(total, examples=float(total["count"]))
    return summary, predictions


def run_batches(
    step: Callable, batches: Iterable[dict], to_global: Callable, *, collect: bool = False
) -> tuple[dict, dict | None]:
    """Runs `step(global_batch) -> (sums, rows)` over host batches: the summed metrics and,
    with `collect`, the valid rows' "inputs", "labels", "puzzle_identifiers" and `rows` as
    host arrays (else None)."""
    total, kept = None, []
    for batch in batches:
        sums, rows = step(to_global(batch))
        total = metrics_lib.accumulate(total, jax.device_get(sums))
        if collect:
            rows = _to_host(rows)
            valid = np.asarray(batch["valid"], bool)
            kept.append(
                {
                    **{
                        k: np.asarray(batch[k])[valid]
                        for k in ("inputs", "labels", "puzzle_identifiers")
                    },
                    **{k: np.asarray(v)[valid] for k, v in rows.items()},
                }
            )
    if total is None:
        raise ValueError("the evaluation split produced no batches")
    predictions = None
    if collect:
        predictions = {k: np.concatenate([p[k] for p in kept]) for k in kept[0]}
    return total, predictions


def _to_host(rows: dict) -> dict:
    """Global per-row arrays -> this process's rows as numpy (all processes' when several)."""
    if jax.process_count() == 1:
        return jax.device_get(rows)
    from jax.experimental import multihost_utils

    # Every process fed its own slice of the global batch; keep the matching slice.
    full = multihost_utils.process_allgather(rows, tiled=True)
    n = next(iter(full.values())).shape[0] // jax.process_count()
    i = jax.process_index()
    return {k: np.asarray(v)[i * n : (i + 1) * n] for k, v in full.items()}


def results_table(summary: dict, paper=None) -> str:
    """A small text table of the evaluation summary (with the paper's number when known)."""
    rows = [
        ("examples", f"{int(summary['count'])}"),
        ("exact accuracy (all segments)", f"{100 * summary['exact_accuracy']:.2f}%"),
        ("token accuracy", f"{100 * summary['accuracy']:.2f}%"),
        ("halting accuracy", f"{100 * summary['q_halt_accuracy']:.2f}%"),
        ("segments run", f"{summary['steps']:.0f}"),
        ("segments ACT would use (mean)", f"{summary['halt_steps']:.2f}"),
        ("exact accuracy at ACT halt", f"{100 * summary['exact_at_halt']:.2f}%"),
    ]
    sampled = next((k.split("/")[0] for k in summary if k.endswith("/rollout_mean")), None)
    for key in sorted(k for k in summary if "/" in k and k.split("/")[0] != sampled):
        if key.startswith(("maze/", "csp/", "generation/")) or key.endswith(("/pass@1", "/pass@2")):
            rows.append((key, f"{100 * summary[key]:.2f}%"))
        elif key.startswith("ldt/"):  # LDT's solver: rates in %, counts and costs as they are
            rate = key in ("ldt/correct", "ldt/wrong", "ldt/abstained", "ldt/lenient_correct")
            rows.append((key, f"{100 * summary[key]:.2f}%" if rate else f"{summary[key]:.6g}"))
        elif key.startswith("snowflake/"):  # rule-checked accuracy in %, the rest per puzzle
            rate = key == "snowflake/valid"
            rows.append((key, f"{100 * summary[key]:.2f}%" if rate else f"{summary[key]:.4g}"))
    if sampled is not None:  # K rollouts of a stochastic model (eval/scaling.py)
        name = sampled.upper()
        for rule, label in (
            ("best_q", "best-Q@K"),
            ("mode", "mode@K"),
            ("value", "best value@K (LPRM)"),
            ("pass", "pass@K (oracle)"),
            ("rollout_mean", "one sampled rollout"),
        ):
            if f"{sampled}/{rule}" in summary:
                rows.append((f"{name} {label}", f"{100 * summary[f'{sampled}/{rule}']:.2f}%"))
        for key in sorted(k for k in summary if k.count("/") >= 2 and k.startswith(sampled)):
            if key.endswith("/generation/distinct"):
                rows.append((key, f"{summary[key]:.0f}"))
            elif "/maze/" in key or "/csp/" in key or "/generation/" in key:
                rows.append((key, f"{100 * summary[key]:.2f}%"))
            elif key.endswith(("/pass@1", "/pass@2")):
                rows.append((key, f"{100 * summary[key]:.2f}%"))
    if paper is not None and paper.reported >= 0:
        rows.append((f"paper ({paper.metric})", f"{paper.reported:.1f}%"))
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 14)
    body = "\n".join(f"{k:<{width}}  {v:>10}" for k, v in rows)
    return f"{line}\n{body}\n{line}"


def plot_segments(summary: dict, path: str, title: str = "") -> None:
    """Exact accuracy against the number of supervision segments used at test time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = 100 * np.asarray(summary["exact_by_segment"])
    segments = np.arange(1, len(acc) + 1)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(segments, acc, marker="o", label="fixed number of segments")
    ax.axhline(
        100 * summary["exact_at_halt"],
        color="gray",
        linestyle="--",
        label=f"ACT halt (mean {summary['halt_steps']:.1f} segments)",
    )
    ax.set_xlabel("supervision segments at test time")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xticks(segments)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(summary: dict, config, workdir: str) -> None:
    """Prints the results table; writes results.json and (if `eval.plot`) segments.png."""
    print(results_table(summary, config.paper), flush=True)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if config.eval.plot:
        path = os.path.join(workdir, "segments.png")
        plot_segments(summary, path, title=config.paper.row or config.model.name)
        print(f"plot: {path}", flush=True)


CSP_KINDS = ("n_queens", "graph_coloring")
# Tasks scored over all K samples of a puzzle (kept by the K-rollout evaluation).
SAMPLED_KINDS = CSP_KINDS + ("sudoku_generation",)


def needs_predictions(data) -> bool:
    """Whether the dataset's task-specific evaluator needs the per-row predictions."""
    return data.kind in ("maze", "arc", "snowflake", "sudoku_generation") + CSP_KINDS


def task_metrics(data, rows: dict) -> dict:
    """The benchmark's own metrics from collected predictions: Maze's exact and lenient
    (any shortest path) accuracy; ARC's pass@K under the HRM and the TRM scoring rules; the
    CSPs' rule-checked accuracy and coverage ("csp/..."); Snowflake Sudoku's rule-checked
    accuracy and mean violated groups ("snowflake/..."); the validity of unconditionally
    generated Sudoku boards ("generation/valid")."""
    if data.kind == "maze":
        from rrm_jax.eval import maze

        m = maze.summary(rows["preds"], rows["labels"], rows["inputs"])
        return {"maze/exact": m["exact_accuracy"], "maze/lenient": m["lenient_accuracy"]}
    if data.kind in CSP_KINDS:  # multi-solution: scored by the rules, one sample per puzzle
        from rrm_jax.eval import csp

        m = csp.task_metrics(data.kind, rows["inputs"], rows["preds"][:, None])
        return {f"csp/{k}": v for k, v in m.items()}
    if data.kind == "sudoku_generation":
        # Validity only: without a key the rows of every eval batch repeat the same draws, so
        # uniqueness and novelty are measured over the K samples (`eval/scaling.py`).
        from rrm_jax.eval import generation

        return {"generation/valid": generation.metrics(rows["preds"])["valid"]}
    if data.kind == "snowflake":
        from rrm_jax.eval import snowflake

        m = snowflake.metrics(rows["preds"], rows["inputs"])
        return {f"snowflake/{k}": v for k, v in m.items()}
    if data.kind == "arc":
        from rrm_jax.eval import arc

        predictions = {**rows, "q_halt_logits": rows["q_halt"]}
        result = arc.score(predictions, data.identifiers, data.test_puzzles)
        return arc.flat_metrics(result)
    return {}
