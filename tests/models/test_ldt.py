"""LDT (models/ldt.py, ldt_lattice.py, ldt_net.py): the lattice, the symmetries, the step
operator, targets and losses, the paper-size parameter count and the pool-as-ACT-carry training
step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax.config import base_config
from rrm_jax.data import sudoku
from rrm_jax.models import count_params, ldt, ldt_lattice

BOARD = sudoku.Board(2, 3)
SUDOKU = ldt_lattice.domain_for("sudoku", BOARD.vocab_size)


def small_config(**ldt_fields):
    c = base_config()
    c.model.update(
        dict(
            name="ldt",
            hidden_size=16,
            num_heads=2,
            num_layers=1,
            expansion=2.0,
            pos_encodings="learned",
            puzzle_emb_ndim=0,
            puzzle_emb_len=0,
            dtype="float32",
            vocab_size=BOARD.vocab_size,
            seq_len=BOARD.cells,
        )
    )
    c.ldt.update(dict(num_loops=2, symmetries="flips", **ldt_fields))
    c.loss.update(dict(lm_weight=0.0, q_weight=0.0))
    c.act.update(dict(exploration_prob=0.0, max_steps=101))
    return c


@pytest.fixture(scope="module")
def puzzles():
    gen = sudoku.generate(BOARD, 8, 3)
    inputs = jnp.asarray(sudoku.encode(gen["puzzles"]), jnp.int32)
    labels = jnp.asarray(sudoku.encode(gen["solutions"]), jnp.int32)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": jnp.zeros(8, jnp.int32)}


@pytest.fixture(scope="module")
def built():
    config = small_config()
    ops = ldt.build_ops(config)
    model = ldt.build(config)
    params = model.init(jax.random.PRNGKey(0), {})
    step = jax.jit(lambda p, st, g, k: ops.step(p, st, g, k, cls_threshold=0.6, dropout=0.05))
    return config, ops, model, params, step


def rig(params, keep_bias=None, conflict_bias=None):
    """Params whose keep / conflict heads output constants (zero kernels)."""
    net = jax.tree.map(lambda x: x, params["dense"]["net"])
    cell = net["loop"]
    if keep_bias is not None:
        cell["bce_head"] = {
            "kernel": jnp.zeros_like(cell["bce_head"]["kernel"]),
            "bias": jnp.full_like(cell["bce_head"]["bias"], keep_bias),
        }
    if conflict_bias is not None:
        cell["conflict_head"] = {
            "kernel": jnp.zeros_like(cell["conflict_head"]["kernel"]),
            "bias": jnp.full_like(cell["conflict_head"]["bias"], conflict_bias),
        }
    return {**params, "dense": {"net": net}}


def test_paper_size_parameter_count():
    """The official Sudoku model (d=128, 4 layers, CLS, 9 channels) has 799,635 parameters
    (the research notes' 0.7996M, the paper's "800K"); the Maze model with 2D RoPE 1,783,499."""
    c = small_config()
    c.model.update(dict(hidden_size=128, num_heads=4, num_layers=4, expansion=4.0))
    c.model.update(dict(vocab_size=11, seq_len=81))
    model = ldt.build(c)
    assert count_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), {})["dense"]) == 799_635
    c.model.update(dict(hidden_size=192, vocab_size=6, seq_len=900, pos_encodings="rope"))
    c.ldt.update(dict(domain="maze", symmetries="d4"))
    model = ldt.build(c)
    assert count_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), {})["dense"]) == 1_783_499
    c.ldt.conflict_weight = 0.0  # no CLS token, no conflict head
    model = ldt.build(c)
    n = count_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), {})["dense"])
    assert n == 1_783_499 - 2 * 192 - 193


def test_tokens_to_lattice():
    tokens = jnp.asarray([[1, 2, 7, 4]])
    lat = np.asarray(ldt_lattice.tokens_to_lattice(tokens, SUDOKU))
    assert lat[0, 0].all() and lat[0, 1].tolist() == [1, 0, 0, 0, 0, 0]
    assert lat[0, 2].tolist() == [0, 0, 0, 0, 0, 1] and lat[0, 3].sum() == 1
    maze = ldt_lattice.domain_for("maze", 6)
    lat = np.asarray(ldt_lattice.tokens_to_lattice(jnp.asarray([[1, 2, 3, 4]]), maze))
    assert lat[0].astype(int).tolist() == [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 1],  # open cells start as {open, path}
        [0, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
    ]


@pytest.mark.parametrize("kind,count", [("d4", 8), ("flips", 4), ("none", 1)])
def test_symmetries_are_permutations_and_invert_exactly(kind, count):
    table = ldt_lattice.symmetry_cell_perms(6, 6, kind)
    assert table.shape == (count, 36)
    assert all(sorted(row) == list(range(36)) for row in table)
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (16, 36, 6))
    aug = ldt_lattice.sample_aug(jax.random.PRNGKey(2), 16, 6, 6, 6, channels=True, cells=kind)
    y = ldt_lattice.apply_aug(x, aug)
    assert bool((ldt_lattice.invert_aug(y, aug) == x).all())
    if kind != "none":
        assert not bool((y == x).all())
    # the cell part maps masks exactly as it maps states
    m = x.any(-1) & jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (16, 36))
    cells_only = ldt_lattice.Aug(jnp.zeros((16, 1), jnp.int32), aug.cells)
    mapped = ldt_lattice.apply_aug(m[..., None], cells_only)[..., 0]
    assert bool((ldt_lattice.apply_aug_cells(m, aug) == mapped).all())


def test_flips_keep_the_boxes_of_a_6x6_sudoku(puzzles):
    """Mirrors and the half turn map valid 6x6 grids (2x3 boxes) to valid grids."""
    grid = sudoku.decode(np.asarray(puzzles["labels"][0]))
    for perm in ldt_lattice.symmetry_cell_perms(6, 6, "flips"):
        assert sudoku.is_solution(grid[perm], BOARD)


def test_alpha_keep_target_and_gt_conflict_hand_built():
    sol = jnp.asarray([[[1, 0, 0], [0, 1, 0]]], bool)  # a 2-cell, 3-candidate toy
    full = jnp.ones((1, 2, 3), bool)
    alpha = ldt_lattice.alpha_surviving(full, sol[:, None], sol)
    assert bool((alpha == sol).all()) and not bool(ldt_lattice.gt_conflict(full, alpha)[0])
    assert bool(((full & alpha) == sol).all())  # keep target: state meet alpha
    # the true digit of cell 1 killed: the solution no longer survives -> previous alpha,
    # and the state is a true conflict
    state = jnp.asarray([[[1, 1, 0], [1, 0, 1]]], bool)
    prev = jnp.asarray([[[1, 0, 0], [0, 1, 0]]], bool)
    alpha = ldt_lattice.alpha_surviving(state, sol[:, None], prev)
    assert bool((alpha == prev).all()) and bool(ldt_lattice.gt_conflict(state, alpha)[0])
    # two solutions, one consistent: alpha is that one only
    sols = jnp.stack([sol[0], jnp.asarray([[0, 0, 1], [1, 0, 0]], bool)])[None]
    state = jnp.asarray([[[0, 1, 1], [1, 1, 0]]], bool)
    alpha = ldt_lattice.alpha_surviving(state, sols, jnp.zeros_like(sol))
    assert bool((alpha[0] == sols[0, 1]).all())
    # an UNSAT sample (alpha bottom): every state is a ground-truth conflict
    bottom = jnp.zeros((1, 2, 3), bool)
    alpha = ldt_lattice.alpha_surviving(full, bottom[:, None], bottom)
    assert not bool(alpha.any()) and bool(ldt_lattice.gt_conflict(full, alpha)[0])


def test_fresh_sample_mix(puzzles):
    """Zero-hint rows are the puzzle; correct-hint rows only add true digits; error-hint rows are
    UNSAT (a wrong digit somewhere) with a bottom target; the mix is ~20/55/25."""
    b = 2000
    idx = jnp.arange(b) % 8
    puzzle = ldt_lattice.tokens_to_lattice(puzzles["inputs"][idx], SUDOKU)
    sol = ldt_lattice.labels_to_lattice(puzzles["labels"][idx], SUDOKU)
    x, y, sat = jax.jit(
        lambda k: ldt.fresh_sample(
            k,
            puzzle,
            sol,
            mix=(0.2, 0.55, 0.25),
            correct_fill=(0.0, 1.0),
            error_fill=(0.1, 1.0),
            error_rate=(0.01, 0.3),
        )
    )(jax.random.PRNGKey(0))
    x, y, sat, puzzle, sol = map(np.asarray, (x, y, sat, puzzle, sol))
    assert (x <= puzzle).all()  # a fresh sample only narrows the puzzle ...
    consistent = (x & sol).any(-1).all(-1)
    assert (consistent == sat).all()  # ... and is SAT exactly when no wrong digit went in
    assert not y[~sat].any() and (y[sat] == sol[sat]).all()
    same = (x == puzzle).all((1, 2))
    assert abs((~sat).mean() - 0.25) < 0.04
    assert abs((same & sat).mean() - 0.2 - 0.55 * 0.06) < 0.06  # correct-hint can fill 0 cells
    givens = (x.sum(-1) == 1).sum(-1)
    assert (givens[~sat] > (puzzle.sum(-1) == 1).sum(-1)[~sat]).all()


def test_weighted_bce_matches_its_equation():
    x = jnp.asarray([-2.0, 0.0, 1.5, 3.0])
    t = jnp.asarray([1.0, 0.0, 1.0, 0.0])
    sig = 1 / (1 + np.exp(-np.asarray(x)))
    want = -(4.0 * np.asarray(t) * np.log(sig) + 0.5 * (1 - np.asarray(t)) * np.log(1 - sig))
    np.testing.assert_allclose(ldt.weighted_bce(x, t, 4.0, 0.5), want, rtol=1e-5)


def test_losses_average_over_loops_and_final_only():
    k = jax.random.split(jax.random.PRNGKey(4), 6)
    L, B, S, C = 3, 4, 5, 3
    keep = jax.random.normal(k[0], (L, B, S, C))
    digit = jax.random.normal(k[1], (L, B, S, C))
    conflict = jax.random.normal(k[2], (L, B))
    state = jax.random.bernoulli(k[3], 0.7, (B, S, C))
    alpha = jax.nn.one_hot(jax.random.randint(k[4], (B, S), 0, C), C) > 0
    given = jax.random.bernoulli(k[5], 0.3, (B, S))
    target = ldt_lattice.gt_conflict(state, alpha)
    kw = dict(pos_weight=4.0, neg_weight=0.5, ce_weight=0.2, conflict_weight=0.1)
    full = ldt.loss_terms(keep, digit, conflict, state, alpha, given, target, **kw)
    last = ldt.loss_terms(keep, digit, conflict, state, alpha, given, target, **kw, final_only=True)
    per_loop = [
        ldt.loss_terms(
            keep[i : i + 1],
            digit[i : i + 1],
            conflict[i : i + 1],
            state,
            alpha,
            given,
            target,
            **kw,
        )
        for i in range(L)
    ]
    for name in full:
        mean = sum(p[name] for p in per_loop) / L
        np.testing.assert_allclose(full[name], mean, rtol=1e-5)
        np.testing.assert_allclose(last[name], per_loop[-1][name], rtol=1e-5)
    assert not np.allclose(full["keep_loss"], last["keep_loss"])
    # the batch mean of the per-row terms is the official batch-mean loss of one loop
    p0 = per_loop[0]
    bce = ldt.weighted_bce(keep[0], state & alpha, 4.0, 0.5).mean()
    np.testing.assert_allclose(p0["keep_loss"].mean(), bce, rtol=1e-5)
    sup = ~given & ~target[:, None]
    ce = -jnp.take_along_axis(jax.nn.log_softmax(digit[0]), jnp.argmax(alpha, -1)[..., None], -1)[
        ..., 0
    ]
    np.testing.assert_allclose(
        p0["digit_loss"].mean(), 0.2 * ce[sup].mean() if sup.any() else 0.0, rtol=1e-5
    )


def test_state_only_shrinks_and_givens_survive(built, puzzles):
    """Many steps of a random model: the lattice never gains a candidate except by a restart,
    givens are never touched, a solved row has only singletons, an empty cell is a conflict,
    and branching pins exactly one multi-candidate cell to one of its alive candidates."""
    _, _, _, params, step = built
    orig = ldt_lattice.tokens_to_lattice(jnp.tile(puzzles["inputs"], (4, 1)), SUDOKU)
    given = ldt_lattice.given_mask(orig)
    state = orig
    key = jax.random.PRNGKey(0)
    for i in range(30):
        r = step(params, state, given, jax.random.fold_in(key, i))
        s0, s1 = np.asarray(state), np.asarray(r.state)
        assert (s1 <= s0).all(), "the state gained a candidate"
        assert (s1[np.asarray(given)] == s0[np.asarray(given)]).all(), "a given changed"
        assert not np.asarray(r.killed)[np.asarray(given)].any()
        after_kill = s0 & ~np.asarray(r.killed)
        n = after_kill.sum(-1)
        empty = (n == 0).any(-1)
        conflict, solved = np.asarray(r.conflict), np.asarray(r.solved)
        assert (conflict[empty]).all()
        assert ((n == 1).all(-1)[solved]).all() and not (solved & conflict).any()
        branched = np.asarray(r.branched)
        assert (branched == (~conflict & ~solved)).all()
        changed = (s1 != after_kill).any(-1)  # cells the branching touched
        assert (changed.sum(-1) == branched).all()
        for b in np.flatnonzero(branched):
            (cell,) = np.flatnonzero(changed[b])
            assert n[b, cell] >= 2 and s1[b, cell].sum() == 1
            assert (s1[b, cell] <= after_kill[b, cell]).all()  # pinned to an alive candidate
        # the solver's restart: conflicted rows go back to the puzzle, the others continue
        state = jnp.where(r.conflict[:, None, None], orig, r.state)


def test_deduction_kills_and_conflicts_with_rigged_heads(built, puzzles):
    """keep logits far below the threshold kill every non-given candidate, which empties the
    blank cells (a conflict); a conflict head that fires flags every row; a high keep and a
    silent conflict head on a complete grid give `solved`."""
    _, ops, _, params, step = built
    orig = ldt_lattice.tokens_to_lattice(puzzles["inputs"], SUDOKU)
    given = ldt_lattice.given_mask(orig)
    key = jax.random.PRNGKey(1)
    r = step(rig(params, keep_bias=-20.0, conflict_bias=-20.0), orig, given, key)
    assert bool(r.conflict.all()) and not bool(r.solved.any())
    assert bool((r.state == (orig & given[..., None])).all())
    r = step(rig(params, keep_bias=20.0, conflict_bias=20.0), orig, given, key)
    assert bool(r.conflict.all()) and bool((r.state == orig).all())  # conflict: no branching
    full = ldt_lattice.labels_to_lattice(puzzles["labels"], SUDOKU)
    r = step(rig(params, keep_bias=20.0, conflict_bias=-20.0), full, given, key)
    assert bool(r.solved.all()) and bool((r.state == full).all())


def test_augmented_step_maps_back_to_the_canonical_frame(puzzles):
    """A symmetric forward (keep logits from each cell's own candidate count: equivariant under
    any cell and channel permutation) must give the same deduction with and without the random
    symmetries: the step undoes them exactly."""

    def forward(st, inside, key):
        n = ldt_lattice.alive_counts(st)[..., None]
        keep = jnp.where(n <= 3, 5.0, -5.0) * jnp.ones(st.shape)
        return keep, jnp.zeros(st.shape), jnp.full(st.shape[:1], -9.0)

    orig = ldt_lattice.tokens_to_lattice(jnp.tile(puzzles["inputs"], (8, 1)), SUDOKU)
    state = orig & jax.random.bernoulli(jax.random.PRNGKey(5), 0.8, orig.shape) | (
        ldt_lattice.labels_to_lattice(jnp.tile(puzzles["labels"], (8, 1)), SUDOKU)
    )
    given = ldt_lattice.given_mask(orig)
    kw = dict(rows=6, cols=6, threshold=0.1, cls_threshold=0.6, temperature=1.5, channels=True)
    plain = ldt.dpll_step(
        forward, state, given, jax.random.PRNGKey(0), augment=False, cells="none", **kw
    )
    for i in range(3):
        aug = ldt.dpll_step(
            forward, state, given, jax.random.PRNGKey(i), augment=True, cells="d4", **kw
        )
        assert bool((aug.killed == plain.killed).all())
        assert bool((aug.conflict == plain.conflict).all())
        assert bool((aug.solved == plain.solved).all())


def test_training_step_through_the_pool(puzzles):
    """Fresh rows are rebuilt from the batch, the state advances by one step without gradient,
    and q_halt marks exactly the discards: solved rows and true conflicts."""
    config = small_config(conflict_weight=0.0)  # no conflict head: conflicts are empty cells
    model = ldt.build(config)
    params = model.init(jax.random.PRNGKey(0), {})
    params = rig(params, keep_bias=20.0)  # never kills
    apply = jax.jit(lambda p, c, b, k: model.apply(p, c, b, rng=k, training=True))
    carry = model.initial_carry(puzzles)
    carry = model.reset_carry(params, carry, jnp.ones(8, bool))
    carry, out = apply(params, carry, puzzles, jax.random.PRNGKey(1))
    assert not bool(carry["fresh"].any())
    assert set(out.losses) == {"keep_loss", "digit_loss"}
    assert all(bool(jnp.isfinite(v).all()) for v in out.losses.values())
    assert out.logits.shape == (8, BOARD.cells, BOARD.vocab_size)
    # hand-built pool: row 0 holds its solution (solved), row 1 an UNSAT state with an empty
    # cell (a true conflict), row 2 an open SAT state (kept)
    sol = ldt_lattice.labels_to_lattice(puzzles["labels"], SUDOKU)
    puzzle = ldt_lattice.tokens_to_lattice(puzzles["inputs"], SUDOKU)
    state = puzzle.at[0].set(sol[0])
    blank = int(np.flatnonzero(np.asarray(puzzles["inputs"][1]) == 1)[0])
    state = state.at[1, blank].set(False)
    pool = {
        "state": state,
        "orig": puzzle,
        "solution": sol,
        "alpha": sol,
        "fresh": jnp.zeros(8, bool),
        "done": jnp.zeros(8, bool),
    }
    new, out = apply(params, pool, puzzles, jax.random.PRNGKey(2))
    q = np.asarray(out.q_halt)
    assert q[0] > 0 and q[1] > 0 and (q[2:] < 0).all()
    assert bool((new["state"] <= state).all())  # one step: only narrower
    assert bool((new["state"][2:] != state[2:]).any(-1).sum(-1).max() == 1)  # one pin per row
    refilled = model.reset_carry(params, new, jnp.asarray([True] + [False] * 7))
    assert bool(refilled["fresh"][0]) and not bool(refilled["fresh"][1:].any())


def test_gradients_reach_every_head(puzzles):
    config = small_config()
    model = ldt.build(config)
    params = model.init(jax.random.PRNGKey(0), {})
    carry = model.reset_carry(params, model.initial_carry(puzzles), jnp.ones(8, bool))

    def loss(dense):
        _, out = model.apply(
            {**params, "dense": dense}, carry, puzzles, rng=jax.random.PRNGKey(3), training=True
        )
        return sum(v.sum() for v in out.losses.values())

    grads = jax.grad(loss)(params["dense"])["net"]
    parts = [grads["input_proj"]] + [
        grads["loop"][k] for k in ("bce_head", "softmax_head", "conflict_head", "row_embed")
    ]
    for g in parts:
        assert float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(g))) > 0


def test_cells_outside_the_puzzle_are_inert(puzzles):
    """Snowflake's covering grid: PAD cells (no candidate in the original sample) are never an
    empty-cell conflict, never branched on, carry no loss, and the model reads the in-puzzle mask
    as a locked extra channel."""
    config = small_config()
    config.ldt.domain = "snowflake"
    model, ops = ldt.build(config), ldt.build_ops(config)
    params = model.init(jax.random.PRNGKey(0), {})
    assert params["dense"]["net"]["input_proj"]["kernel"].shape[0] == 7
    pad = jnp.arange(BOARD.cells) >= 30  # the last row is outside the puzzle
    inputs = jnp.where(pad, 0, puzzles["inputs"])
    labels = jnp.where(pad, 0, puzzles["labels"])
    dom = ops.domain
    orig, sol = (
        ldt_lattice.tokens_to_lattice(inputs, dom),
        ldt_lattice.labels_to_lattice(labels, dom),
    )
    inside = ldt_lattice.in_puzzle(orig)
    assert bool((inside == ~pad).all())
    given = ldt_lattice.given_mask(orig)
    calm = rig(params, keep_bias=20.0, conflict_bias=-20.0)
    key = jax.random.PRNGKey(0)
    r = ops.step(calm, sol, given, key, cls_threshold=0.6, inside=inside)
    assert bool(r.solved.all()) and not bool(r.conflict.any())
    r = ops.step(calm, orig, given, key, cls_threshold=0.6, inside=inside)
    assert not bool(r.conflict.any()) and bool(r.branched.all())
    assert not bool(r.state[:, 30:].any())  # nothing appears outside
    alpha = ldt_lattice.alpha_surviving(orig, sol[:, None], sol, inside)
    assert bool((alpha == sol).all())
    assert not bool(ldt_lattice.gt_conflict(orig, alpha, inside).any())
    carry = model.reset_carry(params, model.initial_carry(puzzles), jnp.ones(8, bool))
    batch = {**puzzles, "inputs": inputs, "labels": labels}
    _, out = model.apply(params, carry, batch, rng=jax.random.PRNGKey(1), training=True)
    assert all(bool(jnp.isfinite(v).all()) for v in out.losses.values())
