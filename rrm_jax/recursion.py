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
  reached state and sends zero cotangent to everything before it.
* ``neumann`` (k terms) and ``implicit``: the fixed-point (deep-equilibrium) gradients that HRM's
  1-step rule approximates. With G = (one latent update, then one answer update) and the reached
  state z* taken as G's fixed point, the implicit function theorem gives, for an output cotangent
  g, dL/d(params, x) = w dG/d(params, x) at z* with w = g (I - dG/dz)^-1. ``neumann`` sums
  w = g + g J + ... + g J^k (J = dG/dz, applied as VJPs); ``implicit`` solves w (I - J) = g by
  GMRES to relative residual `implicit_tol` (at most `implicit_max_iters` VJPs), which converges
  where the series does not (spectral radius of J >= 1, TRM's case at initialisation). ``one_step``
  is ``neumann`` with k = 0.

No-gradient prefixes run on `stop_gradient`-ed params, carry and injection, so autodiff never sees
them: their compiled memory does not depend on how many steps they take (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

GradientRule = Literal["full", "last_recursion", "one_step", "neumann", "implicit"]
GRADIENT_RULES: tuple[str, ...] = ("full", "last_recursion", "one_step", "neumann", "implicit")
FIXED_POINT_RULES: tuple[str, ...] = ("one_step", "neumann", "implicit")
# `jax.checkpoint` policies for `remat=True`.
REMAT_POLICIES = {
    "nothing": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}

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
    remat_policy: str = "nothing",
    neumann_terms: int = 0,
    implicit_tol: float = 1e-4,
    implicit_max_iters: int = 50,
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
      rule: "full", "last_recursion", "one_step", "neumann" or "implicit".
      remat: recompute the activations of each differentiated update in the backward pass
        (`jax.checkpoint`), trading compute for memory.
      remat_policy: what a rematerialised update still saves: "nothing" (recompute it all) or
        "dots" (keep the matmul outputs, recompute the elementwise work between them).
      neumann_terms: k for "neumann".
      implicit_tol, implicit_max_iters: stopping rule of "implicit".

    Returns:
      The carry after T * (n + 1) updates.
    """
    if cycles < 1 or latent_steps < 0:
        raise ValueError(f"need cycles >= 1 and latent_steps >= 0, got {cycles}, {latent_steps}")
    if remat:
        if remat_policy not in REMAT_POLICIES:
            raise ValueError(
                f"remat_policy {remat_policy!r}; expected one of {list(REMAT_POLICIES)}"
            )
        policy = REMAT_POLICIES[remat_policy]
        latent = jax.checkpoint(latent, policy=policy)
        answer = jax.checkpoint(answer, policy=policy)

    def run(p, c, xx, t, grad=False):
        return _cycles(
            latent, answer, p, c, xx, cycles=t, latent_steps=latent_steps, unroll_latent=grad
        )

    if rule == "full":
        return run(params, carry, x, cycles, grad=True)
    if rule == "last_recursion":
        carry = no_grad(lambda p, c, xx: run(p, c, xx, cycles - 1), params, carry, x)
        return run(params, carry, x, 1, grad=True)
    if rule in FIXED_POINT_RULES:

        def prefix(p, c, xx):
            c = run(p, c, xx, cycles - 1)
            return _scan_steps(lambda cc: latent(p, cc, xx), c, latent_steps - 1)

        def last(p, c, xx):
            if latent_steps > 0:
                c = latent(p, c, xx)
            return answer(p, c)

        terms = {"one_step": 0, "neumann": neumann_terms, "implicit": None}[rule]
        return fixed_point(
            prefix,
            last,
            params,
            carry,
            x,
            terms=terms,
            tol=implicit_tol,
            max_iters=implicit_max_iters,
        )
    raise ValueError(f"unknown gradient rule {rule!r}; expected one of {GRADIENT_RULES}")


def options(recursion_config) -> dict:
    """The fixed-point solver settings of a config's `recursion` block, as `recurse` kwargs."""
    r = recursion_config
    return dict(
        neumann_terms=r.neumann_terms,
        implicit_tol=r.implicit_tol,
        implicit_max_iters=r.implicit_max_iters,
    )


def _add(a, b):
    return jax.tree.map(jnp.add, a, b)


def _like(tree, ref):
    return jax.tree.map(lambda t, r: t.astype(r.dtype), tree, ref)


def fixed_point(
    prefix: Callable[[Params, Carry, Any], Carry],
    last: Callable[[Params, Carry, Any], Carry],
    params: Params,
    carry: Carry,
    x: Any,
    *,
    terms: int | None,
    tol: float = 1e-4,
    max_iters: int = 50,
) -> Carry:
    """`last(params, prefix(params, carry, x), x)` with a fixed-point gradient.

    `prefix` is never differentiated and the incoming carry gets exactly zero cotangent. The
    backward pass takes the VJP of `last` (G) at the state `prefix` reached (z*): with `terms`
    = k it propagates w = sum_{i<=k} g J^i (J = dG/dz*), with `terms=None` it solves
    w (I - J) = g by GMRES (relative residual `tol`, at most `max_iters` iterations; it needs
    only I - J invertible, where the series needs J's spectral radius below 1); then returns
    w dG/d(params, x). k = 0 is HRM's
    1-step gradient. The sums run in fp32 whatever the carry's dtype.
    """

    @jax.custom_vjp
    def f(p, c, xx):
        return last(p, no_grad(prefix, p, c, xx), xx)

    def f_fwd(p, c, xx):
        mid = no_grad(prefix, p, c, xx)
        out, vjp = jax.vjp(last, p, mid, xx)
        return out, (vjp, c)

    def f_bwd(res, g):
        vjp, c = res
        g32 = jax.tree.map(lambda t: t.astype(jnp.float32), g)
        j_t = lambda w: jax.tree.map(lambda t: t.astype(jnp.float32), vjp(_like(w, g))[1])
        if terms is None:
            # w (I - J) = g by GMRES on the VJP operator: the fixed-point iteration w <- g + w J
            # (the Neumann series) diverges when J's spectral radius is >= 1, as it is for TRM's
            # latent/answer map at initialisation (measured ~3.2 on the CPU study's TRM: w grew
            # x3.2 per iteration to 1e12 in 30), while (I - J) stays invertible. At most
            # `max_iters` Krylov iterations (one VJP each), stopping at relative residual `tol`.
            def system(w):
                return jax.tree.map(jnp.subtract, w, j_t(w))

            w, _ = jax.scipy.sparse.linalg.gmres(
                system, g32, tol=tol, restart=max_iters, maxiter=1, solve_method="incremental"
            )
        else:

            def term(_, state):
                u, w = state
                u = j_t(u)
                return u, _add(w, u)

            _, w = jax.lax.fori_loop(0, terms, term, (g32, g32))
        g_params, _, g_x = vjp(_like(w, g))
        return g_params, jax.tree.map(jnp.zeros_like, c), g_x

    f.defvjp(f_fwd, f_bwd)
    return f(params, carry, x)
