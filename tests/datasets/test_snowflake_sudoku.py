"""Snowflake Sudoku: topology, grid embedding, solver, minimal-puzzle generator and the builder."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax import config as rrm_config
from rrm_jax import data as rrm_data
from rrm_jax.data import official
from rrm_jax.data import snowflake as sf
from rrm_jax.data import tfds as rrm_tfds
from rrm_jax.eval import evaluate
from rrm_jax.eval import snowflake as checker

NAME = "snowflake_sudoku"


def _axial_distance(q: int, r: int) -> int:
    return max(abs(q), abs(r), abs(q + r))


@pytest.fixture(scope="module")
def generated():
    return sf.generate(40, 0, variants=3)


# --- topology -----------------------------------------------------------------------------------


def test_rings_and_the_hexagons_of_each_size():
    for k in range(5):
        ring = sf.hex_ring(k)
        assert len(ring) == max(1, 6 * k) == len(set(ring))
        assert {_axial_distance(q, r) for q, r in ring} == {k}
    # Ring 1 walks from (1, -1) as the snowflakesudoku package does; size n is a ring prefix.
    assert sf.hexagon_coords(4) == ((0, 0), (1, -1), (0, -1), (-1, 0))
    assert sf.hexagon_coords(8)[7] == (2, -2)
    for n in range(1, sf.MAX_HEXAGONS + 1):
        assert sf.hexagon_coords(n) == tuple(sf.hexagon_coords(sf.MAX_HEXAGONS)[:n])
    with pytest.raises(ValueError):
        sf.hexagon_coords(20)


@pytest.mark.parametrize("n", range(1, sf.MAX_HEXAGONS + 1))
def test_groups_partition_and_meeting_points(n):
    t = sf.topology(n)
    assert t.num_cells == 6 * n and t.groups.shape[1] == 6
    hexes, meets = t.groups[:n], t.groups[n:]
    # Every cell lies in exactly one hexagon group: hexagon h owns cells 6h..6h+5.
    np.testing.assert_array_equal(np.sort(hexes.reshape(-1)), np.arange(6 * n))
    np.testing.assert_array_equal(hexes // 6, np.repeat(np.arange(n), 6).reshape(n, 6))
    for g in meets:
        # 6 distinct cells, 2 from each of 3 hexagons that pairwise share an edge.
        assert len(set(g.tolist())) == 6
        owners, per = np.unique(g // 6, return_counts=True)
        assert len(owners) == 3 and (per == 2).all()
        qr = [t.hexagons[h] for h in owners]
        for i in range(3):
            for j in range(i + 1, 3):
                dq, dr = qr[i][0] - qr[j][0], qr[i][1] - qr[j][1]
                assert _axial_distance(dq, dr) == 1
    # Each cell is in at most 2 meeting points (it has two outer corners).
    assert np.bincount(meets.reshape(-1), minlength=6 * n).max() <= 2


def test_meeting_point_counts():
    # One per triangle of mutually adjacent hexagons: n=3..7 fill the first ring around the
    # centre (1, 2, 3, 4, 6: the sixth ring-1 hexagon closes two triangles); n=8 adds (2, -2),
    # which touches only (1, -1); full rings of radius R have 6 R^2.
    counts = {n: sf.topology(n).num_meeting_points for n in range(1, 20)}
    assert [counts[n] for n in range(1, 9)] == [0, 0, 1, 2, 3, 4, 6, 6]
    assert (counts[13], counts[19]) == (14, 24)
    # LDT / snowflakesudoku's table of constraints: n + meeting points.
    assert [n + counts[n] for n in (4, 7, 13, 19)] == [6, 13, 27, 43]


def test_n7_by_hand():
    t = sf.topology(7)
    assert t.hexagons == ((0, 0), (1, -1), (0, -1), (-1, 0), (-1, 1), (0, 1), (1, 0))
    assert (t.num_cells, len(t.groups), t.num_meeting_points) == (42, 13, 6)
    # The six meeting points are the centre's six corners: each holds 2 centre cells.
    meets = t.groups[7:]
    assert ((meets < 6).sum(1) == 2).all()
    # Corner 0 of the centre (between NE=0 and NW=5): also corner 2 of (1, -1) (its E=1, SE=2:
    # cells 7, 8) and corner 4 of (1, 0), hexagon 6 (its W=4, SW=3: cells 39, 40).
    assert (0, 5, 7, 8, 39, 40) in {tuple(g) for g in meets.tolist()}
    # Every centre cell sits in exactly its two corners' meeting points.
    assert np.bincount(meets.reshape(-1), minlength=42)[:6].tolist() == [2] * 6


def test_grid_embedding():
    assert (sf.GRID_ROWS, sf.GRID_COLS, sf.SEQ_LEN, sf.VOCAB_SIZE) == (15, 10, 150, 8)
    # LDT's layout: hexagon (q, r) owns rows 3(r+2).., cols 2(q+2)..; NW NE / W E / SW SE.
    centre = [sf.grid_position(0, 0, d) for d in sf.DIRECTIONS]
    assert centre == [65, 75, 85, 84, 74, 64]  # NE E SE SW W NW
    assert sf.grid_position(-2, -2, "NW") == 0 and sf.grid_position(2, 2, "SE") == 149
    for n in range(1, 20):
        pos = sf.topology(n).positions
        assert len(set(pos.tolist())) == 6 * n and pos.min() >= 0 and pos.max() < 150
    d = np.arange(1, 7).repeat(4)
    t = sf.topology(4)
    tokens = sf.to_tokens(t, d)
    assert (tokens != sf.PAD).sum() == 24 and set(tokens[t.positions]) == set(range(2, 8))
    np.testing.assert_array_equal(sf.from_tokens(t, tokens), d)


# --- solver and generator -----------------------------------------------------------------------


def test_solver_counts():
    # One hexagon alone: its 6 cells are any permutation of 1..6.
    t1 = sf.topology(1)
    assert sf.solve(t1, [0] * 6, max_solutions=1000).num_solutions == 720
    assert sf.solve(t1, [1, 2, 3, 0, 0, 0], max_solutions=1000).num_solutions == 6
    # Every hexagon numbered 1..6 in direction order is a solution of any topology.
    for n in (4, 7, 8, 19):
        t = sf.topology(n)
        rotation = np.tile(np.arange(1, 7), n)
        assert sf.is_solution(t, rotation)
        r = sf.solve(t, rotation)
        assert r.num_solutions == 1 and np.array_equal(r.solution, rotation)
        clash = rotation.copy()
        clash[1] = clash[0]
        assert not sf.is_solution(t, clash)
        assert sf.solve(t, clash).num_solutions == 0


def test_random_solutions_are_solutions_and_seeded():
    for n in (4, 8, 13):
        t = sf.topology(n)
        a = sf.random_solution(t, sf.puzzle_rng(0, n))
        assert sf.is_solution(t, a)
        np.testing.assert_array_equal(a, sf.random_solution(t, sf.puzzle_rng(0, n)))
    sols = {sf.random_solution(sf.topology(7), sf.puzzle_rng(0, b)).tobytes() for b in range(8)}
    assert len(sols) == 8


def test_generated_puzzles_have_one_solution_their_label(generated):
    g = generated
    assert len(g) == 40 and set(g.n.tolist()) == set(sf.LDT_SIZES)
    for i in range(len(g)):
        t = sf.topology(int(g.n[i]))
        puzzle, label = sf.from_tokens(t, g.inputs[i]), sf.from_tokens(t, g.labels[i])
        assert ((g.inputs[i] == sf.PAD) == (g.labels[i] == sf.PAD)).all()
        assert (g.inputs[i] != sf.PAD).sum() == t.num_cells
        assert sf.is_solution(t, label)
        given = puzzle > 0
        np.testing.assert_array_equal(puzzle[given], label[given])  # the label completes it
        assert given.sum() == g.givens[i] < t.num_cells
        r = sf.solve(t, puzzle, max_solutions=2)
        assert r.num_solutions == 1 and np.array_equal(r.solution, label)
        assert r.guesses == g.rating[i]


def test_minimal_puzzles_are_minimal(generated):
    g = generated
    for i in np.flatnonzero(g.variant == 0)[:5]:
        t = sf.topology(int(g.n[i]))
        puzzle = sf.from_tokens(t, g.inputs[i])
        for cell in np.flatnonzero(puzzle):
            fewer = puzzle.copy()
            fewer[cell] = 0
            assert sf.solve(t, fewer, max_solutions=2).num_solutions == 2


def test_variants_add_clues_back(generated):
    g = generated
    for b in np.unique(g.base):
        rows = np.flatnonzero(g.base == b)
        np.testing.assert_array_equal(g.variant[rows], np.arange(len(rows)))
        assert (np.diff(g.givens[rows]) > 0).all()
        assert (g.labels[rows] == g.labels[rows[0]]).all()
        minimal = g.inputs[rows[0]] > sf.BLANK
        for r in rows[1:]:
            assert (g.inputs[r][minimal] == g.inputs[rows[0]][minimal]).all()
            assert (g.inputs[r] == sf.BLANK).any()  # something left to solve


def test_generation_is_deterministic(generated):
    again = sf.generate(40, 0, variants=3)
    prefix = sf.generate(17, 0, variants=3)
    other = sf.generate(40, 1, variants=3)
    for field in ("inputs", "labels", "n", "base", "variant", "givens", "rating"):
        np.testing.assert_array_equal(getattr(again, field), getattr(generated, field))
        np.testing.assert_array_equal(getattr(prefix, field), getattr(generated, field)[:17])
    assert not np.array_equal(other.labels, generated.labels)


def test_splits_by_solution():
    s = sf.splits(60, 3, variants=3, test_fraction=0.25)
    train, test = s["train"], s["test"]
    assert len(train) + len(test) == 60
    base = lambda ex: {x.split(" base=")[1].split()[0] for x in ex.source}
    assert base(train).isdisjoint(base(test))
    assert len(base(test)) == round(0.25 * len(base(train) | base(test)))
    for ex in (train, test):
        np.testing.assert_array_equal(ex.index, np.arange(len(ex)))
        assert checker.is_valid(ex.labels, ex.inputs).all()
    again = sf.splits(60, 3, variants=3, test_fraction=0.25)
    np.testing.assert_array_equal(again["test"].inputs, test.inputs)


# --- builder --------------------------------------------------------------------------------------


def test_configs():
    module = rrm_tfds.load_module(NAME)
    configs = {c.name: c for c in module.Builder.BUILDER_CONFIGS}
    assert sorted(configs) == ["default", "minimal", "tiny"]
    assert module.Builder.DEFAULT_CONFIG_NAME == "default"
    d = configs["default"]
    assert (d.count, d.variants, tuple(d.sizes), d.test_fraction, d.seed) == (
        30_000,
        6,
        (4, 5, 6, 7, 8),
        0.1,
        0,
    )
    assert configs["minimal"].variants == 1


def test_builder_and_the_trainer_path(tmp_path):
    b = rrm_tfds.prepare(NAME, "tiny", tmp_path)
    ref = sf.splits(40, 0, variants=2, test_fraction=0.1)
    assert {s: i.num_examples for s, i in b.info.splits.items()} == {
        "train": len(ref["train"]),
        "test": len(ref["test"]),
    }
    for split in ("train", "test"):
        data = rrm_tfds.load_split(NAME, "tiny", split, tmp_path)
        official.validate(data, f"{NAME}/{split}")
        np.testing.assert_array_equal(data.inputs, ref[split].inputs)
        np.testing.assert_array_equal(data.labels, ref[split].labels)
        assert checker.is_valid(data.labels, data.inputs).all()

    c = rrm_config.base_config()
    c.data.update(dict(source="tfds", name=NAME, config="tiny", data_dir=str(tmp_path)))
    rrm_config.validate(c)
    ds = rrm_data.build(c.data)
    assert ds.kind == "snowflake"
    m = ds.metadata
    assert (m.vocab_size, m.seq_len, m.pad_id, m.ignore_label_id) == (8, 150, 0, 0)
    # Rule-checked evaluation: the labels pass, the inputs (blanks left) do not.
    assert evaluate.needs_predictions(ds)
    rows = {"inputs": ds.test.inputs, "labels": ds.test.labels, "preds": ds.test.labels}
    got = evaluate.task_metrics(ds, rows)
    assert (got["snowflake/valid"], got["snowflake/violations"]) == (1.0, 0.0)
    got = evaluate.task_metrics(ds, {**rows, "preds": ds.test.inputs})
    assert got["snowflake/valid"] == 0.0 and got["snowflake/violations"] > 0
    c.data.update(dict(augmentation="sudoku", num_aug=1))
    with pytest.raises(rrm_config.ConfigError, match=NAME):
        rrm_config.validate(c)
