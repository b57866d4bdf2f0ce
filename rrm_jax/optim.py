"""Optimisers, learning-rate schedule and EMA matching the official HRM/TRM training code.

Contents:

* :func:`scale_by_adam_atan2` / :func:`adam_atan2` -- the ``AdamATan2`` optimiser of the
  ``adam_atan2`` package used by HRM/TRM (Adam with ``atan2`` in place of ``m / (sqrt(v) + eps)``,
  no epsilon, decoupled weight decay, no gradient clipping).
* :func:`warmup_cosine_schedule` / :func:`official_lr` -- ``cosine_schedule_with_warmup_lr_lambda``
  of the official ``pretrain.py``, re-indexed for optax's 0-based update count.
* :func:`sparse_signsgd_update` / :class:`SparseSignSGD` -- the sparse puzzle-embedding optimiser
  ``CastedSparseEmbeddingSignSGD_Distributed`` (summed-per-id SignSGD with decoupled weight decay,
  touched rows only).
* :func:`ema_init` / :func:`ema_update` -- TRM's ``EMAHelper`` (shadow weights, ``mu = 0.999``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "ScaleByAdamAtan2State",
    "scale_by_adam_atan2",
    "adam_atan2",
    "warmup_cosine_schedule",
    "official_lr",
    "sum_grads_by_id",
    "sparse_signsgd_update",
    "SparseSignSGD",
    "ema_init",
    "ema_update",
]

PyTree = Any
ScalarOrSchedule = float | optax.Schedule


# ---------------------------------------------------------------------------------------------
# AdamATan2
# ---------------------------------------------------------------------------------------------


class ScaleByAdamAtan2State(NamedTuple):
    """State of :func:`scale_by_adam_atan2`.

    Attributes:
        count: int32 scalar, number of updates applied so far (the official ``state["step"]``
            before its increment).
        mu: first-moment estimate (``exp_avg``), fp32, same tree as the params.
        nu: second-moment estimate (``exp_avg_sq``), fp32, same tree as the params.
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_adam_atan2(b1: float = 0.9, b2: float = 0.95) -> optax.GradientTransformation:
    """Direction of the AdamATan2 step (before weight decay and learning rate).

    Matches the element-wise math of the official ``adam_atan2`` CUDA kernel, per element and with
    the step counter ``t`` incremented before use (``t = 1`` on the first update)::

        m <- m + (1 - b1) * (g - m)              # lerp(exp_avg, grad, 1 - beta1)
        v <- v + (1 - b2) * (g * g - v)          # lerp(exp_avg_sq, grad^2, 1 - beta2)
        u  = atan2(m / (1 - b1^t), sqrt(v) / sqrt(1 - b2^t))

    There is no epsilon and no extra scaling constants; ``atan2(0, 0) = 0`` so elements whose
    gradient has always been zero produce a zero update (no NaN). Since ``sqrt(v) >= 0`` the
    output lies in ``[-pi/2, pi/2]`` and is invariant to a positive rescaling of all gradients.

    The returned updates are the *positive* direction ``u`` (fp32); chain with
    ``optax.add_decayed_weights`` and ``optax.scale_by_learning_rate`` (see :func:`adam_atan2`).

    Args:
        b1: exponential decay rate of the first moment (official default in HRM/TRM: 0.9).
        b2: exponential decay rate of the second moment (official default in HRM/TRM: 0.95).

    Returns:
        An ``optax.GradientTransformation`` whose state is :class:`ScaleByAdamAtan2State`
        (moments kept in fp32 regardless of the parameter dtype).
    """
    if not 0.0 <= b1 < 1.0:
        raise ValueError(f"b1 must be in [0, 1), got {b1}")
    if not 0.0 <= b2 < 1.0:
        raise ValueError(f"b2 must be in [0, 1), got {b2}")

    def init_fn(params: optax.Params) -> ScaleByAdamAtan2State:
        zeros = lambda p: jnp.zeros(jnp.shape(p), dtype=jnp.float32)
        return ScaleByAdamAtan2State(
            count=jnp.zeros([], jnp.int32),
            mu=jax.tree.map(zeros, params),
            nu=jax.tree.map(zeros, params),
        )

    def update_fn(
        updates: optax.Updates, state: ScaleByAdamAtan2State, params: optax.Params | None = None
    ) -> tuple[optax.Updates, ScaleByAdamAtan2State]:
        del params
        grads = jax.tree.map(lambda g: jnp.asarray(g, jnp.float32), updates)
        # The official optimiser does `state_steps += 1` before launching the kernel.
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        mu = jax.tree.map(lambda m, g: m + (1.0 - b1) * (g - m), state.mu, grads)
        nu = jax.tree.map(lambda v, g: v + (1.0 - b2) * (g * g - v), state.nu, grads)
        bias_correction1 = 1.0 - jnp.power(jnp.float32(b1), t)
        bias_correction2_sqrt = jnp.sqrt(1.0 - jnp.power(jnp.float32(b2), t))
        direction = jax.tree.map(
            lambda m, v: jnp.arctan2(m / bias_correction1, jnp.sqrt(v) / bias_correction2_sqrt),
            mu,
            nu,
        )
        return direction, ScaleByAdamAtan2State(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adam_atan2(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.95,
    weight_decay: float = 0.0,
    mask: PyTree | Callable[[optax.Params], PyTree] | None = None,
) -> optax.GradientTransformation:
    """AdamATan2 optimiser (``adam_atan2.AdamATan2`` as used by HRM/TRM) as an optax chain.

    The official kernel computes, per element and with the *old* ``p`` in both terms::

        p <- p * (1 - lr * wd)
        p <- p - lr * atan2(m_hat, sqrt(v_hat))

    which equals ``p - lr * (atan2(...) + wd * p)``; hence the chain
    ``scale_by_adam_atan2 -> add_decayed_weights(wd, mask) -> scale_by_learning_rate(lr)``.
    The official trainer applies weight decay to every dense parameter (``mask=None``) and uses
    no gradient clipping.

    Args:
        learning_rate: constant learning rate or an optax schedule of the 0-based update count
            (use :func:`warmup_cosine_schedule` to reproduce the official schedule).
        b1: first-moment decay rate.
        b2: second-moment decay rate.
        weight_decay: decoupled weight-decay coefficient (multiplied by the learning rate).
        mask: optional pytree of bools (or a callable producing one from the params) selecting the
            leaves that receive weight decay; ``None`` decays all leaves like the official code.

    Returns:
        An ``optax.GradientTransformation``. ``update`` must be given ``params`` when
        ``weight_decay != 0``. Updates are fp32; ``optax.apply_updates`` casts them back to each
        parameter's dtype.
    """
    transforms = [scale_by_adam_atan2(b1=b1, b2=b2)]
    if callable(weight_decay) or weight_decay != 0.0:
        transforms.append(optax.add_decayed_weights(weight_decay, mask))
    transforms.append(optax.scale_by_learning_rate(learning_rate))
    return optax.chain(*transforms)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedule
# ---------------------------------------------------------------------------------------------


def official_lr(
    step: int,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = 1.0,
    num_cycles: float = 0.5,
) -> float:
    """Python reference of the official ``cosine_schedule_with_warmup_lr_lambda``.

    ``step`` is the official step counter, which the trainer increments *before* computing the
    learning rate, so the first optimiser update uses ``step = 1``::

        step < W:  lr = base * step / max(1, W)
        else:      progress = (step - W) / max(1, total - W)
                   c = 0.5 * (1 + cos(pi * 2 * num_cycles * progress))
                   lr = base * (r + max(0, (1 - r) * c))

    Args:
        step: official (1-based) step.
        base_lr: peak learning rate.
        warmup_steps: number of linear warm-up steps ``W``.
        total_steps: total number of training steps.
        min_ratio: final learning rate as a fraction of ``base_lr`` (1.0 => constant after warmup).
        num_cycles: cosine cycles (the official default 0.5 gives a half cosine).

    Returns:
        The learning rate as a Python float.
    """
    if step < warmup_steps:
        return base_lr * float(step) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    return base_lr * (min_ratio + max(0.0, (1.0 - min_ratio) * cosine))


def warmup_cosine_schedule(
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = 1.0,
    num_cycles: float = 0.5,
) -> optax.Schedule:
    """The official warm-up + cosine schedule as an optax schedule of the 0-based update count.

    Off-by-one: optax calls a schedule with the number of updates already applied ``k``
    (``k = 0`` for the first update), whereas the official trainer increments its step counter
    before evaluating the schedule, so its first update uses ``step = 1``. This schedule therefore
    returns ``official_lr(k + 1)``; in particular the first update uses ``base_lr / W``, not 0.

    The formula is reproduced as is for ``k + 1 > total_steps`` (the cosine is not clamped); the
    official trainer never steps past ``total_steps``, so such values are never used there.

    Args:
        base_lr: peak learning rate.
        warmup_steps: number of linear warm-up steps ``W``.
        total_steps: total number of training steps.
        min_ratio: final learning rate as a fraction of ``base_lr`` (1.0 => constant after warmup).
        num_cycles: cosine cycles (official default 0.5).

    Returns:
        A jit-compatible callable ``k -> lr`` (fp32 scalar).
    """
    warmup_denom = float(max(1, warmup_steps))
    decay_denom = float(max(1, total_steps - warmup_steps))

    def schedule(count: jax.Array | int) -> jax.Array:
        step = jnp.asarray(count, jnp.float32) + 1.0  # official step = optax count + 1
        warmup_lr = base_lr * step / warmup_denom
        progress = (step - warmup_steps) / decay_denom
        cosine = 0.5 * (1.0 + jnp.cos(math.pi * float(num_cycles) * 2.0 * progress))
        decay_lr = base_lr * (min_ratio + jnp.maximum(0.0, (1.0 - min_ratio) * cosine))
        return jnp.where(step < warmup_steps, warmup_lr, decay_lr).astype(jnp.float32)

    return schedule


# ---------------------------------------------------------------------------------------------
# Sparse puzzle-embedding SignSGD
# ---------------------------------------------------------------------------------------------


def sum_grads_by_id(
    ids: jax.Array, row_grads: jax.Array, num_ids: int
) -> tuple[jax.Array, jax.Array]:
    """Sum the gradients of gathered rows that share the same id (static shapes, jit-friendly).

    Equivalent to the official ``ids.unique(return_inverse=True)`` + ``scatter_add_``, but padded
    to a static size: with ``N = ids.size`` the result always has ``N`` slots; slots past the
    number of distinct ids hold the out-of-range id ``num_ids`` and a zero gradient.

    Args:
        ids: integer ids of the gathered rows, any shape (flattened), values in ``[0, num_ids)``.
        row_grads: gradient w.r.t. the gathered rows, shape ``ids.shape + (D,)`` or ``[N, D]``.
        num_ids: number of rows of the embedding table (used as the padding id).

    Returns:
        ``(unique_ids, summed)`` with shapes ``[N]`` (int32, sorted, padded with ``num_ids``) and
        ``[N, D]`` (fp32).
    """
    flat_ids = jnp.reshape(ids, (-1,)).astype(jnp.int32)
    n = flat_ids.shape[0]
    grads = jnp.reshape(row_grads, (n, -1)).astype(jnp.float32)
    unique_ids, inverse = jnp.unique(flat_ids, size=n, fill_value=num_ids, return_inverse=True)
    summed = jax.ops.segment_sum(grads, jnp.reshape(inverse, (-1,)), num_segments=n)
    return unique_ids, summed


def sparse_signsgd_update(
    table: jax.Array,
    ids: jax.Array,
    row_grads: jax.Array,
    lr: jax.Array | float,
    weight_decay: jax.Array | float,
) -> jax.Array:
    """One step of the official ``CastedSparseEmbeddingSignSGD_Distributed`` optimiser.

    The official code gathers ``(ids, grad of the gathered rows)`` over the global batch, sums the
    gradients of equal ids (``unique`` + ``scatter_add_``), and updates only those ids::

        p <- p * (1 - lr * wd) - lr * sign(g_sum)

    Untouched rows are returned bit-for-bit unchanged (no decay); an id that occurs several times
    is decayed once; ``sign(0) = 0`` so a touched row whose summed gradient is zero is only
    decayed. The optimiser has no state. No dense ``[num_ids, D]`` gradient is built: work is
    ``O(N log N + N * D)`` and the table is written with a scatter (in place when donated).
    Under ``jit`` with a batch-sharded ``ids``/``row_grads``, the sum runs over the global batch.

    Args:
        table: embedding table ``[num_ids, D]`` (fp32 in the official code).
        ids: ids of the gathered rows (any shape, flattened).
        row_grads: gradient of the loss w.r.t. the gathered rows ``table[ids]``,
            shape ``ids.shape + (D,)`` or ``[ids.size, D]``.
        lr: learning rate (may be a traced scalar).
        weight_decay: decoupled weight-decay coefficient (may be a traced scalar).

    Returns:
        The updated table (same shape and dtype).
    """
    num_ids = table.shape[0]
    unique_ids, summed = sum_grads_by_id(ids, row_grads, num_ids)
    lr = jnp.asarray(lr, table.dtype)
    weight_decay = jnp.asarray(weight_decay, table.dtype)
    # Padding slots hold id == num_ids: gathered as zeros, dropped by the scatter.
    rows = table.at[unique_ids].get(mode="fill", fill_value=0)
    new_rows = rows * (1.0 - lr * weight_decay) - lr * jnp.sign(summed).astype(table.dtype)
    return table.at[unique_ids].set(new_rows, mode="drop")


class SparseSignSGD(NamedTuple):
    """Stateless scheduled wrapper around :func:`sparse_signsgd_update`.

    The official trainer drives the sparse optimiser with the same warm-up/cosine schedule shape as
    the dense one but its own base learning rate (``puzzle_emb_lr``) and weight decay
    (``puzzle_emb_weight_decay``).

    Attributes:
        learning_rate: constant or optax schedule of the 0-based update count.
        weight_decay: decoupled weight-decay coefficient.
    """

    learning_rate: ScalarOrSchedule
    weight_decay: float = 0.0

    def lr(self, count: jax.Array | int) -> jax.Array:
        """Learning rate used by the update with 0-based index ``count``.

        Args:
            count: number of updates applied before this one.

        Returns:
            fp32 scalar learning rate.
        """
        if callable(self.learning_rate):
            return jnp.asarray(self.learning_rate(count), jnp.float32)
        return jnp.asarray(self.learning_rate, jnp.float32)

    def update(
        self, table: jax.Array, ids: jax.Array, row_grads: jax.Array, count: jax.Array | int
    ) -> jax.Array:
        """Apply one sparse SignSGD step (see :func:`sparse_signsgd_update`).

        Args:
            table: embedding table ``[num_ids, D]``.
            ids: ids of the gathered rows.
            row_grads: gradient w.r.t. the gathered rows.
            count: 0-based update count (same convention as optax schedules).

        Returns:
            The updated table.
        """
        return sparse_signsgd_update(table, ids, row_grads, self.lr(count), self.weight_decay)


# ---------------------------------------------------------------------------------------------
# EMA of the dense parameters
# ---------------------------------------------------------------------------------------------


def ema_init(params: PyTree) -> PyTree:
    """Initialise the EMA shadow to a copy of the initial params (TRM ``EMAHelper.register``).

    Args:
        params: dense parameter pytree.

    Returns:
        A pytree of fresh arrays (copies, so that donating ``params`` later cannot invalidate
        the shadow).
    """
    return jax.tree.map(lambda p: jnp.array(p, copy=True), params)


def ema_update(ema_params: PyTree, params: PyTree, decay: float | jax.Array) -> PyTree:
    """One EMA step, TRM ``EMAHelper.update``: ``shadow <- (1 - mu) * param + mu * shadow``.

    Called after every train step over the dense parameters only (the official default is
    ``mu = 0.999``).

    Args:
        ema_params: current shadow pytree.
        params: current parameter pytree (same structure).
        decay: ``mu``.

    Returns:
        The new shadow pytree (dtypes of ``ema_params`` preserved).
    """

    def _update(shadow: jax.Array, param: jax.Array) -> jax.Array:
        new = (1.0 - decay) * param.astype(shadow.dtype) + decay * shadow
        return new.astype(shadow.dtype)

    return jax.tree.map(_update, ema_params, params)
