"""Numerical parity with the official HRM code, through the checkpoint converter.

The fixture tests/fixtures/hrm_parity/hrm.npz was produced by running the official PyTorch code
(see the README there): a tiny HRM in fp32 (two 2-block modules, hidden 16, a 2-token puzzle
prefix), its weights, the outputs of `halt_max_steps` evaluation segments, one training call's
loss, metrics, continue target and gradients, and the continue target of a last segment. This
test converts the weights with `rrm_jax.convert.from_official` and checks that our model gives
the same numbers. No torch is needed here.

Tolerances (fp32 on both sides; measured on CPU):
* every segment output (logits, q_halt, q_continue, the new z_H and z_L), free-running (our
  carry fed back) and teacher-forced (from the official carry): max |ours - official| <= 1e-5
  (measured: <= 1.3e-6 at every segment, both ways; HRM's post-norm recursion does not amplify
  it over the 4 segments of this fixture).
* loss: relative 1e-5 (measured 2.2e-8; the official stablemax runs in fp64, ours in fp32);
  loss parts the same; the continue targets: max |d| <= 1e-5 (measured 1.2e-7).
* gradients: |d| <= 1e-4 * |official| + 5e-5 * max |official| per tensor, as the TRM test
  (measured max |d| <= 1.9e-7, max |d| / max |official| <= 1.5e-6).
"""

from __future__ import annotations

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import act, losses, models
from rrm_jax.convert import config_from_official, from_official, to_official
from tests.convert import parity

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hrm_parity" / "hrm.npz"

FORWARD_ATOL = 1e-5
LOSS_RTOL = 1e-5
TARGET_ATOL = 1e-5


