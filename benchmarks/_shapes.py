"""Shapes, analytic FLOP count and device peaks for `benchmarks/step_time.py`.

`shape_config(name)` and `step_gflop(config)` are re-exported by `step_time.py` (other benchmarks
import them from there). The paper shapes are the experiment rows of `experiments/trm.py` and
`experiments/hrm.py` with the data-derived model fields (0 in the rows until the data is read,
see `rrm_jax.train.loop.resolve`) filled from the official datasets' metadata: no data is read.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from rrm_jax.config import base_config
from rrm_jax.layers import swiglu_width
from rrm_jax.models.embed import prefix_length
from rrm_jax.train.timing import KNOWN_DATA

# The data-derived model fields of the official datasets (`rrm_jax.train.timing.KNOWN_DATA`).
DATA = {
    name: {k: v for k, v in KNOWN_DATA[key].items() if k not in ("groups", "mean_examples")}
    for name, key in (
        ("sudoku_extreme", ("sudoku_extreme", "1k")),
        ("maze_hard", ("maze_hard", "")),
        ("arc_agi_1", ("arc_agi", "arc1")),
    )
}

# name -> (experiment file, row, dataset): the papers' full-size configs.
PAPER = {
    "trm_mlp_sudoku": ("trm", "sudoku_extreme", "sudoku_extreme"),
    "trm_att_maze": ("trm", "maze_hard", "maze_hard"),
    "trm_att_arc": ("trm", "arc_agi_1", "arc_agi_1"),
    "hrm_sudoku": ("hrm", "sudoku_extreme", "sudoku_extreme"),
    "hrm_arc": ("hrm", "arc_agi_1", "arc_agi_1"),
}
CPU_SHAPES = ("tiny", "reference", "hrm_reference")
GROUPS = {"cpu": CPU_SHAPES, "paper": tuple(PAPER), "all": CPU_SHAPES + tuple(PAPER)}
# Timing batch of the paper shapes on a CPU (their global batch, 768, is for accelerators).
CPU_BATCH = 8


def shape_names(spec: str) -> list[str]:
    """`--shapes`: names and the aliases cpu, paper, all, comma-separated."""
    names = []
    for part in spec.split(","):
        names.extend(GROUPS.get(part, (part,)))
    return names


def shape_config(name: str):
    if name in PAPER:
        module, row, dataset = PAPER[name]
        if module == "trm":
            from experiments.trm import get_config
        else:
            from experiments.hrm import get_config
        c = get_config(row)
        c.model.update(DATA[dataset])
        return c
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
        c.eval.update(dict(use_ema=False))
        return c
    if name == "reference":
        c = base_config()
        c.model.update(
            dict(
                vocab_size=11,
                seq_len=81,
                num_puzzle_identifiers=1000,
                hidden_size=128,
                num_heads=8,
                puzzle_emb_ndim=128,
                dtype="float32",
            )
        )
        c.recursion.update(dict(cycles=3, latent_steps=6))
        c.train.global_batch_size = 32
        return c
    raise ValueError(f"unknown shape {name!r}; expected one of {GROUPS['all']} or {list(GROUPS)}")


def _layer_and_head_flop(c, b: int) -> tuple[float, float]:
    """FLOP of one layer application and of the LM head's forward, at batch b."""
    m = c.model
    d, v = m.hidden_size, m.vocab_size
    s = m.seq_len + prefix_length(m.puzzle_emb_ndim, d, m.puzzle_emb_len)
    inter = swiglu_width(d, m.expansion)
    if m.mixer == "mlp":
        layer = 2 * b * s * 3 * d * inter + 2 * b * d * 3 * s * swiglu_width(s, m.expansion)
    else:
        layer = 2 * b * s * (4 * d * d + 3 * d * inter) + 4 * b * s * s * d
    return layer, 2 * b * s * d * v


def segment_forward_gflop(c, rows: int) -> float:
    """Analytic GFLOP of one supervision segment's forward pass over `rows` rows (test time:
    the T*(n*L + H) layer applications and the LM head; no Q-learning extra pass)."""
    m, r = c.model, c.recursion
    n_l = m.num_layers
    n_h = (m.h_layers or m.num_layers) if (m.name == "hrm" or m.separate_nets) else m.num_layers
    layer, head = _layer_and_head_flop(c, rows)
    return (r.cycles * (r.latent_steps * n_l + n_h) * layer + head) / 1e9


def step_gflop(c) -> float:
    """Analytic GFLOP of one train step (matmuls only, 2 FLOP per multiply-add; see step_time)."""
    m, r = c.model, c.recursion
    n_l = m.num_layers
    n_h = (m.h_layers or m.num_layers) if (m.name == "hrm" or m.separate_nets) else m.num_layers
    layer, head = _layer_and_head_flop(c, c.train.global_batch_size)
    forward = r.cycles * (r.latent_steps * n_l + n_h)
    if c.act.halt_rule == "q_halt_vs_continue":
        forward *= 2  # the Q target's extra forward pass
    grad = {
        "full": r.cycles * (r.latent_steps * n_l + n_h),
        "last_recursion": r.latent_steps * n_l + n_h,
        "one_step": n_l + n_h,
    }[r.gradient]
    return ((forward + 2 * grad) * layer + 3 * head) / 1e9


# Dense peak TFLOP/s per chip: (substrings of jax's device_kind, bf16, fp32); None: no entry.
# NVIDIA: SXM datasheets, tensor-core bf16 without sparsity, fp32 on the non-tensor units.
PEAKS = (
    (("h200", "h100 80gb hbm3", "h100 sxm"), 989.0, 67.0),
    (("h100 pcie",), 756.0, 51.0),
    (("b200",), 2250.0, None),
    (("tpu v4",), 275.0, None),
    (("tpu v5 lite", "tpu v5e"), 197.0, None),
    (("tpu v5p", "tpu v5"), 459.0, None),
    (("tpu v6 lite", "tpu v6e"), 918.0, None),
)


def table_peak_tflops(device_kind: str, dtype: str) -> float | None:
    kind = device_kind.lower()
    for patterns, bf16, fp32 in PEAKS:
        if any(p in kind for p in patterns):
            return bf16 if dtype == "bfloat16" else fp32
    return None


def measure_matmul_tflops(n: int = 2048, repeats: int = 5) -> float:
    """Median TFLOP/s of a jitted fp32 n x n matmul (2 n^3 FLOP), after one warm-up call."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    matmul = jax.jit(lambda x, y: x @ y)
    jax.block_until_ready(matmul(a, a))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(matmul(a, a))
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e12
