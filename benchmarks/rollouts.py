"""Throughput of PTRM's test-time rollouts: K noisy rollouts x D supervision steps per puzzle.

    python benchmarks/rollouts.py                                  # CPU: reference, K=100, D=64
    python benchmarks/rollouts.py --shapes=trm_mlp_sudoku --depth=2 --chunks=0,25
    python benchmarks/rollouts.py --shapes=trm_mlp_sudoku,trm_att_maze --puzzles=64 --chunks=25

Times the jitted program of `rrm_jax.eval.rollouts.make_rollouts` (the one PTRM's evaluation
and the scaling harness run): K rollouts folded into the batch (rows = puzzles x chunk at once),
`--depth` supervision steps each with fresh noise on z, the argmax answer and halt logit kept.
It is compiled ahead of time ("compile s"), called `--warmup` untimed and `--repeats` timed
times (median). Shapes are `benchmarks/_shapes.py`'s (the paper rows with their data fields;
`reference` is TRM-Att width 128 in fp32, `tiny` the demo model).

Columns: "s / segment" is the wall time of one supervision step of all K rollouts of all puzzles;
"GFLOP / segment" the analytic forward count (matmuls, `_shapes.segment_forward_gflop`) over
K x puzzles rows; "K x D s / puzzle" the time per puzzle at `--project_depth` steps (measured
when `--depth` equals it, else scaled linearly from the measured steps, marked "*": every step
is the same program); "temp MiB" the compiled program's temporary memory (what chunking bounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _shapes import segment_forward_gflop, shape_config  # noqa: E402

from rrm_jax import models  # noqa: E402
from rrm_jax.eval.rollouts import make_rollouts  # noqa: E402


def measure(c, *, rollouts, depth, puzzles, chunk, warmup, repeats) -> dict:
    model = models.build(c)
    m = c.model
    params = model.init(jax.random.PRNGKey(0), {})
    rng = np.random.default_rng(0)
    batch = {
        "inputs": jnp.asarray(rng.integers(1, m.vocab_size, (puzzles, m.seq_len)), jnp.int32),
        "puzzle_identifiers": jnp.asarray(
            rng.integers(0, m.num_puzzle_identifiers, (puzzles,)), jnp.int32
        ),
    }
    run = make_rollouts(model, rollouts=rollouts, steps=depth, chunk=chunk)
    key = jax.random.PRNGKey(1)
    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(params, batch, key).compile()
    compile_s = time.perf_counter() - t0
    analysis = compiled.memory_analysis()
    for _ in range(warmup):
        jax.block_until_ready(compiled(params, batch, key))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(params, batch, key))
        times.append(time.perf_counter() - t0)
    return {
        "compile_s": compile_s,
        "wall_s": statistics.median(times),
        "temp": None if analysis is None else analysis.temp_size_in_bytes,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default="reference", help="comma-separated _shapes names")
    p.add_argument("--rollouts", type=int, default=100, help="K")
    p.add_argument("--depth", type=int, default=64, help="D run (supervision steps)")
    p.add_argument("--project_depth", type=int, default=64, help="D of the per-puzzle column")
    p.add_argument("--puzzles", type=int, default=1, help="puzzles per batch")
    p.add_argument("--chunks", default="0", help="rollout chunk sizes to compare (0: all K)")
    p.add_argument("--dtype", default="", help="override the row's compute dtype")
    p.add_argument("--sigma", type=float, default=0.3)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()

    device = jax.devices()[0]
    print(
        f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}; K="
        f"{args.rollouts}, D run={args.depth}, puzzles={args.puzzles}, sigma={args.sigma}"
    )
    print(
        "| shape | dtype | chunk | rows at once | compile s | wall s | s / segment | "
        f"GFLOP / segment | GFLOP/s | K x D={args.project_depth} s / puzzle | temp MiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape in args.shapes.split(","):
        c = shape_config(shape)
        c.ptrm.sigma = args.sigma
        if args.dtype:
            c.model.dtype = args.dtype
        gflop = segment_forward_gflop(c, args.rollouts * args.puzzles)
        for chunk in (int(x) for x in args.chunks.split(",")):
            r = measure(
                c,
                rollouts=args.rollouts,
                depth=args.depth,
                puzzles=args.puzzles,
                chunk=chunk,
                warmup=args.warmup,
                repeats=args.repeats,
            )
            per_segment = r["wall_s"] / args.depth
            per_puzzle = per_segment * args.project_depth / args.puzzles
            mark = "" if args.depth == args.project_depth else "*"
            temp = "-" if r["temp"] is None else f"{r['temp'] / 2**20:,.0f}"
            rows = (chunk or args.rollouts) * args.puzzles
            print(
                f"| {shape} | {c.model.dtype} | {chunk or args.rollouts} | {rows} | "
                f"{r['compile_s']:.1f} | {r['wall_s']:.2f} | {per_segment:.3f} | {gflop:,.1f} | "
                f"{gflop / per_segment:,.1f} | {per_puzzle:,.2f}{mark} | {temp} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