@functools.cache
def _fixture():
    if not FIXTURE.exists():
        pytest.skip(f"fixture {FIXTURE.name} is missing")
    with np.load(FIXTURE, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    config = config_from_official(json.loads(str(data["config_json"])))
    sd = {k[len("sd/") :]: v for k, v in data.items() if k.startswith("sd/")}
    batch = {k: jnp.asarray(data["batch/" + k]) for k in ("inputs", "labels", "puzzle_identifiers")}
    return data, config, sd, batch


@functools.cache
def _model():
    _, config, sd, _ = _fixture()
    model = models.build(config)
    return model, from_official(sd, config), jax.jit(model.apply, static_argnames="training")


def _assert_max_abs(ours, ref, atol, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    err = float(np.abs(ours - ref).max())
    assert err <= atol, f"{what}: max |d| = {err:.3g} > {atol:.3g}"


def _reset(model, params, batch):
    b = batch["inputs"].shape[0]
    return model.reset_carry(params, model.initial_carry(batch), jnp.ones((b,), bool))


def test_the_fixture_is_the_official_hrm_configuration():
    data, config, _, _ = _fixture()
    m, r, a = config.model, config.recursion, config.act
    assert (m.name, m.num_layers, m.h_layers, m.puzzle_emb_len) == ("hrm", 2, 2, 0)
    assert models.build(config).prefix_len == 2  # ceil(24 / 16): a zero-padded second token
    assert (r.cycles, r.latent_steps, r.gradient) == (2, 2, "one_step")
    assert (a.halt_rule, a.max_steps) == ("q_halt_vs_continue", 4)
    # The training call halts some rows on q_halt > q_continue and not others, no near-ties.
    margin = data["grad_run/q_halt"] - data["grad_run/q_continue"]
    assert (margin > 0).any() and (margin < 0).any() and np.abs(margin).min() > 0.05


def test_forward_segments_match_the_official_model():
    data, config, _, batch = _fixture()
    model, params, apply = _model()
    n = config.act.max_steps
    assert data["fwd/logits"].shape[0] == n
    names = ("logits", "q_halt", "q_continue", "z_H", "z_L")

    def outputs(carry, out):
        return dict(
            zip(
                names,
                (out.logits, out.q_halt, out.q_continue, carry["z_H"], carry["z_L"]),
                strict=True,
            )
        )

    # Free-running, as an evaluation: our carry goes into the next segment.
    carry = _reset(model, params, batch)
    for s in range(n):
        carry, out = apply(params, carry, batch)
        for key, ours in outputs(carry, out).items():
            _assert_max_abs(ours, data[f"fwd/{key}"][s], FORWARD_ATOL, f"{key}[{s}]")

    # Teacher-forced: each segment starts from the official carry of the previous one.
    carry = _reset(model, params, batch)
    for s in range(n):
        if s > 0:
            carry = {
                "z_H": jnp.asarray(data["fwd/z_H"][s - 1]),
                "z_L": jnp.asarray(data["fwd/z_L"][s - 1]),
            }
        carry, out = apply(params, carry, batch)
        for key, ours in outputs(carry, out).items():
            _assert_max_abs(ours, data[f"fwd/{key}"][s], FORWARD_ATOL, f"{key}[{s}] (tf)")

    # Evaluation halts only at max_steps, as the official eval mode does.
    steps = jnp.zeros(data["fwd/halted"].shape[1:], jnp.int32)
    for s in range(n):
        steps, halted = act.halt(
            steps,
            jnp.asarray(data["fwd/q_halt"][s]),
            jnp.asarray(data["fwd/q_continue"][s]),
            None,
            max_steps=n,
            exploration_prob=0.0,
            rule=config.act.halt_rule,
            training=False,
        )
        np.testing.assert_array_equal(halted, data["fwd/halted"][s])


def test_loss_target_and_gradients_match_the_official_training_step():
    data, config, _, batch = _fixture()
    model, params, _ = _model()
    a = config.act
    b = batch["inputs"].shape[0]
    carry = _reset(model, params, batch)
    steps0 = jnp.zeros((b,), jnp.int32)
    loss, (_, out, parts, target), (g_dense, g_rows) = parity.training_segment(
        model, config, params, carry, batch
    )

    np.testing.assert_allclose(float(loss) * b, data["grad_run/loss"], rtol=LOSS_RTOL)
    assert set(parts) == {"lm_loss", "q_halt_loss", "q_continue_loss"}
    for k, v in parts.items():
        np.testing.assert_allclose(float(v), data["metrics/" + k], rtol=LOSS_RTOL, err_msg=k)
    _assert_max_abs(out.q_halt, data["grad_run/q_halt"], FORWARD_ATOL, "q_halt")
    _assert_max_abs(out.q_continue, data["grad_run/q_continue"], FORWARD_ATOL, "q_continue")
    _assert_max_abs(target, data["grad_run/target_q_continue"], TARGET_ATOL, "target_q_continue")

    # Halting (exploration 0: q_halt > q_continue) and the metrics over the halted rows.
    steps, halted = act.halt(
        steps0,
        out.q_halt,
        out.q_continue,
        jax.random.PRNGKey(0),
        max_steps=a.max_steps,
        exploration_prob=0.0,
        rule=a.halt_rule,
        training=True,
    )
    np.testing.assert_array_equal(halted, data["grad_run/halted"])
    np.testing.assert_array_equal(steps, data["grad_run/steps"])
    metrics = losses.segment_metrics(out.logits, out.q_halt, batch["labels"], steps, halted)
    for k, v in metrics.items():
        np.testing.assert_allclose(float(v), data["metrics/" + k], rtol=1e-6, err_msg=k)

    # Every official parameter gradient, mapped back to official names and layouts. Only the
    # last f_L and f_H calls carry gradient on both sides (the 1-step gradient); the official
    # target is computed under no_grad, so matching gradients also show none flows through ours.
    expected = parity.assert_official_gradients(params, g_dense, g_rows, config, data)
    assert any(k.startswith("inner.H_level.") for k in expected)
    assert any(k.startswith("inner.L_level.") for k in expected)


def test_continue_target_of_a_last_segment_matches():
    # The official call with steps = halt_max_steps - 1: the target is sigmoid(next q_halt).
    data, config, _, batch = _fixture()
    model, params, apply = _model()
    latent_in = {
        "z_H": jnp.asarray(data["last_step/z_H_in"]),
        "z_L": jnp.asarray(data["last_step/z_L_in"]),
    }
    steps_in = jnp.asarray(data["last_step/steps_in"])
    assert int(steps_in.min()) == config.act.max_steps - 1
    latent, out = apply(params, latent_in, batch, training=True)
    _assert_max_abs(out.q_halt, data["last_step/q_halt"], FORWARD_ATOL, "q_halt")
    _assert_max_abs(out.q_continue, data["last_step/q_continue"], FORWARD_ATOL, "q_continue")
    target = act.q_continue_target(
        model, params, latent, batch, steps_in, max_steps=config.act.max_steps
    )
    _assert_max_abs(target, data["last_step/target_q_continue"], TARGET_ATOL, "target")
    _, halted = act.halt(
        steps_in,
        out.q_halt,
        out.q_continue,
        jax.random.PRNGKey(0),
        max_steps=config.act.max_steps,
        exploration_prob=0.0,
        rule=config.act.halt_rule,
        training=True,
    )
    np.testing.assert_array_equal(halted, data["last_step/halted"])


def test_round_trip_is_exact():
    _, config, sd, _ = _fixture()
    params = from_official(sd, config)
    assert set(params["dense"]) == {"embed", "net_L", "net_H", "heads"}
    assert set(params["const"]) == {"z_H_init", "z_L_init"}
    np.testing.assert_array_equal(params["const"]["z_H_init"], sd["inner.H_init"])
    np.testing.assert_array_equal(params["const"]["z_L_init"], sd["inner.L_init"])
    np.testing.assert_array_equal(
        params["dense"]["net_H"]["layers_1"]["mlp"]["down_proj"]["kernel"],
        sd["inner.H_level.layers.1.mlp.down_proj.weight"].T,
    )
    parity.assert_round_trip(params, config, sd)


def test_h_and_l_layer_counts_may_differ():
    _, config, sd, _ = _fixture()
    config = config.copy_and_resolve_references()
    config.model.h_layers = 1
    sd = {k: v for k, v in sd.items() if not k.startswith("inner.H_level.layers.1.")}
    params = from_official(sd, config)
    assert set(params["dense"]["net_H"]) == {"layers_0"}
    assert set(params["dense"]["net_L"]) == {"layers_0", "layers_1"}
    shapes = jax.eval_shape(models.build(config).init, jax.random.PRNGKey(0), None)
    assert jax.tree.structure(params) == jax.tree.structure(shapes)


def test_learned_positions_round_trip():
    _, config, _, batch = _fixture()
    config = config.copy_and_resolve_references()
    config.model.pos_encodings = "learned"
    model = models.build(config)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(s.dtype), shapes)
    sd = to_official(params, config)
    assert sd["inner.embed_pos.embedding_weight"].shape == (16 + 2, 16)
    jax.tree.map(np.testing.assert_array_equal, from_official(sd, config), params)


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda sd: sd.pop("inner.H_level.layers.1.mlp.down_proj.weight"),
            r"missing key 'inner\.H_level\.layers\.1\.mlp\.down_proj\.weight'",
        ),
        (lambda sd: sd.pop("inner.L_init"), r"missing key 'inner\.L_init'"),
        (
            lambda sd: sd.update(
                {"inner.L_level.layers.0.self_attn.qkv_proj.weight": np.zeros((16, 48), np.float32)}
            ),
            r"'inner\.L_level\.layers\.0\.self_attn\.qkv_proj\.weight' has shape \(16, 48\), "
            r"expected \(48, 16\)",
        ),
        (
            lambda sd: sd.update({"inner.puzzle_emb.weights": np.zeros((5, 16), np.float32)}),
            r"'inner\.puzzle_emb\.weights' has shape \(5, 16\), expected \(5, 24\)",
        ),
        (
            lambda sd: sd.update(
                {"inner.H_level.layers.2.mlp.down_proj.weight": np.zeros((16, 256), np.float32)}
            ),
            r"unexpected key 'inner\.H_level\.layers\.2\.mlp\.down_proj\.weight'.*h_layers=2",
        ),
    ],
)
def test_bad_state_dicts_are_rejected_naming_the_key(edit, match):
    _, config, sd, _ = _fixture()
    sd = dict(sd)
    edit(sd)
    with pytest.raises(ValueError, match=match):
        from_official(sd, config)


