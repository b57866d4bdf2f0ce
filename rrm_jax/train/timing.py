"""Timing one training step of a config on random data (no dataset needed).

Used by `benchmarks/step_time.py` (the speed table) and `rrm_jax.tables` (the projected time of
a paper row not run here). The config's data-derived model fields (vocab_size, seq_len,
num_puzzle_identifiers) must be filled (`KNOWN_DATA` holds them for the papers' datasets).
"""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np

from rrm_jax import act, models
from rrm_jax.train import state as state_lib
from rrm_jax.train.step import make_optimizer, make_train_step

# The data-derived fields of the papers' datasets (their dataset.json; the builders' SEQ_LEN /
# VOCAB_SIZE), and the optimizer steps per epoch's worth of groups: `groups` is the official
# sampler's total_groups (one puzzle per group and epoch) and `mean_examples` its
# mean_puzzle_examples (1 where every puzzle is one example), so a run of E epochs at global
# batch B takes E * groups * mean_examples / B steps (`rrm_jax.data.sampler.total_steps`).
KNOWN_DATA = {
    # PAD + digits 0-9; 81 cells; the blank identifier only; the 1k training puzzles.
    ("sudoku_extreme", "1k"): dict(
        vocab_size=11, seq_len=81, num_puzzle_identifiers=1, groups=1000
    ),
    ("sudoku_extreme", "full"): dict(
        vocab_size=11, seq_len=81, num_puzzle_identifiers=1, groups=3_831_994
    ),
    # PAD + "# SGo"; 30x30 grid; 1,000 training mazes.
    ("maze_hard", ""): dict(vocab_size=6, seq_len=900, num_puzzle_identifiers=1, groups=1000),
    # PAD, EOS + 10 colours; 30x30 canvas; one id per augmented ARC-AGI-1 + ConceptARC task.
    # Groups = original tasks of the training split (ARC-AGI-1 training 400 + evaluation 400 +
    # ConceptARC 160; ARC-AGI-2 training 1,000 + evaluation 120 + ConceptARC 160), each with its
    # ~1,000 augmented variants; an augmented puzzle holds all its task's examples. ARC-1: ~4.15
    # examples per puzzle (the official ~519k steps at 100k epochs); ARC-2: 4.3435, the value that
    # gives the official run's final checkpoint, step_723914 (TRM issue #26). Approximate: the
    # exact means come from a full build (`rrm_jax.data.sampler`).
    ("arc_agi", "arc1"): dict(
        vocab_size=12, seq_len=900, num_puzzle_identifiers=876_406, groups=960, mean_examples=4.15
    ),
    ("arc_agi", "arc2"): dict(
        vocab_size=12,
        seq_len=900,
        num_puzzle_identifiers=876_406,
        groups=1280,
        mean_examples=4.3435,
    ),
    # The CSP builders (datasets/n_queens, datasets/graph_coloring): train inputs (groups).
    ("n_queens", "8x8"): dict(vocab_size=3, seq_len=64, num_puzzle_identifiers=1, groups=4376),
    ("n_queens", "10x10"): dict(vocab_size=3, seq_len=100, num_puzzle_identifiers=1, groups=36907),
    ("graph_coloring", "8_nodes"): dict(
        vocab_size=6, seq_len=36, num_puzzle_identifiers=1, groups=7002
    ),
    ("graph_coloring", "10_nodes"): dict(
        vocab_size=6, seq_len=55, num_puzzle_identifiers=1, groups=13465
    ),
    # datasets/snowflake_sudoku: the 15x10 covering grid, PAD + blank + 6 digits; default config.
    ("snowflake_sudoku", ""): dict(
        vocab_size=8, seq_len=150, num_puzzle_identifiers=1, groups=26995
    ),
}


def random_batch(rng: np.random.Generator, m, b: int) -> dict:
    """A random batch of `b` rows for the model block `m` (tokens in 1..vocab-1)."""
    return {
        "inputs": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
        "labels": rng.integers(1, m.vocab_size, (b, m.seq_len)).astype(np.int32),
        "puzzle_identifiers": rng.integers(0, max(m.num_puzzle_identifiers, 1), (b,)).astype(
            np.int32
        ),
    }


def build_step(c):
    """(model, jitted train step with donated state and carry, create(batch) -> TrainState)."""
    model = models.build(c)
    tx, schedules = make_optimizer(c, 100_000)
    step = jax.jit(make_train_step(model, c, tx, schedules), donate_argnums=(0, 1))

    def create(batch):
        return state_lib.create(model, tx, jax.random.PRNGKey(0), batch, ema=c.optim.ema)

    return model, step, create


def compiled_bytes(compiled) -> int | None:
    """argument + output + temp - alias bytes of a compiled executable (None if unknown)."""
    a = compiled.memory_analysis()
    if a is None:
        return None
    return (
        a.argument_size_in_bytes
        + a.output_size_in_bytes
        + a.temp_size_in_bytes
        - a.alias_size_in_bytes
    )


def time_train_step(c, steps: int = 3, warmup: int = 1, limit_bytes: int | None = None) -> dict:
    """Compiles and times the train step of `c` at its global batch size on random batches.

    Returns {"compile_s", "bytes", "fits"} and, when it fits under `limit_bytes` and ran,
    {"times": [s per timed step], "median_s"}; each call is blocked on, the batch copy is not
    timed.
    """
    model, step, create = build_step(c)
    b, m = c.train.global_batch_size, c.model
    rng = np.random.default_rng(0)
    first = random_batch(rng, m, b)
    state = jax.jit(create)(first)
    # jitted: distinct output buffers (an eager carry may share one zeros array between keys,
    # which donation refuses)
    carry = jax.jit(lambda b: act.initial_carry(model, b))(first)
    t0 = time.perf_counter()
    compiled = step.lower(state, carry, first).compile()
    out = {"compile_s": time.perf_counter() - t0, "bytes": compiled_bytes(compiled), "fits": True}
    if limit_bytes and out["bytes"] and out["bytes"] > limit_bytes:
        return {**out, "fits": False}
    times = []
    for i in range(warmup + max(steps, 1)):
        data = jax.block_until_ready(jax.device_put(random_batch(rng, m, b)))
        t0 = time.perf_counter()
        state, carry, metrics = compiled(state, carry, data)
        jax.block_until_ready(metrics)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {**out, "times": times, "median_s": statistics.median(times)}
