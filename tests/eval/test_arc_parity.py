"""ARC scoring against numbers produced by the official TRM evaluator (see fixtures/arc_eval)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from rrm_jax.eval import arc

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "arc_eval"
SETS = ("a", "b", "c")


@pytest.fixture(scope="module")
def official():
    with open(FIXTURES / "identifiers.json") as f:
        identifiers = json.load(f)
    with open(FIXTURES / "test_puzzles.json") as f:
        test_puzzles = json.load(f)
    with open(FIXTURES / "official.json") as f:
        results = json.load(f)
    return identifiers, test_puzzles, results


@pytest.mark.parametrize("name", SETS)
def test_trm_rule_and_submission_match_the_official_evaluator(official, name):
    identifiers, test_puzzles, results = official
    with np.load(FIXTURES / f"predictions_{name}.npz") as f:
        predictions = {k: f[k] for k in f.files}
    ours = arc.score(predictions, identifiers, test_puzzles)
    expected = results[name]["results"]
    # Exactly equal, not approximately: same per-task sums in the same order.
    assert {f"ARC/{k}": v for k, v in ours["trm"].items()} == expected
    # The official submission leaves out test inputs without predictions; ours keeps them
    # (with [[0]] placeholders) so that its lists stay aligned with the test inputs.
    submission = {
        task: [
            a for a, t in zip(attempts, ours["tasks"][task]["tests"], strict=True) if t["num_votes"]
        ]
        for task, attempts in ours["submission"].items()
    }
    assert submission == results[name]["submission"]
    # The fixture exercises: padding rows, an ignored row, a test input without predictions.
    assert ours["counts"]["blank"] > 0 and ours["counts"]["ignored"] == 1
    assert any(t["num_votes"] == 0 for d in ours["tasks"].values() for t in d["tests"])
    # The HRM rule can only be stricter.
    for k, v in ours["hrm"].items():
        assert v <= ours["trm"][k]
