"""ARC evaluator: crop, augmentations, names, voting and both scoring rules, on hand-built cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rrm_jax.eval import arc

# --------------------------------------------------------------------------------------------
# Crop


def _canvas(rows):
    """A 30x30 canvas whose top-left holds the given token rows (PAD elsewhere)."""
    c = np.zeros((30, 30), np.int32)
    for r, row in enumerate(rows):
        c[r, : len(row)] = row
    return c


def test_encode_marks_eos_right_and_below_and_leaves_the_corner_pad():
    grid = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]])
    c = arc.encode_grid(grid).reshape(30, 30)
    np.testing.assert_array_equal(c[:3, :4], grid + 2)
    assert (c[3, :4] == 1).all() and (c[:3, 4] == 1).all()
    assert c[3, 4] == 0 and c[4:].sum() == 0 and c[:, 5:].sum() == 0
    np.testing.assert_array_equal(arc.decode_grid(c.reshape(-1)), grid)
    np.testing.assert_array_equal(arc.decode_grid(c), grid)  # [30, 30] works too
    assert arc.decode_grid(c).dtype == np.uint8


@pytest.mark.parametrize("shape", [(5, 30), (30, 4), (30, 30), (1, 1), (1, 30), (30, 1)])
def test_crop_full_width_or_height_grids_need_no_eos(shape):
    grid = np.random.default_rng(0).integers(0, 10, shape)
    tokens = arc.encode_grid(grid)
    if shape[1] == 30:  # no EOS column fits
        assert not (tokens.reshape(30, 30)[: shape[0], :] == 1).any()
    np.testing.assert_array_equal(arc.decode_grid(tokens), grid)


def test_crop_non_colour_cell_inside_cuts_the_rectangle():
    grid = np.full((4, 5), 3)
    # PAD at (2, 3): widths 5, 5, 3, 3 -> areas 5, 10, 9, 12 -> 4x3.
    c = arc.encode_grid(grid).reshape(30, 30)
    c[2, 3] = 0
    assert arc.decode_grid(c).shape == (4, 3)
    # EOS at (3, 1): widths 5, 5, 5, 1 -> areas 5, 10, 15, 4 -> 3x5.
    c = arc.encode_grid(grid).reshape(30, 30)
    c[3, 1] = 1
    assert arc.decode_grid(c).shape == (3, 5)
    # An out-of-vocabulary token (12) also ends a row's run.
    c = arc.encode_grid(grid).reshape(30, 30)
    c[0, 2] = 12
    assert arc.decode_grid(c).shape == (4, 2)


def test_crop_equal_areas_take_fewer_rows():
    # widths 6, 6, 4: areas 6, 12, 12 -> 2x6 (the first of the equal areas).
    c = _canvas([[2] * 6 + [1], [3] * 6 + [1], [4] * 4, [1]])
    np.testing.assert_array_equal(arc.decode_grid(c), np.array([[0] * 6, [1] * 6]))


def test_crop_colours_past_the_eos_extend_the_grid_and_pad_top_left_is_empty():
    grid = np.ones((2, 2), int)
    c = arc.encode_grid(grid).reshape(30, 30)
    c[c == 1] = 5  # the model wrote colours where EOS belongs; the corner (2, 2) is still PAD:
    assert arc.decode_grid(c).shape == (2, 3)  # widths 3, 3, 2: areas 3, 6, 6 -> fewer rows
    c[2, 2] = 5
    assert arc.decode_grid(c).shape == (3, 3)
    c[0, 0] = 0
    assert arc.decode_grid(c).shape == (0, 0)
    assert arc.decode_grid(np.zeros(900, np.int32)).shape == (0, 0)


def _brute_force_crop(canvas):
    """Largest all-colour rectangle anchored at the top-left; fewest rows among equal areas."""
    colour = (canvas >= 2) & (canvas <= 11)
    best, size = 0, (0, 0)
    for r in range(1, 31):
        for c in range(1, 31):
            if colour[:r, :c].all() and r * c > best:
                best, size = r * c, (r, c)
    return size


def test_crop_sizes_vectorised_matches_brute_force():
    rng = np.random.default_rng(1)
    canvases = []
    for _ in range(60):
        h, w = rng.integers(1, 31, 2)
        c = arc.encode_grid(rng.integers(0, 10, (h, w))).reshape(30, 30)
        for _ in range(rng.integers(0, 4)):  # sprinkle non-colour / stray tokens
            c[rng.integers(0, 30), rng.integers(0, 30)] = rng.choice([0, 1, 7, 12])
        canvases.append(c)
    rows, cols = arc.crop_sizes(np.stack(canvases).reshape(-1, 900))
    for c, r, w in zip(canvases, rows, cols, strict=True):
        assert (r, w) == _brute_force_crop(c)


def test_decode_rejects_wrong_sizes():
    with pytest.raises(ValueError):
        arc.decode_grid(np.zeros(899))
    with pytest.raises(ValueError):
        arc.decode_grid(np.zeros((2, 900)))


# --------------------------------------------------------------------------------------------
# Augmentations

G23 = np.array([[1, 2, 3], [4, 5, 6]])
EXPECTED = {
    0: [[1, 2, 3], [4, 5, 6]],
    1: [[3, 6], [2, 5], [1, 4]],  # rot90, counter-clockwise
    2: [[6, 5, 4], [3, 2, 1]],
    3: [[4, 1], [5, 2], [6, 3]],  # rot270 = clockwise
    4: [[3, 2, 1], [6, 5, 4]],  # fliplr
    5: [[4, 5, 6], [1, 2, 3]],  # flipud
    6: [[1, 4], [2, 5], [3, 6]],  # transpose
    7: [[6, 3], [5, 2], [4, 1]],  # anti-transpose
}


@pytest.mark.parametrize("tid", range(8))
def test_dihedral_hand_checked_and_inverse(tid):
    np.testing.assert_array_equal(arc.dihedral(G23, tid), EXPECTED[tid])
    np.testing.assert_array_equal(arc.inverse_dihedral(np.array(EXPECTED[tid]), tid), G23)
    g = np.random.default_rng(tid).integers(0, 10, (3, 7))
    np.testing.assert_array_equal(arc.inverse_dihedral(arc.dihedral(g, tid), tid), g)
    np.testing.assert_array_equal(arc.dihedral(arc.inverse_dihedral(g, tid), tid), g)


def test_dihedral_rejects_unknown_ids():
    for bad in (8, -1):
        with pytest.raises(ValueError):
            arc.dihedral(G23, bad)
        with pytest.raises(ValueError):
            arc.inverse_dihedral(G23, bad)


def test_colour_map_inversion():
    # perm "0234567891": colour c -> c + 1 for 1..8, 9 -> 1 (not its own inverse).
    perm = "0234567891"
    np.testing.assert_array_equal(arc.augment([[0, 1, 9]], 0, perm), [[0, 2, 1]])
    np.testing.assert_array_equal(arc.invert([[0, 2, 1]], 0, perm), [[0, 1, 9]])
    # Colour map and rotation together: augment = dihedral(perm[grid]).
    np.testing.assert_array_equal(arc.augment([[1, 9]], 1, perm), [[1], [2]])
    np.testing.assert_array_equal(arc.invert([[1], [2]], 1, perm), [[1, 9]])
    rng = np.random.default_rng(0)
    for tid in range(8):
        perm = "0" + "".join(map(str, rng.permutation(9) + 1))
        g = rng.integers(0, 10, (4, 6))
        out = arc.invert(arc.augment(g, tid, perm), tid, perm)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, g)
    with pytest.raises(ValueError):
        arc.invert(G23, 0, "0113456789")


# --------------------------------------------------------------------------------------------
# Names


def test_parse_identifier_both_styles_and_plain():
    assert arc.parse_identifier("00576224|||t3|||0918273645") == ("00576224", 3, "0918273645")
    assert arc.parse_identifier("00576224_t7_0123456789") == ("00576224", 7, "0123456789")
    assert arc.parse_identifier("my_task_t2_0987654321") == ("my_task", 2, "0987654321")
    assert arc.parse_identifier("00576224") == ("00576224", 0, arc.IDENTITY_PERM)
    assert arc.parse_identifier("ExtractObjects10") == ("ExtractObjects10", 0, arc.IDENTITY_PERM)
    assert arc.parse_identifier("<blank>") == ("<blank>", 0, arc.IDENTITY_PERM)


@pytest.mark.parametrize(
    "name",
    [
        "abc|||t8|||0123456789",  # tid out of range
        "abc|||t1|||0123",  # short colour map
        "abc|||x1|||0123456789",  # no "t"
        "abc|||t1|||0113456789",  # not a permutation
        "abc|||t1",  # too few parts
        "abc_t9_0123456789",  # HRM style, tid out of range
        "abc_t1_0113456789",  # HRM style, not a permutation
    ],
)
def test_parse_identifier_rejects_malformed(name):
    with pytest.raises(ValueError):
        arc.parse_identifier(name)


# --------------------------------------------------------------------------------------------
# Scoring


class Rows:
    """Builds prediction rows in augmented space, and the identifiers they refer to."""

    def __init__(self, style="trm"):
        self.names = ["<blank>"]
        self.rows = []
        self.style = style

    def _id(self, task, tid, perm):
        if tid == 0 and perm == arc.IDENTITY_PERM:
            name = task
        elif self.style == "trm":
            name = f"{task}|||t{tid}|||{perm}"
        else:
            name = f"{task}_t{tid}_{perm}"
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def add(self, task, inp, pred, logit, tid=0, perm=arc.IDENTITY_PERM):
        pid = self._id(task, tid, perm)
        self.rows.append(
            (
                arc.encode_grid(arc.augment(inp, tid, perm)),
                arc.encode_grid(arc.augment(pred, tid, perm)),
                pid,
                logit,
            )
        )

    def blank(self, rng):
        self.rows.append((np.zeros(900, np.uint8), rng.integers(0, 12, 900), 0, rng.normal()))

    def predictions(self):
        inputs, preds, ids, q = zip(*self.rows, strict=True)
        return {
            "inputs": np.stack(inputs),
            "preds": np.stack(preds),
            "puzzle_identifiers": np.array(ids, np.int32),
            "q_halt_logits": np.array(q, np.float32),
        }


IN_A, OUT_A = [[1, 2], [3, 4]], [[4, 3], [2, 1]]
IN_B, OUT_B = [[5, 5, 6]], [[6], [5], [5]]
WRONG_A, WRONG2_A = [[4, 3], [2, 2]], [[0]]
TASKS = {
    "taskA": {"test": [{"input": IN_A, "output": OUT_A}]},
    "taskB": {"test": [{"input": IN_A, "output": OUT_A}, {"input": IN_B, "output": OUT_B}]},
}
PERMS = ["0123456789", "0918273645", "0213456789", "0987654321"]


def _score(rows, **kw):
    return arc.score(rows.predictions(), rows.names, TASKS, **kw)


def test_votes_count_first_then_mean_q_and_restore_augmentations():
    r = Rows()
    # taskA: the wrong answer twice with low q (from two different augmentations), the right one
    # once with high q: count wins -> the right answer is second.
    r.add("taskA", IN_A, WRONG_A, -3.0, tid=1, perm=PERMS[1])
    r.add("taskA", IN_A, OUT_A, 5.0, tid=6, perm=PERMS[2])
    r.add("taskA", IN_A, WRONG_A, -2.0, tid=7, perm=PERMS[3])
    r.add("taskB", IN_A, OUT_A, 0.0)
    r.add("taskB", IN_B, OUT_B, 0.0, tid=3, perm=PERMS[1])
    res = _score(r)
    t = res["tasks"]["taskA"]["tests"][0]
    assert t["rank"] == 1 and t["num_votes"] == 3 and t["num_candidates"] == 2
    sig = lambda x: 1 / (1 + np.exp(-x))
    assert t["top"][0] == [2, pytest.approx((sig(-3.0) + sig(-2.0)) / 2)]
    assert res["tasks"]["taskA"]["trm"]["pass@1"] == 0.0
    assert res["tasks"]["taskA"]["trm"]["pass@2"] == 1.0
    assert res["submission"]["taskA"] == [{"attempt_1": WRONG_A, "attempt_2": OUT_A}]
    # Equal counts: the higher mean q wins.
    r = Rows()
    r.add("taskA", IN_A, WRONG_A, 0.5)
    r.add("taskA", IN_A, OUT_A, 1.0, tid=2, perm=PERMS[1])
    r.add("taskA", IN_A, OUT_A, -0.5, tid=4, perm=PERMS[2])  # mean sigmoid ~0.5 < sigmoid(0.5)
    r.add("taskA", IN_A, WRONG_A, 0.5, tid=5, perm=PERMS[3])
    res = _score(r)
    assert res["tasks"]["taskA"]["tests"][0]["rank"] == 1
    r = Rows()
    r.add("taskA", IN_A, WRONG_A, 0.5)
    r.add("taskA", IN_A, OUT_A, 3.0, tid=2, perm=PERMS[1])
    r.add("taskA", IN_A, OUT_A, 0.0, tid=4, perm=PERMS[2])
    r.add("taskA", IN_A, WRONG_A, 0.5, tid=5, perm=PERMS[3])
    assert _score(r)["tasks"]["taskA"]["tests"][0]["rank"] == 0


def test_full_ties_keep_first_appearance_order():
    for first, second, rank in ((WRONG_A, OUT_A, 1), (OUT_A, WRONG_A, 0)):
        r = Rows()
        r.add("taskA", IN_A, first, 0.25, tid=1, perm=PERMS[1])
        r.add("taskA", IN_A, second, 0.25, tid=3, perm=PERMS[2])
        r.add("taskA", IN_A, WRONG2_A, 0.25)
        res = _score(r)
        assert res["tasks"]["taskA"]["tests"][0]["rank"] == rank
        assert res["submission"]["taskA"][0] == {"attempt_1": first, "attempt_2": second}


def test_hrm_rule_needs_every_test_input_trm_rule_averages():
    r = Rows()
    r.add("taskA", IN_A, OUT_A, 1.0)
    r.add("taskB", IN_A, OUT_A, 1.0, tid=5, perm=PERMS[1])  # right
    r.add("taskB", IN_B, [[6], [5], [6]], 1.0)  # wrong
    res = _score(r, ks=(1, 2))
    assert res["tasks"]["taskB"]["trm"] == {"pass@1": 0.5, "pass@2": 0.5}
    assert res["tasks"]["taskB"]["hrm"] == {"pass@1": 0.0, "pass@2": 0.0}
    assert res["trm"] == {"pass@1": 0.75, "pass@2": 0.75}
    assert res["hrm"] == {"pass@1": 0.5, "pass@2": 0.5}
    flat = arc.flat_metrics(res)
    assert flat["ARC/trm/pass@1"] == 0.75 and flat["ARC/hrm/pass@2"] == 0.5


def test_pass_at_k_grows_with_k():
    r = Rows()
    for i, g in enumerate([WRONG_A, WRONG2_A, [[1]], [[2]], [[3]], OUT_A]):
        r.add("taskA", IN_A, g, 2.0 - i)  # all count 1: ordered by q, the right one 6th
    res = _score(r)
    assert res["tasks"]["taskA"]["tests"][0]["rank"] == 5
    assert [res["tasks"]["taskA"]["trm"][f"pass@{k}"] for k in arc.DEFAULT_KS] == [0, 0, 0, 1, 1, 1]


def test_blank_and_unmatched_rows_are_ignored_and_missing_tests_score_zero():
    rng = np.random.default_rng(0)
    r = Rows()
    r.add("taskA", IN_A, OUT_A, 1.0)
    base = _score(r)
    r.blank(rng)
    r.add("taskA", [[1, 2], [3, 5]], WRONG_A, 9.0)  # input matches no test input of taskA
    r.add("taskA", IN_B, WRONG_A, 9.0)  # a test input of another task
    r.blank(rng)
    res = _score(r)
    assert res["counts"] == {"rows": 5, "blank": 2, "matched": 1, "ignored": 2}
    assert res["trm"] == base["trm"] and res["hrm"] == base["hrm"]
    assert res["submission"] == base["submission"]
    # taskB has no predictions: it still counts (0) in the average; its submission is aligned.
    assert res["trm"]["pass@1"] == 0.5
    assert res["tasks"]["taskB"]["tests"][1] == {
        "rank": None,
        "num_votes": 0,
        "num_candidates": 0,
        "top": [],
    }
    assert res["submission"]["taskB"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}] * 2
    # A single candidate is repeated to fill the attempts.
    assert res["submission"]["taskA"] == [{"attempt_1": OUT_A, "attempt_2": OUT_A}]
    # A different blank id drops the rows of that id instead (here taskA's).
    res = arc.score(r.predictions(), r.names, TASKS, blank_identifier_id=1)
    assert res["counts"] == {"rows": 5, "blank": 3, "matched": 0, "ignored": 2}


def test_hrm_style_names_score_like_trm_style():
    out = []
    for style in ("trm", "hrm"):
        r = Rows(style)
        r.add("taskB", IN_B, OUT_B, 0.3, tid=7, perm=PERMS[3])
        r.add("taskB", IN_A, WRONG_A, 0.3, tid=1, perm=PERMS[1])
        out.append(_score(r))
    assert out[0]["trm"] == out[1]["trm"] and out[0]["submission"] == out[1]["submission"]
    assert out[0]["tasks"]["taskB"]["trm"]["pass@1"] == 0.5


def test_malformed_inputs_raise():
    r = Rows()
    r.add("taskA", IN_A, OUT_A, 1.0)
    p = r.predictions()
    with pytest.raises(ValueError, match="unknown puzzle identifier"):
        arc.score({**p, "puzzle_identifiers": np.array([7])}, r.names, TASKS)
    with pytest.raises(ValueError, match="lack"):
        arc.score({k: v for k, v in p.items() if k != "q_halt_logits"}, r.names, TASKS)
    with pytest.raises(ValueError):
        arc.score({**p, "preds": p["preds"][:, :899]}, r.names, TASKS)
    with pytest.raises(ValueError):
        arc.score({**p, "preds": p["preds"].astype(np.float32)}, r.names, TASKS)
    with pytest.raises(ValueError):
        arc.score({**p, "q_halt_logits": np.zeros(2)}, r.names, TASKS)
    with pytest.raises(ValueError):
        arc.score(p, ["<blank>", "taskA|||t9|||0123456789"], TASKS)
    with pytest.raises(ValueError):
        arc.score(p, r.names, {"taskA": {"test": []}})
    with pytest.raises(ValueError):
        arc.score(p, r.names, {"taskA": {"test": [{"input": IN_A}]}})
    with pytest.raises(ValueError):
        arc.score(p, r.names, TASKS, ks=(0,))
    # [N, 30, 30] canvases are accepted as well as [N, 900].
    p3 = {**p, "inputs": p["inputs"].reshape(-1, 30, 30), "preds": p["preds"].reshape(-1, 30, 30)}
    assert arc.score(p3, r.names, TASKS)["trm"] == arc.score(p, r.names, TASKS)["trm"]


def test_identity_and_every_augmentation_vote_together():
    r = Rows()
    for tid, perm in itertools.product(range(8), PERMS):
        r.add("taskB", IN_B, OUT_B, 0.0, tid=tid, perm=perm)
    res = _score(r)
    t = res["tasks"]["taskB"]["tests"][1]
    assert t["num_votes"] == 32 and t["num_candidates"] == 1 and t["rank"] == 0
