"""Numerical parity with the official TRM code, through the checkpoint converter.

The fixtures in tests/fixtures/trm_parity/ were produced by running the official PyTorch code
(see the README there): a tiny TRM-Att and a tiny TRM-MLP in fp32, their weights, the outputs of
`halt_max_steps` evaluation segments, and one training step's loss, metrics and gradients. This
test converts the weights with `rrm_jax.convert.from_official` and checks that our model gives
the same numbers. No torch is needed here.

Tolerances (fp32 on both sides; measured on CPU, the bounds leave a 4-10x margin):
* segment outputs from the official carry of the previous segment ("teacher-forced"): max
  |ours - official| / max |official| <= 2e-5 for every quantity and segment (measured: <= 9.3e-7
  TRM-Att, <= 4.3e-6 TRM-MLP).
* free-running segments (our own carry fed back): the recursion amplifies fp32 rounding. Shown
  on the official model alone: moving every official weight by one ulp moves TRM-MLP's logits
  by 3.7e-6, 1.5e-5, 1.6e-4, 3.0e-4 (relative to their max) at segments 1-4, the same growth as
  ours vs official (2.2e-6, 1.0e-5, 9.3e-5, 2.6e-4; final carry 3.9e-4). So the bounds grow per
  segment for TRM-MLP; TRM-Att is better conditioned (<= 3.7e-6 at every segment).
* loss: relative 1e-5 (measured 4.6e-8 TRM-Att, 2.9e-7 TRM-MLP; the official stablemax runs in
  fp64, ours in fp32). Gradients: |d| <= 1e-4 * |official| + 5e-5 * max |official| per tensor
  (measured max |d| / max |official|: <= 1.9e-6 TRM-Att, <= 1.2e-5 TRM-MLP, where a one-ulp move
  of the official weights alone moves the official gradients by 2.4e-6 and 1.0e-5).
"""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import act, losses, models
from rrm_jax.convert import (
    config_from_official,
    from_official,
    load_official_checkpoint,
    to_official,
)
from tests.convert import parity

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "trm_parity"
NAMES = ("trm_att", "trm_mlp")

TEACHER_FORCED = 2e-5
FREE_RUNNING = {  # per segment, max |d| / max |official|
    "trm_att": (2e-5, 2e-5, 3e-5, 3e-5),
    "trm_mlp": (2e-5, 1e-4, 1e-3, 2e-3),
}
LOSS_RTOL = 1e-5


@functools.cache
def _fixture(name: str):
    path = FIXTURES / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"fixture {path.name} is missing")
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    official = json.loads(str(data["config_json"]))
    config = config_from_official(official)
    sd = {k[len("sd/") :]: v for k, v in data.items() if k.startswith("sd/")}
    batch = {k: jnp.asarray(data["batch/" + k]) for k in ("inputs", "labels", "puzzle_identifiers")}
    return data, config, sd, batch


@functools.cache
def _model(name: str):
    _, config, sd, _ = _fixture(name)
    model = models.build(config)
    return model, from_official(sd, config), jax.jit(model.apply)


