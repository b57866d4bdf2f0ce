"""The latent-recursion engine: one place for unrolling and for the gradient rules.

Every recursive model here runs the same schedule per supervision segment: `cycles` (T) cycles,
each of `latent_steps` (n) latent updates followed by one answer update.

* TRM:  z <- net(z + y + x) n times, then y <- net(y + z)           (T = 3, n = 6 on Sudoku)
* HRM:  z_L <- f_L(z_L + z_H + x) n times, then z_H <- f_H(z_H + z_L) (T = n = 2)

The caller supplies the two updates as pure functions of (params, carry[, x]); this module owns how
they are unrolled (`lax.scan`, so the compiled graph does not grow with T or n) and which part
carries gradient:

* ``full``: backprop through every update (BPTT; TRM's "no truncation" ablation, Sotaku).
* ``last_recursion``: TRM: the first T-1 cycles run without gradient, the last cycle (n + 1
  updates) is differentiated.
* ``one_step``: HRM's 1-step gradient: only the last latent update and the last answer update are
  differentiated. Written as a `jax.custom_vjp` whose backward differentiates the final step at the
  reached state and sends zero cotangent to everything before it; this is the k = 0 member of the
  Neumann-series family of fixed-point gradients.

No-gradient prefixes run on `stop_gradient`-ed params, carry and injection, so autodiff never sees
them: their compiled memory does not depend on how many steps they take (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

GradientRule = Literal["full", "last_recursion", "one_step"]
GRADIENT_RULES: tuple[str, ...] = ("full", "last_recursion", "one_step")

Params = Any
Carry = Any
LatentStep = Callable[[Params, Carry, Any], Carry]  # (params, carry, x) -> carry
AnswerStep = Callable[[Params, Carry], Carry]  # (params, carry) -> carry


def _scan_steps(
    step: Callable[[Carry], Carry], carry: Carry, length: int, unroll: bool = False
) -> Carry:
    if length <= 0:
        return carry
    if unroll:
        # Differentiated steps are unrolled: a scan would stack their residuals into buffers
        # with dynamic-update-slice and zero-filled broadcasts, which costs ~10% of a CPU step.
        for _ in range(length):
            carry = step(carry)
        return carry
    carry, _ = jax.lax.scan(lambda c, _: (step(c), None), carry, None, length=length)
    return carry


def _cycles(
    latent: LatentStep,
    answer: AnswerStep,
    params,
    carry,
    x,
    *,
    cycles: int,
    latent_steps: int,
    unroll_latent: bool = False,
) -> Carry:
    """`cycles` cycles of `latent_steps` latent updates and one answer update (a scan over
    cycles; the latent updates of a cycle unrolled when `unroll_latent`)."""

    def cycle(c):
        c = _scan_steps(lambda cc: latent(params, cc, x), c, latent_steps, unroll_latent)
        return answer(params, c)

    if cycles == 1:
        return cycle(carry)
    return _scan_steps(cycle, carry, cycles)


def no_grad(fn: Callable[..., Carry], params, carry, x, **kw) -> Carry:
    """Runs `fn(params, carry, x, **kw)` on stop_gradient-ed inputs: no gradient, no residuals."""
    params, carry, x = jax.lax.stop_gradient((params, carry, x))
    return jax.lax.stop_gradient(fn(params, carry, x, **kw))


def recurse(
    latent: LatentStep,
    answer: AnswerStep,
    params: Params,
    carry: Carry,
    x: Any,
    *,
    cycles: int,
    latent_steps: int,
    rule: GradientRule,
    remat: bool = False,
) -> Carry:
    """Runs T cycles of n latent updates and one answer update under a gradient rule.

    Args:
      latent: (params, carry, x) -> carry, one latent update.
      answer: (params, carry) -> carry, one answer update.
      params: anything the updates differentiate (a pytree).
      carry: the recurrent state (a pytree), e.g. {"y": ..., "z": ...}.
      x: the input injection (a pytree); it receives gradient where the rule allows.
      cycles: T >= 1.
      latent_steps: n >= 0.
      rule: "full", "last_recursion" or "one_step".
      remat: recompute the activations of each differentiated update in the backward pass
        (`jax.checkpoint`), trading compute for memory.

    Returns:
      The carry after T * (n + 1) updates.
    """
    if cycles < 1 or latent_steps < 0:
        raise ValueError(f"need cycles >= 1 and latent_steps >= 0, got {cycles}, {latent_steps}")
    if remat:
        latent = jax.checkpoint(latent)
        answer = jax.checkpoint(answer)

    def run(p, c, xx, t, grad=False):
        return _cycles(
            latent, answer, p, c, xx, cycles=t, latent_steps=latent_steps, unroll_latent=grad
        )

    if rule == "full":
        return run(params, carry, x, cycles, grad=True)
    if rule == "last_recursion":
        carry = no_grad(lambda p, c, xx: run(p, c, xx, cycles - 1), params, carry, x)
        return run(params, carry, x, 1, grad=True)
    if rule == "one_step":

        def prefix(p, c, xx):
            c = run(p, c, xx, cycles - 1)
            return _scan_steps(lambda cc: latent(p, cc, xx), c, latent_steps - 1)

        def last(p, c, xx):
            if latent_steps > 0:
                c = latent(p, c, xx)
            return answer(p, c)

        return one_step(prefix, last, params, carry, x)
    raise ValueError(f"unknown gradient rule {rule!r}; expected one of {GRADIENT_RULES}")


def one_step(
    prefix: Callable[[Params, Carry, Any], Carry],
    last: Callable[[Params, Carry, Any], Carry],
    params: Params,
    carry: Carry,
    x: Any,
) -> Carry:
    """`last(params, prefix(params, carry, x), x)` with HRM's 1-step gradient.

    The backward pass is the VJP of `last` at the state `prefix` reached, w.r.t. params and x;
    the cotangent of the incoming carry is exactly zero and `prefix` is never differentiated.
    """

    @jax.custom_vjp
    def f(p, c, xx):
        return last(p, no_grad(prefix, p, c, xx), xx)

    def f_fwd(p, c, xx):
        mid = no_grad(prefix, p, c, xx)
        out, vjp = jax.vjp(lambda pp, xxx: last(pp, mid, xxx), p, xx)
        return out, (vjp, c)

    def f_bwd(res, g):
        vjp, c = res
        g_params, g_x = vjp(g)
        return g_params, jax.tree.map(jnp.zeros_like, c), g_x

    f.defvjp(f_fwd, f_bwd)
    return f(params, carry, x)
