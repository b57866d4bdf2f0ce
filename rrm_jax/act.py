"""Deep supervision and adaptive halting, once for every model.

As in the official HRM/TRM ACT wrapper, ONE optimizer step is ONE supervision segment. The ACT
carry (model latents, per-row step counts, halted flags and the examples each row is working on)
persists across optimizer steps. At each step:

1. `refill`: rows that halted at the previous step restart from the model's initial latents, their
   step count goes to 0, and they take the row at the SAME INDEX of the freshly drawn batch; the
   other rows of the new batch are discarded (there is no queue). Shapes stay static under jit.
2. the model runs one segment on the carried examples;
3. `halt`: steps += 1; a row halts at `max_steps`; in training it also halts when its Q head says
   so (TRM: q_halt > 0; HRM: q_halt > q_continue), unless exploration drew a minimum number of
   steps (with probability `exploration_prob`, uniform in {2..max_steps}) it has not reached yet.
   In evaluation only `max_steps` halts, so every row runs all segments (the reference's choice,
   to keep batches uniform).

The new latents never carry gradient across segments (the model detaches them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class ActCarry(NamedTuple):
    latent: Any  # the model's carry, leading batch axis
    steps: jax.Array  # int32 [B], segments run on the current example
    halted: jax.Array  # bool [B], the row finished its example at the last step
    data: dict  # the examples the rows are working on ("inputs", "labels", "puzzle_identifiers")


def initial_carry(model, batch: dict) -> ActCarry:
    """All rows halted, so the first `refill` loads the whole first batch."""
    b = batch["inputs"].shape[0]
    return ActCarry(
        latent=model.initial_carry(batch),
        steps=jnp.zeros((b,), jnp.int32),
        halted=jnp.ones((b,), bool),
        data=jax.tree.map(jnp.zeros_like, batch),
    )


def refill(model, params: dict, carry: ActCarry, batch: dict) -> ActCarry:
    """Halted rows restart on the same-index rows of `batch`; the other rows are untouched."""
    halted = carry.halted

    def take(new, old):
        mask = halted.reshape((-1,) + (1,) * (new.ndim - 1))
        return jnp.where(mask, new, old)

    return ActCarry(
        latent=model.reset_carry(params, carry.latent, halted),
        steps=jnp.where(halted, 0, carry.steps),
        halted=halted,
        data=jax.tree.map(take, batch, carry.data),
    )


def halt(
    steps: jax.Array,
    q_halt: jax.Array,
    q_continue: jax.Array,
    rng: jax.Array | None,
    *,
    max_steps: int,
    exploration_prob: float,
    rule: str = "q_halt",
    training: bool,
) -> tuple[jax.Array, jax.Array]:
    """Advances the step counts and decides which rows halt after this segment.

    Returns:
      (steps, halted): the incremented counts [B] and the halting flags [B].
    """
    steps = steps + 1
    halted = steps >= max_steps
    if training and max_steps > 1:
        wants = q_halt > 0 if rule == "q_halt" else q_halt > q_continue
        halted = halted | wants
        k_explore, k_min = jax.random.split(rng)
        explore = jax.random.uniform(k_explore, steps.shape) < exploration_prob
        min_steps = jax.random.randint(k_min, steps.shape, 2, max_steps + 1)
        min_halt = jnp.where(explore, min_steps, 0)
        halted = halted & (steps >= min_halt)
    return steps, halted


def q_continue_target(
    model, params: dict, latent, data: dict, steps: jax.Array, *, max_steps: int, rng=None
) -> jax.Array:
    """HRM's bootstrapped target for q_continue, with NO gradient.

    As the reference (`hrm_act_v1.py`, after PQN: no replay buffer, no target network): one more
    forward pass of the same model on the new carry and the same examples gives the next
    segment's (q_halt', q_continue'); the target is sigmoid(q_halt') if this segment is the last
    one (steps + 1 >= max_steps), else sigmoid(max(q_halt', q_continue')). Both the params and
    the result are stop_gradient-ed: no gradient may flow into the bootstrap (the JAX HRM ports
    we know of let it through; the test suite checks this one does not).

    Args:
      steps: segments run on each row BEFORE the segment that produced `latent`.
    """
    _, nxt = model.apply(
        jax.lax.stop_gradient(params), jax.lax.stop_gradient(latent), data, rng=rng, training=True
    )
    is_last = steps + 1 >= max_steps
    best = jnp.where(is_last, nxt.q_halt, jnp.maximum(nxt.q_halt, nxt.q_continue))
    return jax.lax.stop_gradient(jax.nn.sigmoid(best.astype(jnp.float32)))