def _assert_close_of_max(ours, ref, bound, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    err = float(np.abs(ours - ref).max()) / max(float(np.abs(ref).max()), 1e-30)
    assert err <= bound, f"{what}: max|d|/max|ref| = {err:.3g} > {bound:.3g}"


def _reset(model, params, batch):
    b = batch["inputs"].shape[0]
    return model.reset_carry(params, model.initial_carry(batch), jnp.ones((b,), bool))


@pytest.mark.parametrize("name", NAMES)
def test_forward_segments_match_the_official_model(name):
    data, config, _, batch = _fixture(name)
    model, params, apply = _model(name)
    n = config.act.max_steps
    assert data["fwd/logits"].shape[0] == n

    # Free-running, as an evaluation: our carry goes into the next segment.
    carry = _reset(model, params, batch)
    for s in range(n):
        carry, out = apply(params, carry, batch)
        bound = FREE_RUNNING[name][s]
        _assert_close_of_max(out.logits, data["fwd/logits"][s], bound, f"logits[{s}]")
        _assert_close_of_max(out.q_halt, data["fwd/q_halt"][s], bound, f"q_halt[{s}]")
        _assert_close_of_max(out.q_continue, data["fwd/q_continue"][s], bound, f"q_continue[{s}]")
    _assert_close_of_max(carry["y"], data["fwd/z_H"][-1], 1.5 * bound, "final z_H")
    _assert_close_of_max(carry["z"], data["fwd/z_L"][-1], 1.5 * bound, "final z_L")

    # Teacher-forced: each segment starts from the official carry of the previous one.
    carry = _reset(model, params, batch)
    for s in range(n):
        if s > 0:
            carry = {
                "y": jnp.asarray(data["fwd/z_H"][s - 1]),
                "z": jnp.asarray(data["fwd/z_L"][s - 1]),
            }
        carry, out = apply(params, carry, batch)
        for ours, key in (
            (out.logits, "logits"),
            (out.q_halt, "q_halt"),
            (out.q_continue, "q_continue"),
            (carry["y"], "z_H"),
            (carry["z"], "z_L"),
        ):
            _assert_close_of_max(ours, data[f"fwd/{key}"][s], TEACHER_FORCED, f"{key}[{s}] (tf)")
    # Evaluation halts only at max_steps, as the official eval mode does.
    steps = jnp.zeros(data["fwd/halted"].shape[1:], jnp.int32)
    for s in range(n):
        steps, halted = act.halt(
            steps,
            out.q_halt,
            out.q_continue,
            None,
            max_steps=n,
            exploration_prob=0.0,
            training=False,
        )
        np.testing.assert_array_equal(halted, data["fwd/halted"][s])


@pytest.mark.parametrize("name", NAMES)
def test_loss_and_gradients_match_the_official_training_step(name):
    data, config, _, batch = _fixture(name)
    model, params, _ = _model(name)
    b = batch["inputs"].shape[0]
    carry = _reset(model, params, batch)
    loss, (_, out, parts, _), (g_dense, g_rows) = parity.training_segment(
        model, config, params, carry, batch
    )

    np.testing.assert_allclose(float(loss) * b, data["grad_run/loss"], rtol=LOSS_RTOL)
    for k, v in parts.items():
        np.testing.assert_allclose(float(v), data["metrics/" + k], rtol=LOSS_RTOL, err_msg=k)

    # Halting (exploration 0: q_halt > 0) and the metrics over the halted rows.
    steps, halted = act.halt(
        jnp.zeros((b,), jnp.int32),
        out.q_halt,
        out.q_continue,
        jax.random.PRNGKey(0),
        max_steps=config.act.max_steps,
        exploration_prob=0.0,
        training=True,
    )
    np.testing.assert_array_equal(halted, data["grad_run/halted"])
    np.testing.assert_array_equal(steps, data["grad_run/steps"])
    metrics = losses.segment_metrics(out.logits, out.q_halt, batch["labels"], steps, halted)
    for k, v in metrics.items():
        np.testing.assert_allclose(float(v), data["metrics/" + k], rtol=1e-6, err_msg=k)

    # Every official parameter gradient, mapped back to official names and layouts.
    parity.assert_official_gradients(params, g_dense, g_rows, config, data)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_is_exact(name):
    _, config, sd, _ = _fixture(name)
    params = from_official(sd, config)
    parity.assert_round_trip(params, config, sd)


def test_wrapper_prefixes_and_non_persistent_buffers_are_accepted():
    _, config, sd, _ = _fixture("trm_att")
    wrapped = {"_orig_mod.model." + k: v for k, v in sd.items()}
    wrapped["_orig_mod.model.inner.rotary_emb.cos_cached"] = np.zeros((18, 16), np.float32)
    wrapped["_orig_mod.model.inner.puzzle_emb.local_weights"] = np.zeros((3, 32), np.float32)
    a, b = from_official(wrapped, config), from_official(sd, config)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_learned_positions_round_trip():
    _, config, _, batch = _fixture("trm_att")
    config = config.copy_and_resolve_references()
    config.model.pos_encodings = "learned"
    model = models.build(config)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(s.dtype), shapes)
    sd = to_official(params, config)
    assert sd["inner.embed_pos.embedding_weight"].shape == (16 + 2, 32)
    back = from_official(sd, config)
    jax.tree.map(np.testing.assert_array_equal, back, params)


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda sd: sd.pop("inner.L_level.layers.1.mlp.down_proj.weight"),
            r"missing key 'inner\.L_level\.layers\.1\.mlp\.down_proj\.weight'",
        ),
        (
            lambda sd: sd.update({"inner.q_head.weight": np.zeros((2, 31), np.float32)}),
            r"'inner\.q_head\.weight' has shape \(2, 31\), expected \(2, 32\)",
        ),
        (
            lambda sd: sd.update(
                {"inner.L_level.layers.0.self_attn.qkv_proj.weight": np.zeros((32, 96), np.float32)}
            ),
            r"'inner\.L_level\.layers\.0\.self_attn\.qkv_proj\.weight' has shape \(32, 96\)",
        ),
        (
            lambda sd: sd.update(
                {"inner.L_level.layers.2.mlp.down_proj.weight": np.zeros((32, 256), np.float32)}
            ),
            r"unexpected key 'inner\.L_level\.layers\.2\.mlp\.down_proj\.weight'",
        ),
        (lambda sd: sd.pop("inner.H_init"), r"missing key 'inner\.H_init'"),
    ],
)
def test_bad_state_dicts_are_rejected_naming_the_key(edit, match):
    _, config, sd, _ = _fixture("trm_att")
    sd = dict(sd)
    edit(sd)
    with pytest.raises(ValueError, match=match):
        from_official(sd, config)


def test_mixer_mismatch_is_rejected():
    _, config, _, _ = _fixture("trm_att")
    _, _, mlp_sd, _ = _fixture("trm_mlp")
    with pytest.raises(ValueError, match=r"unexpected key 'inner\.L_level\.layers\.0\.mlp_t"):
        from_official(mlp_sd, config)


def test_loading_a_checkpoint_without_torch_says_so(monkeypatch, tmp_path):
    _, config, _, _ = _fixture("trm_att")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"not a numpy archive")
    with pytest.raises(ImportError, match="needs PyTorch"):
        load_official_checkpoint(path, config)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_official_checkpoint(tmp_path / "absent.pt", config)


def test_separate_nets_have_no_official_counterpart():
    _, config, sd, _ = _fixture("trm_att")
    config = config.copy_and_resolve_references()
    config.model.separate_nets = True
    with pytest.raises(ValueError, match=r"separate_nets=True .* no counterpart"):
        from_official(sd, config)
