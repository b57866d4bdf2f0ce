"""PTRM's noise, the K x D rollout program, the selection rules and the scaling harness."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import models
from rrm_jax.config import ConfigError, base_config, validate
from rrm_jax.eval import evaluate as eval_lib
from rrm_jax.eval import rollouts as rollouts_lib
from rrm_jax.eval import scaling, selection
from rrm_jax.models import ptrm
from rrm_jax.models.base import Model, Outputs

B, L, V = 3, 9, 6


def _config(sigma=0.5, **ptrm_fields):
    c = base_config()
    c.model.update(
        dict(
            vocab_size=V,
            seq_len=L,
            num_puzzle_identifiers=4,
            hidden_size=16,
            num_heads=2,
            puzzle_emb_ndim=16,
            puzzle_emb_len=2,
            dtype="float32",
        )
    )
    c.recursion.update(dict(cycles=2, latent_steps=2))
    c.act.update(dict(max_steps=4))
    c.ptrm.sigma = sigma
    for k, v in ptrm_fields.items():
        (c.ptrm if k in c.ptrm else c.sampling)[k] = v
    c.data.update(dict(source="sudoku"))
    return c


@functools.cache
def _setup(sigma=0.5, target="z"):
    """A small TRM with its heads and puzzle rows perturbed (so q_halt and the rows vary; the
    nets keep their init, whose recursion is contractive, not chaotic)."""
    c = _config(sigma, target=target)
    model = models.build(c)
    params = model.init(jax.random.PRNGKey(0), {})

    def shake(tree, seed):
        leaves, treedef = jax.tree.flatten(tree)
        keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
        leaves = [
            x + 0.3 * jax.random.normal(k, x.shape, x.dtype)
            for x, k in zip(leaves, keys, strict=True)
        ]
        return jax.tree.unflatten(treedef, leaves)

    dense = {**params["dense"], "heads": shake(params["dense"]["heads"], 1)}
    return c, model, {**params, "dense": dense, "puzzle_emb": shake(params["puzzle_emb"], 2)}


def _batch(b=B, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, V, (b, L)).astype(np.int32)
    return {
        "inputs": rng.integers(1, V, (b, L)).astype(np.int32),
        "labels": labels,
        "puzzle_identifiers": rng.integers(0, 4, (b,)).astype(np.int32),
        "valid": np.ones((b,), bool),
    }


@functools.cache
def _run(rollouts, steps, record=None, chunk=0, noise=True):
    _, model, _ = _setup()
    fn = rollouts_lib.make_rollouts(
        model, rollouts=rollouts, steps=steps, record=record, chunk=chunk, noise=noise
    )
    return jax.jit(fn)


# --- the noise ------------------------------------------------------------------------------


def test_noise_off_is_the_deterministic_model_exactly():
    c, noisy, params = _setup()
    c0 = _config(sigma=0.0)
    plain = models.build(c0)
    assert noisy.stochastic and not plain.stochastic
    batch = _batch()
    carry = plain.reset_carry(params, plain.initial_carry(batch), jnp.ones((B,), bool))
    want_c, want = plain.apply(params, carry, batch)
    for kwargs in ({}, {"rng": None}, {"rng": jax.random.PRNGKey(3), "training": True}):
        got_c, got = noisy.apply(params, carry, batch, **kwargs)
        np.testing.assert_array_equal(got.logits, want.logits)
        np.testing.assert_array_equal(got_c["z"], want_c["z"])
    _, shaken = noisy.apply(params, carry, batch, rng=jax.random.PRNGKey(3))
    assert np.abs(np.asarray(shaken.logits - want.logits)).max() > 1e-3


def test_deterministic_rollout_equals_the_evaluator_depth_curve():
    """noise=False, K=1: the grid's depth column equals make_eval_step's exact_by_segment."""
    c, model, params = _setup()
    batch = _batch(8, seed=4)
    step = jax.jit(scaling.make_grid_step(model, widths=(1,), depths=(1, 2, 3, 4), noise=False))
    sums, _ = step(params, batch, jax.random.PRNGKey(0))
    evaluator = jax.jit(eval_lib.make_eval_step(model, c))
    want, rows = evaluator(params, batch)
    np.testing.assert_array_equal(sums["best_q"][:, 0], want["exact_by_segment"])
    raw = _run(1, 4, noise=False)(params, batch, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(raw["preds"][0, :, 0], rows["preds"])
    np.testing.assert_array_equal(raw["q_halt"][0, :, 0], rows["q_halt"])


@pytest.mark.parametrize("target,key", [("z", "z"), ("y", "y")])
def test_noise_lands_on_the_chosen_state_with_scale_sigma(target, key):
    carry = {"y": jnp.zeros((64, 10, 32)), "z": jnp.zeros((64, 10, 32))}
    out = ptrm.add_noise(
        carry, jax.random.PRNGKey(0), key=key, sigma=0.3, prefix_len=2, positions="all"
    )
    other = "y" if key == "z" else "z"
    np.testing.assert_array_equal(out[other], carry[other])
    assert float(jnp.std(out[key])) == pytest.approx(0.3, rel=0.02)
    assert abs(float(jnp.mean(out[key]))) < 0.01
    spared = ptrm.add_noise(
        carry, jax.random.PRNGKey(0), key=key, sigma=0.3, prefix_len=2, positions="content"
    )
    np.testing.assert_array_equal(spared[key][:, :2], 0.0)
    np.testing.assert_array_equal(spared[key][:, 2:], out[key][:, 2:])


def test_per_row_keys_make_a_row_independent_of_the_others():
    keys = jax.random.split(jax.random.PRNGKey(7), 5)
    whole = ptrm.gaussian_like(keys, (5, 4, 3))
    alone = ptrm.gaussian_like(keys[2:3], (1, 4, 3))
    np.testing.assert_array_equal(whole[2], alone[0])
    raw = jax.random.split(jax.random.PRNGKey(7), 5)  # uint32 [5, 2] keys work too
    assert ptrm.row_keys(raw, 5).shape == (5, 2)
    assert ptrm.row_keys(jax.random.key(0), 5).shape == (5,)
    with pytest.raises(ValueError, match="one per row"):
        ptrm.row_keys(raw, 4)


def test_noise_switches_are_checked():
    c = _config()
    c.ptrm.target = "x"
    with pytest.raises(ConfigError, match="ptrm.target"):
        validate(c)
    c = _config(rollouts=6, rollout_chunk=4)
    with pytest.raises(ConfigError, match="rollout_chunk"):
        validate(c)
    _, plain, _ = _setup()
    with pytest.raises(ValueError, match="deterministic"):
        rollouts_lib.make_rollouts(models.build(_config(0.0)), rollouts=2, steps=1)
    with pytest.raises(ValueError, match="depths"):
        rollouts_lib.make_rollouts(plain, rollouts=2, steps=2, record=(3,))


# --- the rollout program ----------------------------------------------------------------------


def test_same_key_same_rollouts_other_key_other_rollouts():
    _, _, params = _setup()
    batch = _batch()
    run = _run(4, 3, chunk=2)
    a = run(params, batch, jax.random.PRNGKey(0))
    b = run(params, batch, jax.random.PRNGKey(0))
    c = run(params, batch, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a["q_halt"], b["q_halt"])
    np.testing.assert_array_equal(a["preds"], b["preds"])
    assert not np.array_equal(a["q_halt"], c["q_halt"])
    q = np.asarray(a["q_halt"])[0]  # rollouts of one puzzle differ from each other
    assert len(np.unique(q[0])) == 4


def test_k_and_d_change_nothing_else():
    """The first K' rollouts after D' steps of a (K, D) run are the (K', D') run."""
    _, _, params = _setup()
    batch, key = _batch(), jax.random.PRNGKey(5)
    big = _run(4, 3, record=(1, 2, 3), chunk=2)(params, batch, key)
    small = _run(2, 2)(params, batch, key)  # chunk 2 = K: the same folded shape
    np.testing.assert_array_equal(big["preds"][1, :, :2], small["preds"][0])
    np.testing.assert_array_equal(big["q_halt"][1, :, :2], small["q_halt"][0])
    # Chunking changes the GEMM shapes, not the draws: equal to float tolerance.
    whole = _run(4, 3, record=(1, 2, 3))(params, batch, key)
    np.testing.assert_allclose(whole["q_halt"], big["q_halt"], atol=1e-5)
    np.testing.assert_array_equal(whole["preds"], big["preds"])


def test_a_puzzle_rollouts_do_not_depend_on_its_batch_mates():
    _, _, params = _setup()
    batch, key = _batch(), jax.random.PRNGKey(2)
    all_rows = _run(2, 2)(params, batch, key)
    first = jax.jit(rollouts_lib.make_rollouts(_setup()[1], rollouts=2, steps=2))(
        params, {k: v[:1] for k, v in batch.items()}, key
    )
    np.testing.assert_allclose(all_rows["q_halt"][:, :1], first["q_halt"], atol=1e-5)
    np.testing.assert_array_equal(all_rows["preds"][:, :1], first["preds"])


def test_chunking_bounds_the_compiled_memory():
    _, model, params = _setup()
    batch = {k: jnp.zeros((16, L), jnp.int32) for k in ("inputs",)}
    batch["puzzle_identifiers"] = jnp.zeros((16,), jnp.int32)

    def temp_bytes(chunk):
        fn = rollouts_lib.make_rollouts(model, rollouts=16, steps=2, chunk=chunk)
        compiled = jax.jit(fn).lower(params, batch, jax.random.PRNGKey(0)).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    assert temp_bytes(2) < 0.5 * temp_bytes(16)


# --- selection rules ----------------------------------------------------------------------------


def test_best_q_takes_the_largest_halt_logit_first_on_ties():
    q = jnp.array([[0.1, 0.5, 0.5, -1.0], [-3.0, -2.0, -4.0, -2.5]])
    np.testing.assert_array_equal(selection.best_q(q), [1, 1])


def test_mode_takes_the_most_frequent_answer_first_seen_on_ties():
    a, b, c = [1, 1], [2, 2], [3, 1]
    preds = jnp.array([[b, a, a, c], [a, b, b, a], [c, b, a, b], [a, b, c, a]])
    np.testing.assert_array_equal(selection.answer_counts(preds[0]), [1, 2, 2, 1])
    # a twice (first at 1) | a twice vs b twice: a seen first (0) | b | a (first at 0)
    np.testing.assert_array_equal(selection.mode(preds), [1, 0, 1, 0])


def test_pass_exact_and_pick():
    labels = jnp.array([[1, 2, -100]])
    preds = jnp.array([[[1, 2, 5], [1, 3, 0], [2, 2, 2]]])  # K=3 rollouts of one puzzle
    exact = selection.exact(preds, labels)
    np.testing.assert_array_equal(exact, [[True, False, False]])
    np.testing.assert_array_equal(selection.passed(exact), [True])
    np.testing.assert_array_equal(selection.passed(exact[:, 1:]), [False])
    np.testing.assert_array_equal(selection.pick(preds, jnp.array([2])), [[2, 2, 2]])
    with pytest.raises(ValueError, match="unknown selection"):
        selection.select("vote", preds, exact)


# --- the harness ------------------------------------------------------------------------------


def _coin_model() -> Model:
    """A stochastic toy: each step, each row draws (with its own key) whether its answer is
    right, which of two wrong answers it gives otherwise, and its halt logit."""

    def init(rng, batch):
        return {"dense": {}, "puzzle_emb": jnp.zeros((1, 1)), "const": {}}

    def initial_carry(batch):
        return {"t": jnp.zeros((batch["inputs"].shape[0],), jnp.int32)}

    def reset_carry(params, carry, reset):
        return {"t": jnp.where(reset, 0, carry["t"])}

    def apply(params, carry, batch, *, rng=None, training=False):
        b = batch["inputs"].shape[0]
        if rng is None:  # deterministic: the draws' medians
            u = jnp.full((b, 3), 0.5)
        else:
            u = jax.vmap(lambda k: jax.random.uniform(k, (3,)))(ptrm.row_keys(rng, b))
        right = u[:, 0] < 0.3 + 0.1 * carry["t"]  # deeper is better
        solution = batch["inputs"]  # the test feeds the solution as the input
        wrong = (solution + 1 + (u[:, 1:2] < 0.5)) % V
        answer = jnp.where(right[:, None], solution, wrong)
        q = jnp.where(right, u[:, 2], u[:, 2] - 0.6)  # Q prefers right answers, imperfectly
        return {"t": carry["t"] + 1}, Outputs(jax.nn.one_hot(answer, V), q, q)

    return Model(init, initial_carry, reset_carry, apply, L, 0, stochastic=True)


def _np_mode(answers):
    keys = [a.tobytes() for a in answers]
    counts = [keys.count(k) for k in keys]
    return int(np.argmax(counts))


def test_grid_sums_match_a_numpy_recount_of_the_rollouts():
    model = _coin_model()
    batch = _batch(12, seed=3)
    batch["inputs"] = batch["labels"].copy()
    batch["labels"][:, -2:] = -100  # ignored positions
    batch["valid"][-1] = False
    widths, depths = (1, 2, 5), (1, 3)
    key = jax.random.PRNGKey(11)
    step = jax.jit(scaling.make_grid_step(model, widths=widths, depths=depths, keep_rows=True))
    sums, rows = step({}, batch, key)
    raw = rollouts_lib.make_rollouts(model, rollouts=5, steps=3, record=depths)({}, batch, key)
    preds, q = np.asarray(raw["preds"]), np.asarray(raw["q_halt"])
    labels, valid = batch["labels"], batch["valid"]
    mask = labels != -100
    assert sums["count"] == valid.sum()
    for i in range(len(depths)):
        for j, k in enumerate(widths):
            want = dict(best_q=0.0, mode=0.0, pass_=0.0, mean=0.0)
            for b in np.flatnonzero(valid):
                ok = [(preds[i, b, r][mask[b]] == labels[b][mask[b]]).all() for r in range(k)]
                want["best_q"] += ok[int(np.argmax(q[i, b, :k]))]
                want["mode"] += ok[_np_mode(preds[i, b, :k])]
                want["pass_"] += any(ok)
                want["mean"] += np.mean(ok)
            assert sums["best_q"][i, j] == want["best_q"]
            assert sums["mode"][i, j] == want["mode"]
            assert sums["pass"][i, j] == want["pass_"]
            assert sums["rollout_mean"][i, j] == pytest.approx(want["mean"])
    # the rows kept for task evaluators are the selections at the largest (K, D)
    for b in range(12):
        r = int(np.argmax(q[-1, b]))
        np.testing.assert_array_equal(rows["preds/best_q"][b], preds[-1, b, r])
        np.testing.assert_array_equal(rows["preds/mode"][b], preds[-1, b, _np_mode(preds[-1, b])])
    assert sums["pass"][1, 2] > sums["best_q"][1, 0]  # the toy has something to gain from width


def test_table_compute_and_the_compute_matched_pairs(tmp_path):
    c = _config()
    assert scaling.blocks_per_segment(c) == 2 * (2 * 2 + 2)
    base = base_config()  # TRM's paper row: T=3, n=6, 2 layers
    assert scaling.blocks_per_segment(base) == 42
    base.model.update(dict(name="hrm", num_layers=4, h_layers=4))
    base.recursion.update(dict(cycles=2, latent_steps=2))
    assert scaling.blocks_per_segment(base) == 2 * (2 * 4 + 4)
    assert scaling.powers_of_two(12) == (1, 2, 4, 8, 12)
    noisy = {m: np.full((2, 2), 0.5) for m in scaling.CELL_METRICS}
    noisy["best_q"] = np.array([[0.2, 0.6], [0.7, 0.9]])
    det = {m: np.array([[0.3], [0.65], [0.8]]) for m in scaling.CELL_METRICS}
    records = scaling.table_rows(c, noisy, det, widths=(1, 2), depths=(1, 2), det_depths=(1, 2, 4))
    per = scaling.blocks_per_segment(c)
    assert [r["compute"] for r in records[:3]] == [per, 2 * per, 4 * per]
    pairs = scaling.matched(records)
    assert [(p["compute"], p["width"]["K"], p["width"]["D"]) for p in pairs] == [
        (2 * per, 2, 1),
        (4 * per, 2, 2),
    ]
    assert pairs[1]["depth"]["best_q"] == 0.8 and pairs[1]["width"]["best_q"] == 0.9
    paths = scaling.write(records, str(tmp_path), "toy")
    text = open(paths["md"]).read()
    assert "Compute-matched" in text and "| 2 x 2 |" in text
    assert open(paths["csv"]).read().count("\n") == len(records) + 1


def test_hrm_takes_the_noise_on_z_l_and_runs_rollouts():
    c = _config()
    c.model.update(dict(name="hrm", num_layers=1, h_layers=1, puzzle_emb_len=0))
    model = models.build(c)
    assert model.stochastic and (model.answer, model.latent) == ("z_H", "z_L")
    params = model.init(jax.random.PRNGKey(0), {})
    run = jax.jit(rollouts_lib.make_rollouts(model, rollouts=3, steps=2))
    out = run(params, _batch(), jax.random.PRNGKey(0))
    assert out["preds"].shape == (1, B, 3, L)
    again = run(params, _batch(), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out["q_halt"], again["q_halt"])


def test_ptrm_metrics_read_off_the_grid_equal_a_separate_run():
    """`run_grid` ending at PTRM's (K, D) reports PTRM's metrics from that cell; they equal
    `sampling_metrics` run on its own."""
    import types

    c = _config(rollouts=4, steps=3)
    c.scaling.update(dict(widths=(1, 4), depths=(1, 3)))
    model, data = _coin_model(), types.SimpleNamespace(kind="sudoku")
    batches = [_batch(6, seed=s) for s in (1, 2)]
    for b in batches:
        b["inputs"] = b["labels"].copy()
    records, from_grid = scaling.run_grid(c, model, {}, lambda: iter(batches), lambda b: b, data)
    alone = scaling.sampling_metrics(c, model, {}, data, iter(batches), lambda b: b)
    assert from_grid == alone and set(alone) >= {"ptrm/best_q", "ptrm/pass", "ptrm/selected"}
    cell = next(r for r in records if (r["K"], r["D"]) == (4, 3))
    assert cell["best_q"] == alone["ptrm/best_q"] and cell["allocation"] == "mixed"
    c.scaling.depths = (1, 2)  # the grid no longer ends at PTRM's cell
    assert scaling.run_grid(c, model, {}, lambda: iter(batches), lambda b: b, data)[1] is None


def test_act_halting_keeps_each_rollouts_answer_from_its_first_halting_step():
    model = _coin_model()
    batch = _batch(6, seed=5)
    batch["inputs"] = batch["labels"].copy()
    key, depths = jax.random.PRNGKey(4), (1, 2, 3, 4)
    free = rollouts_lib.make_rollouts(model, rollouts=5, steps=4, record=depths)({}, batch, key)
    halt = rollouts_lib.make_rollouts(model, rollouts=5, steps=4, record=depths, act_halt=True)(
        {}, batch, key
    )
    q, preds = np.asarray(free["q_halt"]), np.asarray(free["preds"])  # the same draws
    for b in range(6):
        for k in range(5):
            wants = np.flatnonzero(q[:, b, k] > 0)
            stop = wants[0] if len(wants) else 3  # 0-based step of the answer kept
            for r in range(4):
                src = min(r, stop)
                np.testing.assert_array_equal(halt["preds"][r, b, k], preds[src, b, k])
                assert halt["q_halt"][r, b, k] == q[src, b, k]
                assert halt["segments"][r, b, k] == src + 1
    grid = scaling.make_grid_step(model, widths=(5,), depths=(4,), act_halt=True)
    sums, _ = grid({}, {**batch, "valid": np.ones((6,), bool)}, key)
    want = np.asarray(halt["segments"][-1]).mean(-1).sum()
    assert float(sums["segments"][0, 0]) == pytest.approx(want)
