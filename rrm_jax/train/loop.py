"""The trainer: `run(config, workdir)`, in plain sections.

config check -> data -> mesh and shardings -> model, optimizer, state (jit init with out
shardings) -> restore from workdir if a checkpoint exists -> jit(train_step, donated state and
carry) -> loop (progress, logging, NaN check, periodic eval with the EMA, checkpoints) -> final
evaluation, results table and depth plot.
"""

from __future__ import annotations

import json
import os
import time

import jax
import ml_collections
import numpy as np

from rrm_jax import act, models, parallel
from rrm_jax import data as data_lib
from rrm_jax.config import ConfigError, validate
from rrm_jax.data.pipeline import train_iterator
from rrm_jax.data.sampler import TrainSampler, eval_batches
from rrm_jax.data.sampler import total_steps as official_total_steps
from rrm_jax.eval import evaluate as eval_lib
from rrm_jax.eval import scaling as scaling_lib
from rrm_jax.train import checkpoint as ckpt_lib
from rrm_jax.train import metrics as metrics_lib
from rrm_jax.train import state as state_lib
from rrm_jax.train.step import make_optimizer, make_train_step


def resolve(config: ml_collections.ConfigDict, meta) -> ml_collections.ConfigDict:
    """Fills the data-derived model fields; rejects a config that contradicts the data."""
    config = ml_collections.ConfigDict(config.to_dict())  # an unlocked copy
    m = config.model
    for field, value in (
        ("vocab_size", meta.vocab_size),
        ("seq_len", meta.seq_len),
        ("num_puzzle_identifiers", meta.num_puzzle_identifiers),
    ):
        if m[field] == 0:
            m[field] = int(value)
        elif m[field] != value and not (field == "num_puzzle_identifiers" and m[field] > value):
            raise ConfigError(f"model.{field}={m[field]} but the data has {value}")
    return config


def table_layout(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, str]:
    """Decides how the puzzle table is placed (`parallel.table_mode`) and pads its rows to
    `mesh.puzzle_emb_row_multiple` when it is split by rows (the extra rows are never read).

    Depends on the config only, so a run's table shape is the same on every mesh.
    """
    m = config.model
    mode = parallel.table_mode(config.mesh, m.num_puzzle_identifiers, m.puzzle_emb_ndim)
    if mode == "rows":
        config = ml_collections.ConfigDict(config.to_dict())
        config.model.num_puzzle_identifiers = parallel.padded_rows(
            m.num_puzzle_identifiers, config.mesh.puzzle_emb_row_multiple
        )
    return config, mode


def schedule_lengths(config, meta) -> tuple[int, int, int]:
    """(total_steps, eval_every, checkpoint_every) in optimizer steps."""
    t = config.train
    total = t.steps or official_total_steps(meta, t.epochs, t.global_batch_size)
    if total < 1:
        raise ConfigError(f"train.epochs={t.epochs} gives no full batch of {t.global_batch_size}")
    if t.eval_every:
        every = t.eval_every
    else:
        every = max(1, round(total * t.eval_interval_epochs / max(t.epochs, 1)))
    return total, min(every, total), t.checkpoint_every or min(every, total)


# Blocks a resumed run must share with the run that wrote the checkpoint; the others (steps,
# evaluation, logging, learning rates) may change on resume, and a change is reported.
FIXED_ON_RESUME = ("data", "model", "recursion", "act", "loss", "gram")
# Fields of those blocks that only choose how the same math is computed (kernels, batch slicing,
# rematerialisation), so a run may resume under another setting.
FREE_ON_RESUME = (
    "model.attention",
    "model.batch_chunks",
    "model.attention_chunks",
    "recursion.remat",
    "recursion.remat_policy",
    "gram.temperature",
)