def test_an_hrm_checkpoint_under_a_trm_config_is_rejected_with_a_hint():
    _, config, sd, _ = _fixture()
    config = config.copy_and_resolve_references()
    config.model.name = "trm"
    config.model.puzzle_emb_len = 2
    with pytest.raises(ValueError, match=r"unexpected key 'inner\.H_level.*set model\.name='hrm'"):
        from_official(sd, config)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("mixer", "mlp", r"official HRM has attention blocks only"),
        ("pos_encodings", "none", r"supports 'rope' and 'learned' only"),
        ("puzzle_emb_len", 1, r"official HRM uses ceil\(puzzle_emb_ndim / hidden_size\) = 2"),
    ],
)
def test_configs_the_official_hrm_cannot_express_are_rejected(field, value, match):
    _, config, sd, _ = _fixture()
    config = config.copy_and_resolve_references()
    config.model[field] = value
    with pytest.raises(ValueError, match=match):
        from_official(sd, config)
    with pytest.raises(ValueError, match=match):
        to_official(from_official(sd, _fixture()[1]), config)


def test_the_continue_target_carries_no_gradient():
    _, config, _, batch = _fixture()
    model, params, _ = _model()
    latent = _reset(model, params, batch)
    steps = jnp.zeros((batch["inputs"].shape[0],), jnp.int32)

    def target_sum(dense, latent):
        p = {**params, "dense": dense}
        return act.q_continue_target(
            model, p, latent, batch, steps, max_steps=config.act.max_steps
        ).sum()

    g_dense, g_latent = jax.grad(target_sum, argnums=(0, 1))(params["dense"], latent)
    for g in jax.tree.leaves((g_dense, g_latent)):
        assert not np.asarray(g).any()
