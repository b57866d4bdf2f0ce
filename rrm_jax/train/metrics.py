"""Metric reduction, writers (TensorBoard event files + JSON lines) and the progress bar."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

LOSS_KEYS = (
    "loss",
    "lm_loss",
    "q_halt_loss",
    "q_continue_loss",
    "kl_loss",
    "halt_loss",
    "value_loss",
)
NOT_SUMMED = ("lr",)


def accumulate(total: dict | None, sums: dict) -> dict:
    """Adds a step's metric sums to a running total (host numpy)."""
    sums = {k: np.asarray(v, np.float64) for k, v in sums.items()}
    if total is None:
        return sums
    out = {k: total[k] + v for k, v in sums.items() if k not in NOT_SUMMED}
    out.update({k: sums[k] for k in NOT_SUMMED if k in sums})
    return out


def reduce(total: dict, examples: float) -> dict[str, float]:
    """Sums -> means as the reference logs them: losses per example, the rest per counted row.

    `examples` is the number of rows the losses were summed over (global batch x steps).
    """
    count = max(float(total.get("count", 0.0)), 1.0)
    out = {}
    for k, v in total.items():
        v = np.asarray(v)
        if k in NOT_SUMMED:
            out[k] = float(v)
        elif k == "count":
            out[k] = float(v)
        elif k in LOSS_KEYS:
            out[k] = float(v) / max(examples, 1.0)
        elif v.ndim == 0:
            out[k] = float(v) / count
        else:
            out[k] = (v / count).tolist()
    return out


def check_finite(sums: dict, step: int) -> None:
    """Stops the run on a NaN/Inf loss, naming the optimizer step that produced it."""
    for k in LOSS_KEYS:
        if k in sums and not math.isfinite(float(sums[k])):
            raise FloatingPointError(
                f"non-finite {k} ({float(sums[k])}) at step {step}; stopping without saving it"
            )


class Writer:
    """Scalars to TensorBoard event files under <workdir>/tb and to <workdir>/metrics.jsonl.

    On resume from step `resume_step`, JSON lines of later steps (written by the interrupted run
    after its last checkpoint, and about to be recomputed) are dropped first.
    """

    def __init__(self, workdir: str, enabled: bool = True, resume_step: int = 0):
        self.enabled = enabled
        self._tb = None
        self._jsonl = None
        if enabled:
            from tensorboardX import SummaryWriter

            path = os.path.join(workdir, "metrics.jsonl")
            if resume_step and os.path.exists(path):
                with open(path) as f:
                    keep = [line for line in f if json.loads(line)["step"] <= resume_step]
                with open(path, "w") as f:
                    f.writelines(keep)
            self._tb = SummaryWriter(os.path.join(workdir, "tb"))
            self._jsonl = open(path, "a")

    def write(self, step: int, prefix: str, metrics: dict) -> None:
        if not self.enabled:
            return
        for k, v in metrics.items():
            if isinstance(v, (int, float)):
                self._tb.add_scalar(f"{prefix}/{k}", v, step)
        self._jsonl.write(json.dumps({"step": step, "split": prefix, **metrics}) + "\n")
        self._jsonl.flush()
        self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            self._tb.close()
            self._jsonl.close()


class Progress:
    """A tqdm bar with loss, exact accuracy, steps/s and ETA; silent when disabled."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                file=sys.stdout,
                smoothing=0.1,
            )

    def update(self, step: int, metrics: dict | None = None) -> None:
        if self.bar is None:
            return
        self.bar.update(step - self.bar.n)
        if metrics:
            self.bar.set_postfix(
                loss=f"{metrics.get('loss', float('nan')):.4f}",
                exact=f"{metrics.get('exact_accuracy', 0.0):.3f}",
                refresh=False,
            )

    def write(self, text: str) -> None:
        if self.bar is None:
            print(text, flush=True)
        else:
            self.bar.write(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
