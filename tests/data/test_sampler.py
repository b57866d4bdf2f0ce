"""Tests for the official-semantics train sampler and eval batches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rrm_jax.data.official import Metadata, PuzzleData, from_examples, load_split
from rrm_jax.data.sampler import (
    IGNORE_LABEL,
    TrainSampler,
    augment_rng,
    eval_batches,
    total_steps,
)
from tests.data import synthetic

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SEQ_LEN, VOCAB = 6, 7


def multi_variant_data(seed: int = 0, num_groups: int = 7) -> PuzzleData:
    return synthetic.multi_variant_data(seed, num_groups, seq_len=SEQ_LEN, vocab=VOCAB)


def one_example_data(n: int = 50) -> PuzzleData:
    """Sudoku/Maze shape: every example its own puzzle and group; input row 0 holds its index."""
    inputs = np.stack([np.arange(n) // 10 + 1, np.arange(n) % 10 + 1], axis=1).astype(np.uint8)
    return from_examples(inputs, inputs.copy(), vocab_size=11)


def permute_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, variant=0):
    """A colour-permutation-like augmentation: permutes tokens 1..VOCAB-1, keeps 0."""
    table = np.concatenate([[0], rng.permutation(VOCAB - 1) + 1])
    return table[inputs], table[labels]


def take(sampler: TrainSampler, n: int) -> list[dict[str, np.ndarray]]:
    return [next(sampler) for _ in range(n)]


def assert_batches_equal(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def expected_labels(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.int32)
    return np.where(raw == 0, IGNORE_LABEL, raw)


def test_batches_full_typed_and_mapped() -> None:
    data = multi_variant_data()
    sampler = TrainSampler(data, 5, seed=3, epochs_per_iter=2)
    twin = TrainSampler(data, 5, seed=3, epochs_per_iter=2)
    for _ in range(30):
        batch, sel = next(sampler), twin.next_selection()
        assert batch["inputs"].shape == batch["labels"].shape == (5, SEQ_LEN)
        assert batch["puzzle_identifiers"].shape == (5,)
        assert all(v.dtype == np.int32 for v in batch.values())
        np.testing.assert_array_equal(batch["inputs"], data.inputs[sel.example_index])
        np.testing.assert_array_equal(
            batch["labels"], expected_labels(data.labels[sel.example_index])
        )
        assert (batch["labels"] == IGNORE_LABEL).any()
        np.testing.assert_array_equal(
            batch["puzzle_identifiers"], data.puzzle_identifiers[sel.puzzle_index]
        )


def test_no_label_mapping_without_ignore_label() -> None:
    inputs = np.zeros((4, 3), np.uint8)
    data = from_examples(inputs, inputs, vocab_size=2, ignore_label_id=None)
    batch = next(TrainSampler(data, 4, seed=0))
    assert (batch["labels"] == 0).all()


def iteration_selections(sampler: TrainSampler) -> list:
    """All selections of the sampler's current iteration; leaves it at the next one's start."""
    iteration = sampler.get_state()["iteration"]
    out = []
    while True:
        sel = sampler.next_selection()
        if sampler.get_state()["iteration"] != iteration:  # that batch began the next iteration
            sampler.set_state({"iteration": iteration + 1, "start_index": 0})
            return out
        out.append(sel)


def test_walk_semantics_multi_variant() -> None:
    data = multi_variant_data(seed=1, num_groups=40)
    gi, pi = np.asarray(data.group_indices), np.asarray(data.puzzle_indices)
    sampler = TrainSampler(data, 6, seed=5, epochs_per_iter=1)
    for _ in range(3):  # three iterations = three epochs
        sels = iteration_selections(sampler)
        assert sels, "an iteration of 40 groups fills at least one batch of 6"
        seen_groups = set()
        for sel in sels:
            assert sel.example_index.shape == (6,)
            # Runs of one group are one pick: one puzzle (variant) of that group.
            cuts = np.flatnonzero(np.diff(sel.group_index)) + 1
            for rows in np.split(np.arange(6), cuts):
                group = int(sel.group_index[rows[0]])
                assert group not in seen_groups, "a group appears at most once per epoch"
                seen_groups.add(group)
                puzzles = np.unique(sel.puzzle_index[rows])
                assert puzzles.size == 1 and gi[group] <= puzzles[0] < gi[group + 1]
                examples = sel.example_index[rows]
                assert np.unique(examples).size == examples.size  # without replacement
                assert (pi[puzzles[0]] <= examples).all() and (examples < pi[puzzles[0] + 1]).all()
                if rows[-1] != 5:  # only the pick that fills the batch is truncated
                    assert examples.size == pi[puzzles[0] + 1] - pi[puzzles[0]]
        # Every group is walked once; only the dropped tail (fewer examples than a batch, at
        # least one example per pick, so at most 5 groups) goes unseen.
        assert 40 - 5 <= len(seen_groups) <= 40


def test_epoch_of_one_example_puzzles_is_a_permutation() -> None:
    data = one_example_data(50)
    sampler = TrainSampler(data, 8, seed=0, epochs_per_iter=1)
    for iteration in range(3):
        rows = np.concatenate([next(sampler)["inputs"] for _ in range(6)])  # 48 of 50
        index = (rows[:, 0] - 1) * 10 + rows[:, 1] - 1
        assert np.unique(index).size == 48, "two groups dropped, none repeated"
        assert sampler.get_state() == {"iteration": iteration, "start_index": 48}
    # epochs_per_iter=3: the walk is three permutations back to back, 150 rows = 15 batches.
    sampler = TrainSampler(data, 10, seed=0, epochs_per_iter=3)
    rows = np.concatenate([next(sampler)["inputs"] for _ in range(15)])
    index = (rows[:, 0] - 1) * 10 + rows[:, 1] - 1
    for epoch in range(3):
        assert sorted(index[50 * epoch : 50 * (epoch + 1)]) == list(range(50))
    assert sampler.get_state() == {"iteration": 0, "start_index": 150}
    next(sampler)
    assert sampler.get_state() == {"iteration": 1, "start_index": 10}


def test_deterministic_in_seed() -> None:
    data = multi_variant_data()
    kw = dict(epochs_per_iter=2, augment=permute_tokens, num_aug=3)
    a = take(TrainSampler(data, 5, seed=11, **kw), 20)
    assert_batches_equal(a, take(TrainSampler(data, 5, seed=11, **kw), 20))
    b = take(TrainSampler(data, 5, seed=12, **kw), 20)
    assert any(not np.array_equal(x["inputs"], y["inputs"]) for x, y in zip(a, b, strict=True))


def test_exact_resumption() -> None:
    data = multi_variant_data(seed=2)
    kw = dict(epochs_per_iter=2, augment=permute_tokens, num_aug=2)
    sampler = TrainSampler(data, 5, seed=7, **kw)
    states, batches = [], []
    for _ in range(40):
        states.append(json.loads(json.dumps(sampler.get_state())))  # survives a JSON checkpoint
        batches.append(next(sampler))
    iterations = [s["iteration"] for s in states]
    boundaries = [k for k in range(1, 40) if iterations[k] != iterations[k - 1]]
    assert len(boundaries) >= 3, "the stream must cross several iterations"
    positions = {0, 1, 13, 39, boundaries[0] - 1, boundaries[0], boundaries[1], boundaries[2] + 1}
    for k in sorted(positions):
        resumed = TrainSampler(data, 5, seed=7, **kw)
        resumed.set_state(states[k])
        assert_batches_equal(take(resumed, 40 - k), batches[k:])


def test_process_slices_concatenate_to_global_batch() -> None:
    data = multi_variant_data(seed=4)
    kw = dict(epochs_per_iter=2, augment=permute_tokens, num_aug=2)
    whole = take(TrainSampler(data, 6, seed=1, **kw), 15)
    parts = [
        take(TrainSampler(data, 6, seed=1, process_index=i, process_count=2, **kw), 15)
        for i in range(2)
    ]
    for k, batch in enumerate(whole):
        for key in batch:
            joined = np.concatenate([parts[0][k][key], parts[1][k][key]])
            np.testing.assert_array_equal(joined, batch[key])
    assert TrainSampler(data, 6, seed=1, process_index=1, process_count=2).local_batch_size == 3
    with pytest.raises(ValueError, match="multiple of the process count"):
        TrainSampler(data, 5, seed=1, process_count=2)


def test_augmentation() -> None:
    data = one_example_data(50)
    num_aug, seed = 3, 9

    def augment(inputs, labels, rng, variant):
        assert 1 <= variant <= num_aug
        table = np.concatenate([[0], rng.permutation(10) + 1])
        return table[inputs], table[labels]

    sampler = TrainSampler(data, 40, seed=seed, augment=augment, num_aug=num_aug)
    twin = TrainSampler(data, 40, seed=seed, augment=augment, num_aug=num_aug)
    counts = np.zeros(num_aug + 1)
    for _ in range(100):
        batch, sel = next(sampler), twin.next_selection()
        counts += np.bincount(sel.variant, minlength=num_aug + 1)
        for i in range(40):
            raw_inputs, raw_labels = (
                data.inputs[sel.example_index[i]],
                data.labels[sel.example_index[i]],
            )
            if sel.variant[i]:
                rng = augment_rng(seed, int(sel.group_index[i]), int(sel.variant[i]))
                raw_inputs, raw_labels = augment(raw_inputs, raw_labels, rng, int(sel.variant[i]))
            np.testing.assert_array_equal(batch["inputs"][i], raw_inputs)
            np.testing.assert_array_equal(batch["labels"][i], expected_labels(raw_labels))
    frequencies = counts / counts.sum()  # 4000 draws: standard error ~0.007
    assert np.all(np.abs(frequencies - 1 / (num_aug + 1)) < 0.04), frequencies
    # The walk (groups, picks, example order) does not depend on the augmentation.
    plain = TrainSampler(data, 40, seed=seed)
    augmented = TrainSampler(data, 40, seed=seed, augment=augment, num_aug=num_aug)
    for _ in range(5):
        a, b = plain.next_selection(), augmented.next_selection()
        np.testing.assert_array_equal(a.example_index, b.example_index)


def test_augmented_variants_share_a_transform_within_a_pick() -> None:
    data = multi_variant_data(seed=6, num_groups=30)
    sampler = TrainSampler(data, 8, seed=2, augment=permute_tokens, num_aug=4)
    for _ in range(10):
        sel = sampler.next_selection()
        cuts = np.flatnonzero(np.diff(sel.group_index)) + 1
        for rows in np.split(np.arange(8), cuts):
            assert np.unique(sel.variant[rows]).size == 1


def test_sampler_rejects_impossible_configurations() -> None:
    data = multi_variant_data()
    with pytest.raises(ValueError, match="exceeds the most examples"):
        TrainSampler(data, 10_000, seed=0)
    with pytest.raises(ValueError, match="augment function"):
        TrainSampler(data, 4, seed=0, num_aug=2)
    with pytest.raises(ValueError, match="outside"):
        TrainSampler(data, 4, seed=0).set_state({"iteration": 0, "start_index": 10**6})
    data.group_indices = np.array([0, 0, *np.asarray(data.group_indices)[1:]])
    with pytest.raises(ValueError, match="group 0 has no puzzles"):
        TrainSampler(data, 4, seed=0)


def reference_identifiers(data: PuzzleData) -> np.ndarray:
    """Example -> identifier by walking puzzle_indices (official `_iter_test` loop)."""
    out = np.empty(data.num_examples, dtype=np.int32)
    for p in range(data.num_puzzles):
        out[data.puzzle_indices[p] : data.puzzle_indices[p + 1]] = data.puzzle_identifiers[p]
    return out


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_batches(process_count: int) -> None:
    data = multi_variant_data(seed=3)
    # An empty puzzle in the middle must not shift the identifier lookup.
    p = np.asarray(data.puzzle_indices)
    data.puzzle_indices = np.r_[p[:3], p[2], p[3:]].astype(np.int32)
    data.puzzle_identifiers = np.arange(1, data.num_puzzles + 1, dtype=np.int32)
    data.metadata = dataclasses.replace(data.metadata, num_puzzle_identifiers=30)
    n, batch = data.num_examples, 8
    per_process = [
        list(eval_batches(data, batch, process_index=i, process_count=process_count))
        for i in range(process_count)
    ]
    assert all(len(b) == -(-n // batch) for b in per_process)
    rows = {key: [] for key in ("inputs", "labels", "puzzle_identifiers", "valid")}
    for step in range(len(per_process[0])):
        for part in per_process:
            b = part[step]
            assert b["inputs"].shape == (batch // process_count, SEQ_LEN)
            assert b["valid"].dtype == bool and b["inputs"].dtype == np.int32
            pad = ~b["valid"]
            assert (b["inputs"][pad] == 0).all() and (b["labels"][pad] == IGNORE_LABEL).all()
            assert (b["puzzle_identifiers"][pad] == data.metadata.blank_identifier_id).all()
            for key in rows:
                rows[key].append(b[key])
    valid = np.concatenate(rows["valid"])
    assert valid.sum() == n and valid[:n].all(), "every example once, in order, then padding"
    np.testing.assert_array_equal(np.concatenate(rows["inputs"])[:n], data.inputs)
    np.testing.assert_array_equal(np.concatenate(rows["labels"])[:n], expected_labels(data.labels))
    np.testing.assert_array_equal(
        np.concatenate(rows["puzzle_identifiers"])[:n], reference_identifiers(data)
    )


def test_total_steps_official_formula() -> None:
    sudoku = Metadata(81, 11, 0, 0, 0, 1, 1000, 1.0, 1000, ("all",))
    assert total_steps(sudoku, 20_000, 768) == 26_041
    arc = Metadata(900, 12, 0, 0, 0, 900_000, 960, 3.7, 960_960, ("all",))
    assert total_steps(arc, 100_000, 768) == int(100_000 * 960 * 3.7 / 768)


def test_real_sudoku_batches() -> None:
    root = REAL_DATA / "sudoku-extreme" / "ML-TRM_sudoku-extreme-full"
    if not root.is_dir():
        pytest.skip(f"no real data at {root}")
    data = load_split(root, "train")
    sampler = TrainSampler(data, 768, seed=0, epochs_per_iter=1)
    for _ in range(20):
        sel = sampler.next_selection()
        assert np.unique(sel.example_index).size == 768  # 1000 groups: one batch per epoch
        batch = sampler.collate(sel)
        assert batch["inputs"].shape == (768, 81) and batch["inputs"].max() <= 10
    assert sampler.get_state() == {"iteration": 19, "start_index": 768}
