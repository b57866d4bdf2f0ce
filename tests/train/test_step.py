"""The train step's microbatch split (`train.microbatches`) is the full-batch step."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rrm_jax import act, models
from rrm_jax.train import state as state_lib
from rrm_jax.train.step import make_optimizer, make_train_step
from tests.train.test_trainer import tiny_config


def _steps(config, batches):
    model = models.build(config)
    tx, schedules = make_optimizer(config, 100)
    state = state_lib.create(model, tx, jax.random.PRNGKey(0), batches[0], ema=True)
    carry = act.initial_carry(model, batches[0])
    step = jax.jit(make_train_step(model, config, tx, schedules))
    metrics = []
    for batch in batches:
        state, carry, m = step(state, carry, batch)
        metrics.append(jax.device_get(m))
    return state, carry, metrics


@pytest.mark.parametrize("name", ["trm", "hrm"])
def test_microbatches_give_the_full_batch_step(name):
    c = tiny_config()
    c.model.update(dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=5))
    if name == "hrm":
        c.model.update(dict(name="hrm", num_layers=1, h_layers=1, puzzle_emb_len=0))
        c.recursion.update(dict(cycles=2, latent_steps=2, gradient="one_step"))
        c.act.update(dict(halt_rule="q_halt_vs_continue"))
    rng = np.random.default_rng(0)
    b = c.train.global_batch_size
    batches = [
        {
            "inputs": rng.integers(1, 6, (b, 16)).astype(np.int32),
            "labels": rng.integers(1, 6, (b, 16)).astype(np.int32),
            "puzzle_identifiers": rng.integers(0, 5, (b,)).astype(np.int32),
        }
        for _ in range(3)
    ]
    results = {}
    for n in (1, 4):
        c.train.microbatches = n
        results[n] = _steps(c, batches)
    s1, carry1, m1 = results[1]
    for n in (4,):
        sn, carryn, mn = results[n]
        for a, w in zip(jax.tree.leaves((sn, carryn)), jax.tree.leaves((s1, carry1)), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(w), rtol=1e-4, atol=1e-5)
        for step_m, step_w in zip(mn, m1, strict=True):
            for k in step_w:
                np.testing.assert_allclose(step_m[k], step_w[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # The puzzle table was updated (the check covers the sparse per-id gradient sums).
    assert np.abs(np.asarray(s1.params["puzzle_emb"])).max() > 0


def _abstract_state_and_carry(model, tx, batch):
    state = jax.eval_shape(
        lambda: state_lib.create(model, tx, jax.random.PRNGKey(0), batch, ema=True)
    )
    return state, jax.eval_shape(lambda: act.initial_carry(model, batch))


def test_microbatches_bound_the_activation_memory():
    """The slices run one after another: the compiled step's temporary memory shrinks ~1/n."""
    temp = {}
    for n in (1, 4):
        c = tiny_config()
        c.model.update(
            dict(vocab_size=6, seq_len=64, num_puzzle_identifiers=5, hidden_size=64, num_heads=4)
        )
        c.train.update(dict(global_batch_size=32, microbatches=n))
        batch = {
            "inputs": np.ones((32, 64), np.int32),
            "labels": np.ones((32, 64), np.int32),
            "puzzle_identifiers": np.zeros((32,), np.int32),
        }
        model = models.build(c)
        tx, schedules = make_optimizer(c, 100)
        state, carry = _abstract_state_and_carry(model, tx, batch)
        step = jax.jit(make_train_step(model, c, tx, schedules))
        temp[n] = step.lower(state, carry, batch).compile().memory_analysis().temp_size_in_bytes
    assert temp[4] < 0.5 * temp[1], temp
