"""Train-step time of TRM: median ms/step, examples/s and achieved GFLOP/s.

    python benchmarks/step_time.py                     # every shape, its own rule and full BPTT
    python benchmarks/step_time.py --shapes=reference,hrm_reference --rules=native --steps=10

Shapes:
  tiny           the TRM `tiny` row (generated 6x6 Sudoku, TRM-MLP width 64, batch 64)
  reference      TRM-Att, hidden 128, 8 heads, batch 32, 81 + 16 tokens, T=3, n=6, fp32: the shape
                 at which one training step of the official PyTorch TRM-Att code was measured on
                 a 2-core CPU at 2.35 s eager and 2.00 s with torch.compile
  hrm_reference  HRM at the same width and batch: two 4-block modules, 81 + 1 tokens, T=n=2,
                 1-step gradient and the Q-learning target's extra forward pass (official HRM
                 eager: 2.09 s in the same measurement)
`--rules=native` is each shape's own rule (TRM last_recursion, HRM one_step).

What is timed: one call of the jitted, donated train step (refill, forward, backward, AdamATan2,
sparse SignSGD, EMA, halting), blocked on its result, after warm-up; a fresh random batch each step.

FLOP count (analytic, matmuls only, 2 FLOP per multiply-add; norms, activations, RoPE and the
losses are ignored), B batch, S tokens incl. the puzzle prefix, D hidden, I SwiGLU width, V vocab:
  attention layer application   2*B*S*(4*D^2 + 3*D*I) + 4*B*S^2*D
  TRM-MLP layer application     2*B*S*(3*D*I) + 2*B*D*(3*S*I_t)   (token mixer over S, width I_t)
  per step = (forward layer applications + 2 * differentiated ones) * per-layer + 3 * 2*B*S*D*V
with T*(n*L + H) forward layer applications (L, H the layers of the latent and answer nets;
TRM: L = H = its one net), doubled when HRM's Q-learning runs its extra forward pass; the
differentiated ones are (n*L + H) under `last_recursion`, all of them under `full`, and the last
latent and answer calls (L + H) under `one_step` (rematerialised recomputation is not counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rrm_jax import act, models  # noqa: E402
from rrm_jax.config import base_config  # noqa: E402
from rrm_jax.layers import swiglu_width  # noqa: E402
from rrm_jax.models.embed import prefix_length  # noqa: E402
from rrm_jax.train import state as state_lib  # noqa: E402
from rrm_jax.train.step import make_optimizer, make_train_step  # noqa: E402


def shape_config(name: str):
    if name == "tiny":
        from experiments.trm import get_config

        c = get_config("tiny")
        c.model.update(dict(vocab_size=8, seq_len=36, num_puzzle_identifiers=1))
        return c
    if name == "hrm_reference":
        c = shape_config("reference")
        c.model.update(dict(name="hrm", num_layers=4, h_layers=4, puzzle_emb_len=0))
        c.recursion.update(dict(cycles=2, latent_steps=2, gradient="one_step"))
        c.act.update(dict(halt_rule="q_halt_vs_continue"))
        c.optim.update(dict(ema=False))
        return c
    if name == "reference":
        c = base_config()
        c.model.update(dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1000,
                            hidden_size=128, num_heads=8, puzzle_emb_ndim=128, dtype="float32"))
        c.recursion.update(dict(cycles=3, latent_steps=6))
        c.train.global_batch_size = 32
        return c
    raise ValueError(f"unknown shape {name!r}")


def step_gflop(c) -> float:
    m, r = c.model, c.recursion
    b, d, v = c.train.global_batch_size, m.hidden_size, m.vocab_size
    s = m.seq_len + prefix_length(m.puzzle_emb_ndim, d, m.puzzle_emb_len)
    n_l = m.num_layers
    n_h = (m.h_layers or m.num_layers) if (m.name == "hrm" or m.separate_nets) else m.num_layers
    inter = swiglu_width(d, m.expansion)
    if m.mixer == "mlp":
        layer = 2 * b * s * 3 * d * inter + 2 * b * d * 3 * s * swiglu_width(s, m.expansion)
    else:
        layer = 2 * b * s * (4 * d * d + 3 * d * inter) + 4 * b * s * s * d
    forward = r.cycles * (r.latent_steps * n_l + n_h)
    if c.act.halt_rule == "q_halt_vs_continue":
        forward *= 2  # the Q target's extra forward pass
    grad = {"full": r.cycles * (r.latent_steps * n_l + n_h),
            "last_recursion": r.latent_steps * n_l + n_h, "one_step": n_l + n_h}[r.gradient]
    return ((forward + 2 * grad) * layer + 3 * 2 * b * s * d * v) / 1e9


def measure(c, steps: int, warmup: int) -> dict:
    model = models.build(c)
    tx, schedules = make_optimizer(c, 100_000)
    b, m = c.train.global_batch_size, c.model
    rng = np.random.default_rng(0)

    def batch():
        return {
            "inputs": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
            "labels": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
            "puzzle_identifiers": rng.integers(0, m.num_puzzle_identifiers, (b,)).astype(np.int32),
        }

    first = batch()
    state = state_lib.create(model, tx, jax.random.PRNGKey(0), first, ema=c.optim.ema)
    carry = act.initial_carry(model, first)
    step = jax.jit(make_train_step(model, c, tx, schedules), donate_argnums=(0, 1))
    t0 = time.perf_counter()
    state, carry, metrics = step(state, carry, first)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    times = []
    for i in range(warmup + steps):
        data = batch()
        t0 = time.perf_counter()
        state, carry, metrics = step(state, carry, data)
        jax.block_until_ready(metrics)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    gflop = step_gflop(c)
    return {"ms": ms, "min": 1e3 * min(times), "max": 1e3 * max(times),
            "examples_s": b / (ms / 1e3), "gflop": gflop, "gflops": gflop / (ms / 1e3),
            "compile_s": compile_s}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shapes", default="tiny,reference,hrm_reference")
    p.add_argument("--rules", default="native,full")
    p.add_argument("--remat", default="off", help="off, on or both (for `full`)")
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}")
    header = ("| shape | rule | remat | ms/step median [min, max] | examples/s | GFLOP/step "
              "| GFLOP/s | compile s |")
    print(header)
    print("|" + "---|" * 8)
    for shape in args.shapes.split(","):
        for rule in args.rules.split(","):
            remats = {"off": [False], "on": [True], "both": [False, True]}[args.remat]
            for remat in remats if rule == "full" else [False]:
                c = shape_config(shape)
                rule = c.recursion.gradient if rule == "native" else rule
                c.recursion.update(dict(gradient=rule, remat=remat))
                r = measure(c, args.steps, args.warmup)
                print(f"| {shape} | {rule} | {'on' if remat else 'off'} | {r['ms']:.0f} "
                      f"[{r['min']:.0f}, {r['max']:.0f}] | {r['examples_s']:.1f} | "
                      f"{r['gflop']:.1f} | {r['gflops']:.1f} | {r['compile_s']:.1f} |",
                      flush=True)


if __name__ == "__main__":
    main()
