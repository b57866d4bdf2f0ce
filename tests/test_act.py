"""ACT: refilling halted rows, the halting rule, exploration, evaluation running all segments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import act
from rrm_jax.models.base import Model


class _ToyModel:
    """A model whose latent is one number per row; reset writes 7.0."""

    def initial_carry(self, batch):
        return {"h": jnp.zeros((batch["inputs"].shape[0], 2))}

    def reset_carry(self, params, carry, reset):
        return {"h": jnp.where(reset[:, None], params["const"]["h0"], carry["h"])}


TOY = _ToyModel()
PARAMS = {"const": {"h0": jnp.full((2,), 7.0)}}


def _batch(offset, b=4):
    return {
        "inputs": jnp.arange(b * 3, dtype=jnp.int32).reshape(b, 3) + offset,
        "labels": jnp.arange(b * 3, dtype=jnp.int32).reshape(b, 3) + offset,
        "puzzle_identifiers": jnp.arange(b, dtype=jnp.int32) + offset,
    }


def test_first_refill_loads_the_whole_batch():
    b0 = _batch(0)
    carry = act.refill(TOY, PARAMS, act.initial_carry(TOY, b0), b0)
    for k in b0:
        np.testing.assert_array_equal(carry.data[k], b0[k])
    np.testing.assert_array_equal(carry.latent["h"], 7.0)
    np.testing.assert_array_equal(carry.steps, 0)


def test_halted_rows_take_same_index_rows_and_others_are_untouched():
    b0, b1 = _batch(0), _batch(100)
    carry = act.refill(TOY, PARAMS, act.initial_carry(TOY, b0), b0)
    carry = carry._replace(
        latent={"h": jnp.arange(8.0).reshape(4, 2)},
        steps=jnp.array([3, 1, 5, 2], jnp.int32),
        halted=jnp.array([False, True, False, True]),
    )
    new = act.refill(TOY, PARAMS, carry, b1)
    for k in b0:
        np.testing.assert_array_equal(
            new.data[k][np.array([1, 3])], b1[k][np.array([1, 3])]
        )  # refilled
        np.testing.assert_array_equal(
            new.data[k][np.array([0, 2])], b0[k][np.array([0, 2])]
        )  # untouched
    np.testing.assert_array_equal(new.latent["h"][np.array([1, 3])], 7.0)
    np.testing.assert_array_equal(
        new.latent["h"][np.array([0, 2])], carry.latent["h"][np.array([0, 2])]
    )
    np.testing.assert_array_equal(new.steps, [3, 0, 5, 0])


def _halt(steps, q_halt, q_cont=None, p=0.1, training=True, seed=0, rule="q_halt", max_steps=16):
    q_cont = np.zeros_like(np.asarray(q_halt)) if q_cont is None else q_cont
    return act.halt(
        jnp.asarray(steps, jnp.int32),
        jnp.asarray(q_halt, jnp.float32),
        jnp.asarray(q_cont, jnp.float32),
        jax.random.PRNGKey(seed),
        max_steps=max_steps,
        exploration_prob=p,
        rule=rule,
        training=training,
    )


def test_eval_halts_only_at_max_steps():
    steps, halted = _halt([0, 14, 15], [10.0, 10.0, -10.0], training=False)
    np.testing.assert_array_equal(steps, [1, 15, 16])
    np.testing.assert_array_equal(halted, [False, False, True])


def test_training_halts_on_q_or_max_steps():
    steps, halted = _halt([0, 3, 15, 4], [1.0, -1.0, -1.0, 0.0], p=0.0)
    np.testing.assert_array_equal(steps, [1, 4, 16, 5])
    np.testing.assert_array_equal(halted, [True, False, True, False])  # q > 0 strictly


def test_hrm_rule_compares_halt_with_continue():
    _, halted = _halt([2, 2], [1.0, 1.0], q_cont=[0.5, 2.0], p=0.0, rule="q_halt_vs_continue")
    np.testing.assert_array_equal(halted, [True, False])


def test_exploration_sets_a_minimum_of_2_to_max_steps():
    n, max_steps = 20000, 16
    # Every row wants to halt after its first segment; explored rows must keep going.
    _, halted = _halt(np.zeros(n), np.ones(n), p=0.1, max_steps=max_steps)
    assert abs(float(1 - halted.mean()) - 0.1) < 0.01  # explored fraction = p
    # The minimum is uniform on {2..max}: after s segments the explored rows that may halt are
    # those whose minimum is <= s.
    for s, want in ((2, 1 / 15), (9, 8 / 15), (16, 1.0)):
        _, h = _halt(np.full(n, s - 1), np.ones(n), p=1.0, max_steps=max_steps, seed=s)
        assert abs(float(h.mean()) - want) < 0.02, (s, float(h.mean()))


def test_exploration_draws_differ_by_row_and_key():
    _, a = _halt(np.full(64, 3), np.ones(64), p=1.0, seed=1)
    _, b = _halt(np.full(64, 3), np.ones(64), p=1.0, seed=2)
    assert 0 < int(a.sum()) < 64 and not np.array_equal(a, b)


def test_model_namedtuple_is_the_contract():
    assert Model._fields[:4] == ("init", "initial_carry", "reset_carry", "apply")
