"""Train-step speed table of TRM and HRM: ms/step, examples/s, FLOP rate, MFU and memory.

    python benchmarks/step_time.py                     # CPU: tiny, reference, hrm_reference
    python benchmarks/step_time.py --shapes=reference,hrm_reference --rules=native --steps=10
    python benchmarks/step_time.py --shapes=paper --rules=native   # accelerator, batch 768, bf16
    python benchmarks/step_time.py --shapes=trm_mlp_sudoku --batch=2 --dtype=float32 \
        --memory_batch=768 --rules=native --steps=1 --warmup=0    # CPU: time at 2, memory at 768

Shapes (`--shapes`: names, or the aliases `cpu` = the first three, `paper` = the five paper
shapes, `all`; default `cpu` on a CPU, `all` on an accelerator):
  tiny            the TRM `tiny` row (generated 6x6 Sudoku, TRM-MLP width 64, batch 64)
  reference       TRM-Att, hidden 128, 8 heads, batch 32, 81 + 16 tokens, T=3, n=6, fp32: the shape
                  at which one training step of the official PyTorch TRM-Att code was measured on
                  a 2-core CPU at 2.35 s eager and 2.00 s with torch.compile
  hrm_reference   HRM at the same width and batch: two 4-block modules, 81 + 1 tokens, T=n=2,
                  1-step gradient and the Q-learning target's extra forward pass (official HRM
                  eager: 2.09 s in the same measurement)
  trm_mlp_sudoku  experiments/trm.py:sudoku_extreme  TRM-MLP, 81 + 16 tokens, T=3, n=6
  trm_att_maze    experiments/trm.py:maze_hard       TRM-Att, 900 + 16 tokens, T=3, n=4
  trm_att_arc     experiments/trm.py:arc_agi_1       TRM-Att, 900 + 16 tokens, T=3, n=4, 876,406 ids
  hrm_sudoku      experiments/hrm.py:sudoku_extreme  HRM, 81 + 1 tokens, T=n=2
  hrm_arc         experiments/hrm.py:arc_agi_1       HRM, 900 + 1 tokens, T=n=2, 876,406 ids
The paper shapes are the experiment rows (hidden 512, bf16 compute, global batch 768) with the
data-derived fields (vocab, sequence length, puzzle ids) of the official datasets filled in
(`benchmarks/_shapes.py`); no data is read. `--batch` (default: the row's batch on an
accelerator; on a CPU the row's batch for the `cpu` shapes and 8 for the paper shapes), `--dtype`
(default: the row's; float32 is faster on CPUs without bf16 units) and `--attention`
(`model.attention`: default the row's "auto", i.e. cuDNN's fused flash attention on a GPU in bf16
and the explicit kernel elsewhere; "recompute" keeps no [S, S] residual) override the row.
`--batch` may be a list, largest first (768,192):
each batch is compiled, and one whose step needs more than the device's memory
(`memory_stats()['bytes_limit']`, accelerators only) is reported as not fitting and not run, as
is one that fails; the first that runs is timed. `--rules=native` is each shape's own rule (TRM
last_recursion, HRM one_step); `--remat` applies to `full`.

What is timed: the jitted train step with donated state and carry (refill, forward, backward,
AdamATan2, sparse SignSGD, EMA, halting), compiled ahead of time (`lower` + `compile`: the
"compile s" column), then called `--warmup` untimed and `--steps` timed times, each call blocked
on its result; every call gets a fresh random batch already on the device (the copy is not timed).

FLOP count (`step_gflop`, analytic: matmuls only, 2 FLOP per multiply-add,
attention's two [S, S] products included; norms, activations, RoPE, softmax, the losses and the
optimizers are not counted), B batch, S tokens incl. the puzzle prefix, D hidden, I SwiGLU width,
V vocab, L and H the layers of the latent and answer nets (TRM: L = H = its one net):
  attention layer application   2*B*S*(4*D^2 + 3*D*I)  [qkv, o, SwiGLU]  + 4*B*S^2*D  [QK^T, PV]
  TRM-MLP layer application     2*B*S*(3*D*I) + 2*B*D*(3*S*I_t)   (token mixer over S, width I_t)
  heads                         2*B*S*D*V for the LM head (over all S positions), x3 with its
                                backward; the 2-wide Q head is ignored
  per step = (forward + 2 * differentiated) * per-layer + 3 * 2*B*S*D*V
forward: the T*(n*L + H) layer applications of one supervision segment, doubled for HRM's
Q-learning (`q_halt_vs_continue`), whose continue target runs one more gradient-free forward
pass (its unused LM head is dead code and not counted). differentiated: the applications the
backward pass runs through, each costing two more forwards (input and weight gradients):
(n*L + H) under `last_recursion`, all T*(n*L + H) under `full`, the last latent and answer calls
(L + H) under `one_step`. Rematerialised recomputation (`--remat`) is not counted.

Columns: throughput is GFLOP/step / median time (TFLOP/s on accelerators, GFLOP/s on CPUs).
MFU % = that throughput / the device peak: `--peak_tflops`, else a datasheet table keyed by
`jax.devices()[0].device_kind` (dense bf16 tensor-core peak for bf16 compute, the fp32 peak for
float32: NVIDIA H100 SXM and H200 989 / 67 TFLOP/s, H100 PCIe 756 / 51, B200 2250 bf16, TPU v4
275, v5e 197, v5p 459, v6e 918 bf16), else on a CPU the peak MEASURED at start-up (median of 5
jitted fp32 2048x2048 matmuls, printed in the header; used for either dtype). Unknown
accelerators print n/a. On NVIDIA GPUs XLA may run float32 matmuls on TF32 tensor cores, so MFU
against the fp32 peak can exceed 100%.
Memory: "mem GiB" is the compiled step's `memory_analysis()` at the timed batch, argument +
output + temp - alias bytes: the state, carry and batch passed in, the state, carry and metrics
returned, XLA's scratch buffers, minus the donated inputs whose buffers the outputs reuse (so the
state is counted once); generated code and host-side buffers are left out. It is XLA's buffer
assignment for the backend at hand (a CPU's differs from a GPU's). "mem@B GiB" is the
same at `--memory_batch` B (default: the row's own batch; 0 skips it), compiled only, never run,
so the paper batch's footprint is reported where it cannot be timed. "device peak GiB" (GPUs):
`memory_stats()['peak_bytes_in_use']` of device 0, the process's peak over all rows so far.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._shapes import (  # noqa: E402
    CPU_BATCH,
    CPU_SHAPES,
    measure_matmul_tflops,
    shape_config,
    shape_names,
    step_gflop,
    table_peak_tflops,
)
from rrm_jax import act  # noqa: E402
from rrm_jax.train import timing  # noqa: E402

__all__ = ["shape_config", "step_gflop", "measure"]


_random_batch = timing.random_batch
_build = timing.build_step
compiled_bytes = timing.compiled_bytes


def compile_only_bytes(c, batch_size: int) -> int | None:
    """The step's memory at `batch_size` from abstract inputs: lowered and compiled, not run."""
    c = c.copy_and_resolve_references()
    c.train.global_batch_size = batch_size
    model, step, create = _build(c)
    batch = jax.eval_shape(lambda: _random_batch(np.random.default_rng(0), c.model, batch_size))
    state = jax.eval_shape(create, batch)
    carry = jax.eval_shape(lambda b: act.initial_carry(model, b), batch)
    return compiled_bytes(step.lower(state, carry, batch).compile())


