"""K rollouts x D supervision steps as one jitted program (PTRM's inference; any stochastic model).

Every rollout starts from the model's initial state and runs D supervision steps with no halting;
the decoded answer and the halt logit are recorded after the requested steps. The K rollouts are
folded into the batch (row j * B + b is rollout j of puzzle b), so each network call is one GEMM
over K * B rows, and run `chunk` rollouts at a time (a `lax.map` over chunks) to bound memory.

Keys: the draw of rollout k at step t for the batch row b uses
`fold_in(fold_in(fold_in(key, t), k), b)`, passed to `model.apply` as one key per row. So a
rollout's noise does not depend on K, on D, on the chunk size or on the other rows' rollouts: the
first K' rollouts of a K-rollout run ARE the K'-rollout run, and the first D' steps of a D-step
run are the D'-step run. The scaling harness reads a whole width x depth grid off one run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp


def record_depths(steps: int, record: Sequence[int] | None) -> tuple[int, ...]:
    """The 1-based steps to record (sorted, unique), checked against `steps`."""
    record = tuple(sorted(set(int(d) for d in (record or (steps,)))))
    if record[0] < 1 or record[-1] > steps:
        raise ValueError(f"recorded depths {record} must lie in 1..{steps}")
    return record


def make_rollouts(
    model,
    *,
    rollouts: int,
    steps: int,
    record: Sequence[int] | None = None,
    chunk: int = 0,
    noise: bool = True,
    act_halt: bool = False,
) -> Callable:
    """Builds `run(params, batch, key) -> {"preds": [R, B, K, L], "q_halt": [R, B, K]}` (and
    "value" [R, B, K] for models with a value head, GRAM's LPRM).

    Args:
      model: a `Model`; with `noise` it must be stochastic (`model.stochastic`).
      rollouts: K.
      steps: D, supervision steps per rollout.
      record: the steps (1-based) whose outputs are returned, R of them (default: only D).
      chunk: rollouts run at once (0: all K); must divide K.
      noise: pass the per-row keys to `model.apply` (False: the deterministic model; then all
        rollouts are identical and K should be 1).
      act_halt: depth by ACT with D as the maximum (GRAM's sampling): a rollout stops after the
        first step whose q_halt > 0 and keeps that step's answer and scores from then on (the
        program still runs D steps: shapes are static); "segments" [R, B, K] says how many
        steps each rollout used by each recorded depth.

    `preds` is the argmax answer (int8 when the vocabulary fits, else int32) without the puzzle
    prefix; `q_halt` the fp32 halt logit. `batch` needs "inputs" and "puzzle_identifiers".
    """
    if rollouts < 1 or steps < 1:
        raise ValueError(f"rollouts={rollouts} and steps={steps} must be >= 1")
    chunk = chunk or rollouts
    if rollouts % chunk:
        raise ValueError(f"chunk={chunk} does not divide rollouts={rollouts}")
    if noise and not model.stochastic:
        raise ValueError(
            "the model is deterministic (no noise or sampling key at test time, e.g. "
            "ptrm.sigma=0): its rollouts would all be equal; use noise=False with one rollout"
        )
    record = record_depths(steps, record)
    picks = jnp.asarray([d - 1 for d in record], jnp.int32)
    n_chunks = rollouts // chunk

    def run_chunk(params, data, key, first):
        b = data["inputs"].shape[0]
        folded = {k: jnp.tile(v, (chunk,) + (1,) * (v.ndim - 1)) for k, v in data.items()}
        rollout = first + jnp.repeat(jnp.arange(chunk), b)
        row = jnp.tile(jnp.arange(b), chunk)
        carry = model.reset_carry(params, model.initial_carry(folded), jnp.ones((chunk * b,), bool))
        rows = chunk * b
        # What the outputs look like (a value head or not, the vocabulary), without running it.
        shapes = jax.eval_shape(lambda p, c: model.apply(p, c, folded)[1], params, carry)
        model_has_value = shapes.value is not None
        small_vocab = shapes.logits.shape[-1] <= 127

        def step(state, t):
            carry, done, kept_preds, kept_scores = state
            rng = None
            if noise:
                k_t = jax.random.fold_in(key, t)
                rng = jax.vmap(lambda r, i: jax.random.fold_in(jax.random.fold_in(k_t, r), i))(
                    rollout, row
                )
            carry, out = model.apply(params, carry, folded, rng=rng, training=False)
            preds = jnp.argmax(out.logits, axis=-1).astype(jnp.int8 if small_vocab else jnp.int32)
            scores = [out.q_halt] + ([] if out.value is None else [out.value])
            scores = jnp.stack(scores, -1).astype(jnp.float32)
            if act_halt:  # halted rollouts keep the answer and scores of their halting step
                preds = jnp.where(done[:, None], kept_preds, preds)
                used = jnp.where(done, kept_scores[:, -1], (t + 1).astype(jnp.float32))
                scores = jnp.where(done[:, None], kept_scores[:, :-1], scores)
                scores = jnp.concatenate([scores, used[:, None]], -1)
                done = done | (scores[:, 0] > 0)
            return (carry, done, preds, scores), (preds, scores)

        width = 1 + (1 if model_has_value else 0) + (1 if act_halt else 0)
        init = (
            carry,
            jnp.zeros((rows,), bool),
            jnp.zeros((rows, model.seq_len), jnp.int8 if small_vocab else jnp.int32),
            jnp.zeros((rows, width), jnp.float32),
        )
        _, (preds_T, s_T) = jax.lax.scan(step, init, jnp.arange(steps))
        preds = preds_T[picks].reshape(len(record), chunk, b, -1)
        scores = s_T[picks].reshape(len(record), chunk, b, -1)
        return preds, scores

    def run(params: dict, batch: dict, key: jax.Array) -> dict:
        data = {k: batch[k] for k in ("inputs", "puzzle_identifiers")}
        if n_chunks == 1:
            preds, scores = run_chunk(params, data, key, 0)
        else:
            firsts = jnp.arange(n_chunks) * chunk
            out_n = jax.lax.map(lambda f: run_chunk(params, data, key, f), firsts)
            # [n, R, c, B, ...] -> [R, n * c, B, ...] (rollout k = chunk index * c + j)
            preds, scores = (
                jnp.moveaxis(t, 0, 1).reshape(len(record), rollouts, *t.shape[3:]) for t in out_n
            )
        out = {"preds": jnp.swapaxes(preds, 1, 2), "q_halt": jnp.swapaxes(scores[..., 0], 1, 2)}
        if scores.shape[-1] - act_halt > 1:  # a value head
            out["value"] = jnp.swapaxes(scores[..., 1], 1, 2)
        if act_halt:
            out["segments"] = jnp.swapaxes(scores[..., -1], 1, 2)
        return out

    run.record = record
    return run
