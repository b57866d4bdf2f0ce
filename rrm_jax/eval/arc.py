"""ARC-AGI scoring of host-side predictions: decode, undo the augmentation, vote, pass@K.

This follows the official evaluators: TRM's `evaluators/arc.py` (TinyRecursiveModels @ e7b68717)
and HRM's `arc_eval.ipynb` (HRM @ 42410daa), re-written in plain numpy.
The grid, augmentation and name helpers are `rrm_jax.data.arc`'s (the builder's own code),
re-exported here under this module's names: `decode_grid`, `crop_sizes`, `encode_grid`,
`dihedral`, `augment` (`augment_grid`), `invert` (`inverse_augment_grid`), `parse_identifier`
(`parse_augmentation`), `grid_key`.

Encoding (the official `dataset/build_arc_dataset.py`): an ARC grid sits at the top-left of a
30x30 canvas, colour c becomes token c + 2 (tokens 2..11), PAD is 0 and EOS (1) fills the row
directly below the grid (across its columns) and the column directly right of it (across its
rows) where these lie inside the canvas; the corner below-right stays PAD. The evaluation split
is never translated, so its grids always start at the top-left.

Augmentation: a puzzle variant is `dihedral(perm[grid], tid)`, `perm` a colour map that fixes 0
and permutes 1..9, written into the variant's name: `"{task}|||t{tid}|||{perm}"` (TRM) or
`"{task}_t{tid}_{perm}"` (HRM), `perm` as 10 digits. The unaugmented puzzle is named `"{task}"`.

Scoring, per prediction row (rows whose puzzle identifier is the blank id are dropped):

1. crop the input and the argmax prediction to their grids (`decode_grid`);
2. undo the variant's augmentation (`invert`);
3. match the restored input against the task's original test inputs (rows that match none, or
   whose task is not among the test puzzles, are ignored, as in the official code);
4. per (task, test input), vote: predictions are grouped by their restored grid, each group
   keeps [count, mean sigmoid(q_halt_logit)], groups are sorted descending by (count, mean q),
   ties on both keep first-appearance (row) order;
5. pass@K: the ground-truth output is among the top K groups.

Two rules aggregate test inputs into a task score (both averaged over all test puzzles):

- "trm": a task scores (#test inputs right) / (#test inputs) -- TRM's `evaluators/arc.py`;
- "hrm": a task scores 1 only if all its test inputs are right -- HRM's `arc_eval.ipynb`.

`score` is a pure function of one set of predictions. TRM's evaluator object instead keeps
accumulating votes over successive evaluations unless built with `aggregated_voting=False`; to
reproduce that, concatenate the predictions of those evaluations and score them together.

Where this differs from the official code, and why:

- Grid identity: the official code hashes (shape, uint8 bytes) with SHA-256; `grid_key` keeps the
  same (shape, bytes) as the key itself. Equal grids get equal keys either way, and the vote
  order depends only on counts, mean q and first appearance, so results are identical.
- TRM's `update_batch` drops blank rows from the inputs, ids and predictions but not from the q
  values it zips them with, which pairs them correctly only when blank rows trail the batch (as
  its data loader produces). `score` pairs every row with its own q wherever blank rows are.
- A test input without any prediction: the official submission leaves its entry out (shifting
  the task's later entries); `score` writes `[[0]]` attempts to keep the list aligned. Scores
  are unaffected (such an input is simply wrong).
- HRM's notebook takes the tasks and right answers from the unaugmented rows of the predictions
  (with their labels) and uses a float32 sigmoid; here both rules use `test_puzzles` and the
  float64 sigmoid of TRM. The sigmoid precision only matters for exactly tied mean q.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The grid, transform and name code is the data side's (one implementation); these names are
# part of this module's API as well.
from rrm_jax.data.arc.grids import (
    COLOUR_OFFSET,
    NUM_COLOURS,
    SEQ_LEN,
    as_grid,
    crop_sizes,
    decode_grid,
    encode_grid,
    grid_key,
)
from rrm_jax.data.arc.grids import EOS_ID as EOS_TOKEN
from rrm_jax.data.arc.grids import MAX_GRID as GRID_SIZE
from rrm_jax.data.arc.grids import PAD_ID as PAD_TOKEN
from rrm_jax.data.arc.identifiers import BLANK_IDENTIFIER_ID, TRM_SEPARATOR
from rrm_jax.data.arc.identifiers import parse_augmentation as parse_identifier
from rrm_jax.data.arc.transforms import (
    DIHEDRAL_INVERSE,
    IDENTITY_PERM,
    dihedral,
    inverse_colour_map,
    inverse_dihedral,
)
from rrm_jax.data.arc.transforms import augment_grid as augment
from rrm_jax.data.arc.transforms import inverse_augment_grid as invert

DEFAULT_KS = (1, 2, 5, 10, 100, 1000)
REQUIRED_KEYS = ("inputs", "preds", "puzzle_identifiers", "q_halt_logits")

__all__ = [
    "BLANK_IDENTIFIER_ID",
    "COLOUR_OFFSET",
    "DEFAULT_KS",
    "DIHEDRAL_INVERSE",
    "EOS_TOKEN",
    "GRID_SIZE",
    "IDENTITY_PERM",
    "NUM_COLOURS",
    "PAD_TOKEN",
    "REQUIRED_KEYS",
    "SEQ_LEN",
    "TRM_SEPARATOR",
    "as_grid",
    "augment",
    "crop_sizes",
    "decode_grid",
    "dihedral",
    "encode_grid",
    "flat_metrics",
    "grid_key",
    "inverse_dihedral",
    "invert",
    "parse_identifier",
    "score",
]


def _check_predictions(predictions: Mapping[str, Any]) -> dict[str, np.ndarray]:
    missing = [k for k in REQUIRED_KEYS if k not in predictions]
    if missing:
        raise ValueError(f"predictions lack {missing}; need {list(REQUIRED_KEYS)}")
    out = {k: np.asarray(predictions[k]) for k in REQUIRED_KEYS}
    n = out["puzzle_identifiers"].reshape(-1).shape[0]
    out["puzzle_identifiers"] = out["puzzle_identifiers"].reshape(-1)
    out["q_halt_logits"] = out["q_halt_logits"].reshape(-1)
    if not np.issubdtype(out["puzzle_identifiers"].dtype, np.integer):
        raise ValueError("puzzle_identifiers must be integers")
    if out["q_halt_logits"].shape[0] != n:
        raise ValueError(f"q_halt_logits has {out['q_halt_logits'].shape[0]} rows, expected {n}")
    for k in ("inputs", "preds"):
        arr = out[k]
        if arr.ndim == 3 and arr.shape[1:] == (GRID_SIZE, GRID_SIZE):
            arr = arr.reshape(arr.shape[0], SEQ_LEN)
        if arr.ndim != 2 or arr.shape != (n, SEQ_LEN):
            raise ValueError(f"{k} must be [{n}, {SEQ_LEN}] tokens, got shape {out[k].shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{k} must be integer tokens (argmax predictions), got {arr.dtype}")
        out[k] = arr
    return out


def _check_test_puzzles(test_puzzles: Mapping[str, Any]) -> dict[str, list[tuple[bytes, bytes]]]:
    """Per task, the (input key, output key) of each test pair, in order."""
    if not test_puzzles:
        raise ValueError("test_puzzles is empty")
    tasks = {}
    for task, puzzle in test_puzzles.items():
        tests = puzzle.get("test") if isinstance(puzzle, Mapping) else None
        if not tests:
            raise ValueError(f"test puzzle {task!r} has no 'test' pairs")
        pairs = []
        for i, pair in enumerate(tests):
            if "input" not in pair or "output" not in pair:
                raise ValueError(f"test pair {i} of {task!r} needs both 'input' and 'output'")
            pairs.append((grid_key(as_grid(pair["input"])), grid_key(as_grid(pair["output"]))))
        tasks[task] = pairs
    return tasks


def score(
    predictions: Mapping[str, Any],
    identifiers: Sequence[str],
    test_puzzles: Mapping[str, Any],
    ks: Sequence[int] = DEFAULT_KS,
    *,
    blank_identifier_id: int = BLANK_IDENTIFIER_ID,
    submission_k: int = 2,
) -> dict:
    """Scores one set of ARC predictions: pass@K under the TRM and the HRM rule, and a submission.

    Args:
      predictions: "inputs" [N, 900] input tokens, "preds" [N, 900] argmax output tokens,
        "puzzle_identifiers" [N] ints into `identifiers`, "q_halt_logits" [N] (the halting head's
        logit; its sigmoid, in float64, is the vote's confidence).
      identifiers: puzzle id -> name (the dataset's `identifiers.json`, index 0 "<blank>").
      test_puzzles: the original tasks, {task: {"test": [{"input": grid, "output": grid}, ...]}}
        (the dataset's `test_puzzles.json`); every task counts in the averages, with or without
        predictions.
      ks: the K of pass@K.
      blank_identifier_id: rows with this puzzle id are padding and dropped.
      submission_k: attempts per test input in the submission.

    Returns:
      {"trm": {"pass@K": float}, "hrm": {"pass@K": float},
       "tasks": {task: {"trm": {"pass@K": float}, "hrm": {"pass@K": 0.0 or 1.0},
                        "tests": [{"rank": int or None (0-based vote rank of the right answer),
                                   "num_votes": int, "num_candidates": int,
                                   "top": [[count, mean_q], ...] (first submission_k)}]}},
       "submission": {task: [{"attempt_1": grid, ..., f"attempt_{submission_k}": grid}, ...]},
       "counts": {"rows", "blank", "matched", "ignored"}}.
      Submission grids are lists of lists; fewer candidates than `submission_k` repeat the first
      (as the official code does). A test input without any prediction gets `[[0]]` attempts so
      that the list stays aligned with the task's test inputs (the official code leaves it out).

    Raises:
      ValueError: missing or misshapen prediction arrays, a puzzle id outside `identifiers`, a
        malformed puzzle name, or a test puzzle without test pairs.

    Rows are ignored, as by the official code, when their task is not in `test_puzzles` or their
    restored input matches none of its test inputs. Votes are a pure function of these
    predictions; the official TRM evaluator accumulates them over evaluations unless reset.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive, got {ks}")
    if submission_k < 1:
        raise ValueError(f"submission_k must be positive, got {submission_k}")
    preds = _check_predictions(predictions)
    tasks = _check_test_puzzles(test_puzzles)
    names = list(identifiers)

    ids = preds["puzzle_identifiers"]
    bad = (ids < 0) | (ids >= len(names))
    if bad.any():
        raise ValueError(
            f"unknown puzzle identifier {int(ids[bad][0])} (identifiers has {len(names)} names)"
        )
    keep = ids != blank_identifier_id
    ids = ids[keep]
    inputs, outputs = preds["inputs"][keep], preds["preds"][keep]
    q = 1.0 / (1.0 + np.exp(-preds["q_halt_logits"][keep].astype(np.float64)))
    in_rows, in_cols = crop_sizes(inputs)
    out_rows, out_cols = crop_sizes(outputs)

    parsed: dict[int, tuple[str, int, np.ndarray]] = {}  # id -> (task, tid, inverse colour map)
    test_inputs = {task: {k for k, _ in pairs} for task, pairs in tasks.items()}
    # votes[task][input key][pred key] = [count, sum of q], in first-appearance order.
    votes: dict[str, dict[bytes, dict[bytes, list]]] = {}
    grids: dict[bytes, np.ndarray] = {}
    matched = 0
    for i, pid in enumerate(ids.tolist()):
        if pid not in parsed:
            task, tid, perm = parse_identifier(names[pid])
            parsed[pid] = (task, tid, inverse_colour_map(perm, fix_zero=False))
        task, tid, inv = parsed[pid]
        if task not in tasks:
            continue
        inp = inputs[i].reshape(GRID_SIZE, GRID_SIZE)[: in_rows[i], : in_cols[i]]
        in_key = grid_key(inv[inverse_dihedral(inp - COLOUR_OFFSET, tid)])
        if in_key not in test_inputs[task]:
            continue
        out = outputs[i].reshape(GRID_SIZE, GRID_SIZE)[: out_rows[i], : out_cols[i]]
        pred = inv[inverse_dihedral(out - COLOUR_OFFSET, tid)]
        pred_key = grid_key(pred)
        grids.setdefault(pred_key, pred)
        stats = votes.setdefault(task, {}).setdefault(in_key, {}).setdefault(pred_key, [0, 0.0])
        stats[0] += 1
        stats[1] += float(q[i])
        matched += 1

    trm_total = [0.0] * len(ks)
    hrm_total = [0.0] * len(ks)
    per_task: dict[str, dict] = {}
    submission: dict[str, list] = {}
    for task, pairs in tasks.items():
        n_right = [0] * len(ks)
        tests, attempts = [], []
        for in_key, out_key in pairs:
            pool = votes.get(task, {}).get(in_key, {})
            ranked = sorted(
                ((h, (c, s / c)) for h, (c, s) in pool.items()), key=lambda kv: kv[1], reverse=True
            )
            rank = next((r for r, (h, _) in enumerate(ranked) if h == out_key), None)
            for j, k in enumerate(ks):
                n_right[j] += rank is not None and rank < k
            tests.append(
                {
                    "rank": rank,
                    "num_votes": sum(c for c, _ in pool.values()),
                    "num_candidates": len(ranked),
                    "top": [[c, m] for _, (c, m) in ranked[:submission_k]],
                }
            )
            top = [grids[h].tolist() for h, _ in ranked[:submission_k]] or [[[0]]]
            top += [top[0]] * (submission_k - len(top))
            attempts.append({f"attempt_{a + 1}": g for a, g in enumerate(top)})
        n = len(pairs)
        trm_task = {f"pass@{k}": n_right[j] / n for j, k in enumerate(ks)}
        hrm_task = {f"pass@{k}": float(n_right[j] == n) for j, k in enumerate(ks)}
        for j in range(len(ks)):
            trm_total[j] += n_right[j] / n
            hrm_total[j] += float(n_right[j] == n)
        per_task[task] = {"trm": trm_task, "hrm": hrm_task, "tests": tests}
        submission[task] = attempts

    num_tasks = len(tasks)
    return {
        "trm": {f"pass@{k}": trm_total[j] / num_tasks for j, k in enumerate(ks)},
        "hrm": {f"pass@{k}": hrm_total[j] / num_tasks for j, k in enumerate(ks)},
        "tasks": per_task,
        "submission": submission,
        "counts": {
            "rows": int(keep.shape[0]),
            "blank": int((~keep).sum()),
            "matched": matched,
            "ignored": int(keep.sum()) - matched,
        },
    }


def flat_metrics(result: Mapping[str, Any], prefix: str = "ARC") -> dict[str, float]:
    """`score`'s pass@K as flat metric names, e.g. "ARC/trm/pass@2" and "ARC/hrm/pass@2"."""
    return {
        f"{prefix}/{rule}/{name}": float(value)
        for rule in ("trm", "hrm")
        for name, value in result[rule].items()
    }
