"""Sotaku (`rrm_jax/models/sotaku.py`): parity with the reference on identical weights, the paper's
parameter count, full backpropagation through the iterations, blank-only loss, dropout only in
training, and an iteration count that changes at test time."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import models
from rrm_jax.config import ConfigError, base_config, validate
from rrm_jax.models import sotaku

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "sotaku", "sotaku.npz")


def make_config(d=32, heads=2, layers=2, iters=3, side=9, dropout=0.1, **sot):
    c = base_config()
    c.model.update(
        dict(
            name="sotaku",
            hidden_size=d,
            num_heads=heads,
            num_layers=layers,
            expansion=4.0,
            rope_theta=10.0,
            puzzle_emb_ndim=0,
            puzzle_emb_len=0,
            vocab_size=side + 2,
            seq_len=side * side,
            num_puzzle_identifiers=1,
            dtype="float32",
        )
    )
    c.recursion.update(dict(cycles=iters, gradient="full"))
    c.act.max_steps = 1
    c.loss.update(dict(q_weight=0.0, lm_weight=0.0))
    c.sotaku.update(dict(dropout=dropout, **sot))
    return c


def random_batch(rows=3, side=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(2, side + 2, (rows, side * side))
    blank = rng.random((rows, side * side)) < 0.5
    blank[:, 0], blank[:, 1] = True, False  # every row has a blank and a given cell
    inputs = np.where(blank, 1, labels)
    return {
        "inputs": jnp.asarray(inputs, jnp.int32),
        "labels": jnp.asarray(labels, jnp.int32),
        "puzzle_identifiers": jnp.zeros((rows,), jnp.int32),
    }


def init(c, batch, seed=0):
    model = models.build(c)
    return model, model.init(jax.random.PRNGKey(seed), batch)


def train_loss(model, params, batch, rng=None):
    carry = model.initial_carry(batch)
    _, out = model.apply(params, carry, batch, rng=rng, training=True)
    return out.losses[sotaku.LOSS_NAME].sum() / batch["inputs"].shape[0], out


def test_paper_size_has_796937_parameters():
    c = make_config(d=128, heads=4, layers=4, iters=16)
    model = models.build(c)
    batch = random_batch(side=9)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
    assert models.count_params(shapes["dense"]) == 796_937


@pytest.fixture(scope="module")
def reference():
    data = np.load(FIXTURE)
    meta = json.loads(str(data["meta_json"]))
    size = meta["size"]
    c = make_config(
        d=size["d_model"],
        heads=size["n_heads"],
        layers=size["n_layers"],
        iters=meta["iterations"],
        dropout=0.0,
    )
    c.model.expansion = size["d_ff"] / size["d_model"]
    state = {k[3:]: data[k] for k in data.files if k.startswith("sd/")}
    params = {
        "dense": sotaku.from_torch_state_dict(state),
        "puzzle_emb": jnp.zeros((1, 1)),
        "const": {},
    }
    onehot = data["inputs_onehot"]
    inputs = onehot.argmax(-1) + 1  # reference class c (0 blank) -> token c + 1
    batch = {
        "inputs": jnp.asarray(inputs, jnp.int32),
        "labels": jnp.asarray(data["targets"] + 2, jnp.int32),
        "puzzle_identifiers": jnp.zeros((inputs.shape[0],), jnp.int32),
    }
    return c, params, batch, data, meta


def test_logits_match_the_reference_at_every_iteration(reference):
    c, params, batch, data, meta = reference
    model = models.build(c)
    # The converted state dict has exactly our parameter tree.
    ours = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)["dense"]
    assert jax.tree.structure(ours) == jax.tree.structure(params["dense"])
    assert jax.tree.map(lambda a: a.shape, ours) == jax.tree.map(jnp.shape, params["dense"])
    all_logits = sotaku.iterate_all(c, params, batch["inputs"], meta["iterations"])
    np.testing.assert_allclose(all_logits, data["fwd/logits"], atol=1e-5, rtol=1e-5)


def test_test_time_iterations_match_the_reference(reference):
    c, params, batch, data, meta = reference
    c = c.copy_and_resolve_references()
    c.sotaku.eval_iterations = meta["long"]
    model = models.build(c)
    _, out = model.apply(params, model.initial_carry(batch), batch, training=False)
    blank = np.asarray(batch["inputs"]) == 1
    got = np.asarray(out.logits)[..., 2:][blank]
    np.testing.assert_allclose(got, data["fwd/logits_long"][blank], atol=1e-5, rtol=1e-5)


def test_loss_and_gradients_match_the_reference(reference):
    c, params, batch, data, _ = reference
    model = models.build(c)
    grad_fn = jax.value_and_grad(lambda d: train_loss(model, {**params, "dense": d}, batch)[0])
    loss, grads = grad_fn(params["dense"])
    np.testing.assert_allclose(loss, data["loss"], rtol=1e-5)
    ref_grads = sotaku.from_torch_state_dict(
        {k[5:]: data[k] for k in data.files if k.startswith("grad/")}
    )
    flat = jax.tree_util.tree_flatten_with_path(grads)[0]
    ref_flat = dict(jax.tree_util.tree_flatten_with_path(ref_grads)[0])
    assert len(flat) == len(ref_flat)
    for path, g in flat:
        np.testing.assert_allclose(g, ref_flat[path], atol=2e-6, rtol=1e-4, err_msg=str(path))


def per_iteration_loss(c, params, batch, iters, detach=False):
    """Mean over iterations of the batch's blank-cell token-mean CE, from a separate unrolled
    forward (optionally detaching the state between iterations)."""
    m = c.model
    digits = m.vocab_size - 2
    net = sotaku.SudokuTransformer(
        m.hidden_size, m.num_heads, int(m.expansion * m.hidden_size), m.num_layers, digits, 0.0
    )
    cos, sin = sotaku.grid_rope_tables(m.seq_len, m.hidden_size // m.num_heads, m.rope_theta)
    v = {"params": params["dense"]}
    x = jax.nn.one_hot(batch["inputs"] - 1, digits + 1)
    h = net.apply(v, x, method=net.encode)
    preds = jnp.zeros(batch["inputs"].shape + (digits,))
    blank = batch["inputs"] == 1
    total = 0.0
    for _ in range(iters):
        if detach:
            h, preds = jax.lax.stop_gradient((h, preds))
        h, logits = net.apply(v, h, preds, cos, sin, method=net.iterate)
        preds = jax.nn.softmax(logits)
        logp = jax.nn.log_softmax(logits)
        ce = -jnp.take_along_axis(logp, (batch["labels"] - 2)[..., None], -1)[..., 0]
        total = total + jnp.where(blank, ce, 0).sum() / blank.sum()
    return total / iters


def test_gradient_flows_through_every_iteration():
    c = make_config(side=4, iters=3, dropout=0.0)
    batch = random_batch(side=4)
    model, params = init(c, batch)
    g_model = jax.grad(lambda d: train_loss(model, {**params, "dense": d}, batch)[0])(
        params["dense"]
    )
    full = jax.grad(lambda d: per_iteration_loss(c, {"dense": d}, batch, 3))(params["dense"])
    cut = jax.grad(lambda d: per_iteration_loss(c, {"dense": d}, batch, 3, detach=True))(
        params["dense"]
    )
    close = lambda a, b: all(
        np.allclose(x, y, atol=1e-6, rtol=1e-5)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    assert close(g_model, full)  # full BPTT: the unrolled, undetached gradient
    assert not close(g_model, cut)  # not the per-iteration (detached) one
    # The input projection, used once before the first iteration, gets gradient from the LAST
    # iteration's loss through the whole chain.
    last_only = jax.grad(
        lambda d: (
            per_iteration_loss(c, {"dense": d}, batch, 3)
            - per_iteration_loss(c, {"dense": d}, batch, 2) * 2 / 3
        )
    )(params["dense"])
    assert np.abs(last_only["initial_encoder"]["kernel"]).max() > 1e-6


def test_loss_counts_only_blank_cells():
    c = make_config(side=4, dropout=0.0)
    batch = random_batch(side=4)
    model, params = init(c, batch)
    base, _ = train_loss(model, params, batch)
    labels = np.asarray(batch["labels"]).copy()
    labels[:, 1] = 2 + (labels[:, 1] - 1) % 4  # cell 1 is given in every row: another digit
    same, _ = train_loss(model, params, {**batch, "labels": jnp.asarray(labels)})
    assert float(same) == float(base)
    labels[:, 0] = 2 + (labels[:, 0] - 1) % 4  # cell 0 is blank in every row
    changed, _ = train_loss(model, params, {**batch, "labels": jnp.asarray(labels)})
    assert abs(float(changed) - float(base)) > 1e-4


def test_batch_tokens_normalisation_is_a_batch_token_mean_and_row_a_row_mean():
    c = make_config(side=4, dropout=0.0, iters=2)
    batch = random_batch(side=4)
    model, params = init(c, batch)
    loss, out = train_loss(model, params, batch)
    np.testing.assert_allclose(loss, per_iteration_loss(c, params, batch, 2), rtol=1e-5)
    c.sotaku.loss_norm = "row"
    _, out_row = train_loss(models.build(c), params, batch)
    blanks = (np.asarray(batch["inputs"]) == 1).sum(-1)
    np.testing.assert_allclose(
        out_row.losses[sotaku.LOSS_NAME] * blanks,
        out.losses[sotaku.LOSS_NAME] * blanks.mean(),
        rtol=1e-5,
    )


def test_dropout_only_with_a_key_in_training():
    c = make_config(side=4, dropout=0.1)
    batch = random_batch(side=4)
    model, params = init(c, batch)
    carry = model.initial_carry(batch)
    evaluate = lambda rng: model.apply(params, carry, batch, rng=rng, training=False)[1].logits
    a, b = evaluate(None), evaluate(jax.random.PRNGKey(5))
    np.testing.assert_array_equal(a, b)  # evaluation ignores the key: deterministic
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    l1, o1 = train_loss(model, params, batch, k1)
    l1b, _ = train_loss(model, params, batch, k1)
    l2, _ = train_loss(model, params, batch, k2)
    l0, o0 = train_loss(model, params, batch, None)
    assert float(l1) == float(l1b) and float(l1) != float(l2)
    assert not np.allclose(o1.logits, a)  # dropout changed the training forward
    np.testing.assert_allclose(o0.logits, a, atol=1e-6)  # no key: no dropout
    c0 = make_config(side=4, dropout=0.0)
    _, o = train_loss(models.build(c0), params, batch, k1)
    np.testing.assert_allclose(o.logits, a, atol=1e-6)  # rate 0: the key changes nothing


def test_iteration_count_changes_at_test_time_and_nothing_else():
    batch = random_batch(side=4)
    c32 = make_config(side=4, iters=32)
    model32, params = init(c32, batch)
    all_logits = sotaku.iterate_all(c32, params, batch["inputs"], 32)
    blank = np.asarray(batch["inputs"]) == 1
    for train_iters, eval_iters in ((32, 0), (32, 16), (4, 16), (16, 0)):
        c = make_config(side=4, iters=train_iters, eval_iterations=eval_iters)
        model = models.build(c)
        shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
        assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, params)
        carry, out = model.apply(params, model.initial_carry(batch), batch, training=False)
        n = eval_iters or train_iters
        assert int(carry["iterations"][0]) == n
        np.testing.assert_allclose(
            np.asarray(out.logits)[..., 2:][blank], all_logits[n - 1][blank], atol=2e-5
        )


def test_logits_copy_the_givens_and_predict_digits_on_blanks():
    c = make_config(side=4)
    batch = random_batch(side=4)
    model, params = init(c, batch)
    _, out = model.apply(params, model.initial_carry(batch), batch, training=False)
    pred = np.asarray(jnp.argmax(out.logits, -1))
    inputs = np.asarray(batch["inputs"])
    given = inputs != 1
    np.testing.assert_array_equal(pred[given], inputs[given])
    assert (pred[~given] >= 2).all()
    assert out.logits.shape == (3, 16, 6) and out.logits.dtype == jnp.float32
    assert (np.asarray(out.logits)[..., :2][~given] == sotaku.NEG).all()


def test_config_checks():
    c = make_config()
    c.data.source = "sudoku"
    c.model.update(dict(vocab_size=0, seq_len=0, num_puzzle_identifiers=0))
    validate(c)
    c.recursion.gradient = "last_recursion"
    with pytest.raises(ConfigError, match="full"):
        validate(c)
    c = make_config(loss_norm="mean")
    c.data.source = "sudoku"
    with pytest.raises(ConfigError, match="loss_norm"):
        validate(c)
    with pytest.raises(ValueError, match="square"):
        sotaku.grid_rope_tables(12, 32)