def check_resume_config(config, workdir: str) -> list[str]:
    """Compares `config` with the workdir's config.json; returns the changed (allowed) fields.

    Raises ConfigError if a field of FIXED_ON_RESUME differs.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        saved = json.load(f)
    current = json.loads(config.to_json_best_effort())
    changed = []
    for block, fields in current.items():
        for key, value in fields.items() if isinstance(fields, dict) else ():
            old = saved.get(block, {}).get(key, value)
            if old != value:
                changed.append(f"{block}.{key}: {old!r} -> {value!r}")
                if block in FIXED_ON_RESUME and f"{block}.{key}" not in FREE_ON_RESUME:
                    raise ConfigError(
                        f"{workdir} holds a run with {block}.{key}={old!r}; this config has "
                        f"{value!r}. Use a new --workdir (or the saved config) to resume."
                    )
    return changed


def init_data(config):
    """Builds the data named by the config and fills the data-derived model fields."""
    data = data_lib.build(config.data)
    if config.model.name == "sotaku":  # the reference's train cut and stratified test subset
        from rrm_jax.data import sotaku as sotaku_data

        data = sotaku_data.select(data, config)
    config = resolve(config, data.metadata)
    return data, config


def run(config: ml_collections.ConfigDict, workdir: str, *, stop_at: int | None = None) -> dict:
    """Trains and evaluates; resumes from the newest checkpoint in `workdir` if there is one.

    Args:
      config: an experiment config (see `rrm_jax.config.base_config`).
      workdir: where checkpoints, metrics, TensorBoard events and plots go.
      stop_at: stop after this optimizer step, as if preempted (checkpointing first).

    Returns:
      The final evaluation summary (plus "step"), or the last train metrics when stopped early.
    """
    # --- config, before anything is built or compiled ---------------------------------------
    validate(config, num_devices=jax.device_count())
    data, config = init_data(config)
    config, table_mode = table_layout(config)
    meta = data.metadata
    total, eval_every, ckpt_every = schedule_lengths(config, meta)
    t = config.train
    os.makedirs(workdir, exist_ok=True)
    is_main = jax.process_index() == 0

    # --- mesh, model, optimizer ---------------------------------------------------------------
    mesh = parallel.make_mesh(config.mesh.data)
    replicated, sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    model = models.build(config)
    tx, schedules = make_optimizer(config, total)

    def make_sampler():
        if config.model.name == "sotaku" and config.sotaku.curriculum:
            from rrm_jax.data import sotaku as sotaku_data

            return sotaku_data.make_sampler(data, config, jax.process_index(), jax.process_count())
        return TrainSampler(
            data.train,
            t.global_batch_size,
            t.seed,
            epochs_per_iter=config.data.epochs_per_iter,
            augment=data.augment,
            num_aug=data.num_aug,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )

    example = {
        k: np.zeros((t.global_batch_size,) + v.shape[1:], v.dtype)
        for k, v in next(make_sampler()).items()
    }

    def init_all(rng):
        state = state_lib.create(model, tx, rng, example, ema=config.optim.ema)
        return state, act.initial_carry(model, example)

    abstract_state, abstract_carry = jax.eval_shape(init_all, jax.random.PRNGKey(t.seed))
    state_sh = parallel.state_shardings(abstract_state, mesh, table_mode)
    carry_sh = parallel.carry_shardings(abstract_carry, mesh)

    # --- state: restore or initialise ----------------------------------------------------------
    checkpointer = ckpt_lib.Checkpointer(workdir, t.keep_checkpoints)
    start = checkpointer.latest_step()
    changed = check_resume_config(config, workdir) if start is not None else []
    if start is not None:
        state, carry, saved = checkpointer.restore(
            start,
            ckpt_lib.abstract_like(abstract_state, state_sh),
            ckpt_lib.abstract_like(abstract_carry, carry_sh),
        )
        sampler_state = saved["sampler"]
        start = int(state.step)
    else:
        init = jax.jit(init_all, out_shardings=(state_sh, carry_sh))
        state, carry = init(jax.random.PRNGKey(t.seed))
        start, sampler_state = 0, None
        if is_main:
            with open(os.path.join(workdir, "config.json"), "w") as f:
                f.write(config.to_json_best_effort(indent=2))

    train_step = jax.jit(
        make_train_step(model, config, tx, schedules),
        in_shardings=(state_sh, carry_sh, sharded),
        out_shardings=(state_sh, carry_sh, replicated),
        donate_argnums=(0, 1),
    )
    eval_step = jax.jit(eval_lib.make_eval_step(model, config))
    writer = metrics_lib.Writer(workdir, enabled=is_main, resume_step=start)
    progress = metrics_lib.Progress(total, start, enabled=t.progress and is_main)
    for line in changed:
        progress.write(f"resuming with a changed config field: {line}")
    n_params = models.count_params(state.params["dense"])
    progress.write(
        f"rrm_jax: {config.model.name} ({n_params:,} params), {total} steps, batch "
        f"{t.global_batch_size}, {jax.device_count()} device(s) [{jax.devices()[0].platform}]"
        + (f", resumed at step {start}" if start else "")
    )
    progress.write(parallel.describe(mesh, t.global_batch_size, table_mode))

    def evaluate(step: int) -> dict:
        params = state_lib.eval_params(state, config.eval.use_ema)
        batches = eval_batches_for(data.test, config)
        if config.model.name == "ldt":  # LDT's abstaining K-chain solver, not ACT segments
            from rrm_jax.eval import ldt_solver

            summary = ldt_solver.evaluate(config, params, batches)
            writer.write(step, "eval", summary)
            return summary
        to_global = lambda b: parallel.global_batch(b, mesh)
        collect = eval_lib.needs_predictions(data)
        summary, rows = eval_lib.evaluate(eval_step, params, batches, to_global, collect=collect)
        if collect:
            summary.update(eval_lib.task_metrics(data, rows))
        writer.write(step, "eval", summary)
        return summary

    batches = train_iterator(make_sampler, prefetch=config.data.prefetch)
    if sampler_state is not None:
        batches.set_state(sampler_state)

    def save(step: int) -> None:
        checkpointer.save(step, state, carry, {"sampler": batches.get_state(), "step": step})

    # --- loop -------------------------------------------------------------------------------
    window, window_steps, pending = None, 0, None
    last_train: dict = {}
    summary: dict | None = None
    t0 = time.time()
    end = total if stop_at is None else min(total, stop_at)
    step = start
    while step < end:
        batch = parallel.global_batch(next(batches), mesh)
        state, carry, sums = train_step(state, carry, batch)
        # Fetch the previous step's metrics while this one runs (keeps dispatch asynchronous).
        if pending is not None:
            window, window_steps = _absorb(window, window_steps, *pending)
        pending = (step + 1, sums)
        step += 1
        boundary = step % t.log_every == 0 or step % eval_every == 0 or step % ckpt_every == 0
        if boundary or step == end:
            window, window_steps = _absorb(window, window_steps, *pending)
            pending = None
        if window is not None and (step % t.log_every == 0 or step == end):
            last_train = metrics_lib.reduce(window, window_steps * t.global_batch_size)
            last_train["steps_per_sec"] = (step - start) / max(time.time() - t0, 1e-9)
            writer.write(step, "train", last_train)
            progress.update(step, last_train)
            window, window_steps = None, 0
        else:
            progress.update(step)
        if step % eval_every == 0 or step == total:
            summary = evaluate(step)
            progress.write(
                f"step {step}: eval exact {100 * summary['exact_accuracy']:.2f}% "
                f"token {100 * summary['accuracy']:.2f}% halting "
                f"{100 * summary['q_halt_accuracy']:.2f}% ACT segments "
                f"{summary['halt_steps']:.2f}"
            )
        if step % ckpt_every == 0 or step == end:
            save(step)
    progress.close()
    batches.close()

    if stop_at is not None and step < total:
        checkpointer.close()
        writer.close()
        return {"step": step, **last_train}
    if summary is None:  # resumed at the end: evaluate what is there
        summary = evaluate(step)
    if model.stochastic and step == total:  # K rollouts (PTRM, GRAM), once, on the final weights
        summary.update(
            scaling_lib.sampling_metrics(
                config,
                model,
                state_lib.eval_params(state, config.eval.use_ema),
                data,
                eval_batches_for(data.test, config, config.sampling.batch_size),
                lambda b: parallel.global_batch(b, mesh),
            )
        )
        prefix = scaling_lib.metric_prefix(config) + "/"
        writer.write(step, "eval", {k: v for k, v in summary.items() if k.startswith(prefix)})
    checkpointer.close()
    writer.close()
    summary["step"] = step
    if is_main:
        eval_lib.report(summary, config, workdir)
    return summary


def _absorb(window, window_steps, step, sums):
    sums = jax.device_get(sums)
    metrics_lib.check_finite(sums, step)
    return metrics_lib.accumulate(window, sums), window_steps + 1


def eval_batches_for(test, config, batch_size: int = 0):
    """This process's evaluation batches of `test` (at most `eval.max_examples`, in batches of
    `batch_size`, default `eval.batch_size`)."""
    e = config.eval
    size = batch_size or e.batch_size or config.train.global_batch_size
    batches = eval_batches(
        test, size, process_index=jax.process_index(), process_count=jax.process_count()
    )
    if e.max_examples <= 0:
        yield from batches
        return
    seen = 0
    for batch in batches:
        if seen >= e.max_examples:
            return
        seen += size
        yield batch