def _memory_stat(key: str) -> int | None:
    d = jax.devices()[0]
    if d.platform == "cpu":
        return None
    try:
        return (d.memory_stats() or {}).get(key)
    except Exception:  # backends without allocator statistics
        return None


def measure(c, steps: int, warmup: int, limit_bytes: int | None = None) -> dict:
    """Times the train step of config `c` at its global batch size; see the module docstring.

    If the compiled step needs more than `limit_bytes`, it is not run: "fits" is False and only
    the compile time and memory are returned.
    """
    r = timing.time_train_step(c, steps, warmup, limit_bytes)
    if not r["fits"]:
        return r
    b = c.train.global_batch_size
    times = r.pop("times")
    r.pop("median_s")
    ms = 1e3 * statistics.median(times)
    gflop = step_gflop(c)
    return {
        **r,
        "ms": ms,
        "min": 1e3 * min(times),
        "max": 1e3 * max(times),
        "examples_s": b / (ms / 1e3),
        "gflop": gflop,
        "gflops": gflop / (ms / 1e3),
        "device_peak": _memory_stat("peak_bytes_in_use"),
    }


def _gib(n) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f}"


def _ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _configure(shape: str, rule: str, remat: bool, batch: int, args):
    c = shape_config(shape)
    c.recursion.update(
        dict(
            gradient=c.recursion.gradient if rule == "native" else rule,
            remat=remat,
            remat_policy=args.remat_policy,
        )
    )
    c.train.global_batch_size = batch
    if args.dtype:
        c.model.dtype = args.dtype
    if args.attention:
        c.model.attention = args.attention
    c.train.microbatches = args.microbatches
    return c


