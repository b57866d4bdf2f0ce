"""Pure train and eval steps: one supervision segment per optimizer step, as the reference.

    train_step(state, carry, batch) -> (state, carry, metrics)
        carry = act.refill(carry, batch)         halted rows take fresh examples
        value_and_grad(model.apply + loss)       w.r.t. dense params and the gathered puzzle rows
        act.halt(...)                            Q halting, exploration, max steps
        AdamATan2 on dense params, SignSGD on the touched puzzle-table rows, EMA


Metrics come back as sums over the batch (losses are divided by the global batch size on the
host, the rest by "count"), so accumulating them over steps or devices is a plain sum.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from rrm_jax import act, losses, optim
from rrm_jax.models.embed import local_view
from rrm_jax.train.state import TrainState


def make_optimizer(config, total_steps: int) -> tuple[optax.GradientTransformation, Callable]:
    """The dense params' optimizer (AdamATan2, or AdamW for GRAM; global-norm clipping first
    when optim.grad_clip > 0) and the puzzle-embedding lr schedule (same shape)."""
    o = config.optim
    schedule = optim.warmup_cosine_schedule(o.lr, o.warmup_steps, total_steps, o.lr_min_ratio)
    emb_schedule = optim.warmup_cosine_schedule(
        o.puzzle_emb_lr, o.warmup_steps, total_steps, o.lr_min_ratio
    )
    if o.optimizer == "adamw":  # PyTorch's AdamW: decoupled decay lr * wd * w, eps outside sqrt
        tx = optax.adamw(
            schedule, b1=o.beta1, b2=o.beta2, eps=o.adam_eps, weight_decay=o.weight_decay
        )
    else:
        tx = optim.adam_atan2(schedule, b1=o.beta1, b2=o.beta2, weight_decay=o.weight_decay)
    if o.grad_clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(o.grad_clip), tx)
    return tx, (schedule, emb_schedule)


def make_segment_gradients(model, config, batch_size: int) -> Callable:
    """The differentiated part of a training step, as the reference's `train_batch`.

    Returns fn(params, latent, steps, data, k_model, k_target) -> (loss, aux, grads, ids): the
    ACT loss of one supervision segment divided by the global batch size, its gradients w.r.t.
    params["dense"] and the gathered puzzle-embedding rows ([B, Dp], the reference's
    `local_weights`), the rows' ids, and aux = (new latent, Outputs, loss parts, q target).
    `steps` are the segments run before this one (HRM's continue target needs them).
    """
    a = config.act
    # HRM's Q-learning (the reference trains q_continue only when halt_max_steps > 1).
    q_learning = a.halt_rule == "q_halt_vs_continue" and a.max_steps > 1

    def segment_gradients(params, latent, steps, data, k_model, k_target):
        local_params, local_data, ids = local_view(params, data)

        def loss_fn(dense, rows):
            p = {**local_params, "dense": dense, "puzzle_emb": rows}
            new_latent, out = model.apply(p, latent, local_data, rng=k_model, training=True)
            target = None
            if q_learning:
                target = act.q_continue_target(
                    model, p, new_latent, local_data, steps, max_steps=a.max_steps, rng=k_target
                )
            total, parts = losses.act_loss(
                out.logits,
                out.q_halt,
                local_data["labels"],
                kind=config.loss.type,
                q_weight=config.loss.q_weight,
                lm_weight=config.loss.lm_weight,
                q_continue=out.q_continue,
                q_continue_target=target,
            )
            for name, per_row in (out.losses or {}).items():  # the model's own terms (GRAM)
                parts[name] = per_row.sum()
                total = total + parts[name]
            return total / batch_size, (new_latent, out, parts, target)

        grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)
        (loss, aux), grads = grad_fn(params["dense"], local_params["puzzle_emb"])
        return loss, aux, grads, ids

    return segment_gradients


def in_microbatches(segment_gradients: Callable, count: int) -> Callable:
    """`segment_gradients` over `count` interleaved slices of the batch, gradients summed.

    Slice i holds rows i, i + count, ... (so a batch sharded over devices in contiguous blocks
    stays local to each device). The loss is already divided by the global batch size, so the
    sum over slices is the full-batch loss and gradient, up to float summation order. The slices
    run one after another (`lax.scan`), so only one slice's activations are live at a time:
    gradient accumulation. Stochastic models get the step's keys folded with the slice index.
    """
    if count == 1:
        return segment_gradients

    def split(params, latent, steps, data, k_model, k_target):
        b, n = steps.shape[0], count
        part = lambda t: jnp.swapaxes(t.reshape((b // n, n) + t.shape[1:]), 0, 1)
        merge = lambda t: jnp.swapaxes(t, 0, 1).reshape((b,) + t.shape[2:])

        def one(i, lat, st, dat):
            keys = jax.random.fold_in(k_model, i), jax.random.fold_in(k_target, i)
            return segment_gradients(params, lat, st, dat, *keys)

        def body(acc, xs):
            loss, (lat, out, parts, target), (g_dense, g_rows), ids = one(*xs)
            acc = jax.tree.map(jnp.add, acc, (loss, parts, g_dense))
            return acc, (lat, out, target, g_rows, ids)

        xs = (jnp.arange(n), *jax.tree.map(part, (latent, steps, data)))
        first = jax.eval_shape(one, *jax.tree.map(lambda t: t[0], xs))
        zero = jax.tree.map(
            lambda a: jnp.zeros(a.shape, a.dtype), (first[0], first[1][2], first[2][0])
        )
        (loss, parts, g_dense), stacked = jax.lax.scan(body, zero, xs)
        lat, out, target, g_rows, ids = jax.tree.map(merge, stacked)
        return loss, (lat, out, parts, target), (g_dense, g_rows), ids

    return split


def make_train_step(model, config, tx, schedules) -> Callable:
    """The jit-able train step for `model` under `config`."""
    a, o = config.act, config.optim
    batch_size = config.train.global_batch_size
    schedule, emb_schedule = schedules
    segment_gradients = in_microbatches(
        make_segment_gradients(model, config, batch_size),
        config.train.microbatches,
    )

    def train_step(state: TrainState, carry: act.ActCarry, batch: dict):
        k_model, k_halt, k_target = jax.random.split(jax.random.fold_in(state.rng, state.step), 3)
        params = state.params
        carry = act.refill(model, params, carry, batch)
        loss, (latent, out, parts, _), (g_dense, g_rows), ids = segment_gradients(
            params, carry.latent, carry.steps, carry.data, k_model, k_target
        )
        steps, halted = act.halt(
            carry.steps,
            out.q_halt,
            out.q_continue,
            k_halt,
            max_steps=a.max_steps,
            exploration_prob=a.exploration_prob,
            rule=a.halt_rule,
            training=True,
        )

        updates, opt_state = tx.update(g_dense, state.opt_state, params["dense"])
        dense = optax.apply_updates(params["dense"], updates)
        table = optim.sparse_signsgd_update(
            params["puzzle_emb"], ids, g_rows, emb_schedule(state.step), o.puzzle_emb_weight_decay
        )
        ema = state.ema
        if ema is not None:
            ema = optim.ema_update(ema, dense, o.ema_rate)
        state = state.replace(
            step=state.step + 1,
            params={**params, "dense": dense, "puzzle_emb": table},
            opt_state=opt_state,
            ema=ema,
        )
        metrics = losses.segment_metrics(
            out.logits, out.q_halt, carry.data["labels"], steps, halted
        )
        metrics.update(parts)
        valid = halted & ((carry.data["labels"] != losses.IGNORE_LABEL).sum(-1) > 0)
        for name, per_row in (out.metrics or {}).items():  # summed over halted rows, as above
            metrics[name] = jnp.sum(jnp.where(valid, per_row, 0).astype(jnp.float32))
        metrics["loss"] = loss * batch_size  # a sum, like the other losses
        metrics["lr"] = schedule(state.step - 1)
        return state, act.ActCarry(latent, steps, halted, carry.data), metrics

    return train_step