def _error(e: Exception) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:200]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shapes", default="", help="names or cpu, paper, all (default: see above)")
    p.add_argument("--rules", default="native,full")
    p.add_argument("--remat", default="off", help="off, on or both (for `full`)")
    p.add_argument(
        "--remat_policy",
        default="nothing",
        choices=["nothing", "dots"],
        help="what a rematerialised update keeps (recursion.remat_policy)",
    )
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--batch",
        default="",
        help="timed batch (empty: see above); a list such as 768,192 times the\n"
        "first whose step fits in device memory (or runs without error)",
    )
    p.add_argument(
        "--memory_batch",
        type=int,
        default=-1,
        help="compile-only memory at this batch (-1: the row's batch, 0: skip)",
    )
    p.add_argument("--dtype", default="", choices=["", "float32", "bfloat16"])
    p.add_argument(
        "--attention",
        default="",
        choices=["", "auto", "explicit", "recompute", "xla", "cudnn"],
        help="model.attention (default: the row's, auto)",
    )
    p.add_argument(
        "--microbatches",
        type=int,
        default=1,
        help="train.microbatches: gradient accumulation over N slices (memory / N)",
    )
    p.add_argument("--peak_tflops", type=float, default=0.0, help="device peak (0: see above)")
    args = p.parse_args()

    dev = jax.devices()[0]
    on_cpu = dev.platform == "cpu"
    shapes = shape_names(args.shapes or ("cpu" if on_cpu else "all"))
    limit = _memory_stat("bytes_limit")
    print(
        f"jax {jax.__version__}, {jax.device_count()} x {dev.device_kind} ({dev.platform})"
        + (f", device memory limit {_gib(limit)} GiB" if limit else "")
    )
    if args.peak_tflops:
        peak = lambda dtype: args.peak_tflops
        print(f"peak: {args.peak_tflops:g} TFLOP/s (--peak_tflops)")
    elif on_cpu:
        measured = measure_matmul_tflops()
        peak = lambda dtype: measured
        print(
            f"peak: {measured * 1e3:.1f} GFLOP/s MEASURED (median of 5 jitted fp32 2048x2048 "
            f"matmuls), the CPU peak for MFU at either dtype"
        )
    else:
        peak = lambda dtype: table_peak_tflops(dev.device_kind, dtype)
        print(
            f"peak: datasheet dense TFLOP/s for {dev.device_kind}: bf16 "
            f"{peak('bfloat16')}, fp32 {peak('float32')}"
        )
    unit, scale = ("GFLOP/s", 1.0) if on_cpu else ("TFLOP/s", 1e-3)
    print(
        f"| shape | rule | remat | batch | dtype | ms/step median [min, max] | examples/s "
        f"| GFLOP/step | {unit} | MFU % | mem GiB | mem@B GiB | device peak GiB | compile s |"
    )
    print("|" + "---|" * 14, flush=True)
    remats = {"off": [False], "on": [True], "both": [False, True]}[args.remat]
    for shape in shapes:
        for rule in args.rules.split(","):
            for remat in remats if rule == "full" else [False]:
                row = shape_config(shape).train.global_batch_size
                default = CPU_BATCH if on_cpu and shape not in CPU_SHAPES else row
                batches = [int(b) for b in args.batch.split(",")] if args.batch else [default]
                mem_batch = row if args.memory_batch < 0 else args.memory_batch
                known = {}  # batch -> compiled bytes
                for batch in batches:
                    c = _configure(shape, rule, remat, batch, args)
                    cells = (
                        f"| {shape} | {c.recursion.gradient} | {'on' if remat else 'off'} "
                        f"| {batch} | {c.model.dtype} |"
                    )
                    try:
                        r = measure(c, args.steps, args.warmup, limit)
                    except Exception as e:  # e.g. out of memory: report it, try the next batch
                        print(f"{cells} failed: {_error(e)} |", flush=True)
                        continue
                    known[batch] = r["bytes"]
                    if not r["fits"]:
                        print(
                            f"{cells} does not fit: {_gib(r['bytes'])} > {_gib(limit)} GiB, "
                            f"not run | - | - | - | - | {_gib(r['bytes'])} | - | - | "
                            f"{r['compile_s']:.1f} |",
                            flush=True,
                        )
                        continue
                    if not mem_batch:
                        mem_b = "-"
                    else:
                        if mem_batch not in known:
                            try:
                                known[mem_batch] = compile_only_bytes(c, mem_batch)
                            except Exception as e:
                                print(f"memory at batch {mem_batch}: {_error(e)}", flush=True)
                                known[mem_batch] = None
                        mem_b = f"{_gib(known[mem_batch])} @{mem_batch}"
                    top = peak(c.model.dtype)
                    mfu = "n/a" if not top else f"{100 * r['gflops'] / (top * 1e3):.1f}"
                    print(
                        f"{cells} {_ms(r['ms'])} [{_ms(r['min'])}, {_ms(r['max'])}] | "
                        f"{r['examples_s']:.1f} | {r['gflop']:.1f} | {r['gflops'] * scale:.1f} "
                        f"| {mfu} | {_gib(r['bytes'])} | {mem_b} | {_gib(r['device_peak'])} | "
                        f"{r['compile_s']:.1f} |",
                        flush=True,
                    )
                    break


if __name__ == "__main__":
    main()
