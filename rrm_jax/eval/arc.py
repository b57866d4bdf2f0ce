"""ARC-AGI scoring of host-side predictions: decode, undo the augmentation, vote, pass@K.

This follows the official evaluators: TRM's `evaluators/arc.py` (TinyRecursiveModels @ e7b68717)
and HRM's `arc_eval.ipynb` (HRM @ 42410daa), re-written in plain numpy.

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

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

GRID_SIZE = 30
SEQ_LEN = GRID_SIZE * GRID_SIZE
PAD_TOKEN = 0
EOS_TOKEN = 1
COLOUR_OFFSET = 2  # colour c <-> token c + 2
NUM_COLOURS = 10
BLANK_IDENTIFIER_ID = 0
DEFAULT_KS = (1, 2, 5, 10, 100, 1000)
IDENTITY_PERM = "0123456789"

# DIHEDRAL_INVERSE[tid] undoes dihedral(., tid).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)

TRM_SEPARATOR = "|||"
_HRM_NAME = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-9]+)_(?P<perm>[0-9]{10})$")

REQUIRED_KEYS = ("inputs", "preds", "puzzle_identifiers", "q_halt_logits")


# --------------------------------------------------------------------------------------------
# Grids


def _as_canvases(tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim == 1 and tokens.shape[0] == SEQ_LEN:
        return tokens.reshape(1, GRID_SIZE, GRID_SIZE)
    if tokens.ndim == 2 and tokens.shape == (GRID_SIZE, GRID_SIZE):
        return tokens[None]
    if tokens.ndim == 2 and tokens.shape[1] == SEQ_LEN:
        return tokens.reshape(-1, GRID_SIZE, GRID_SIZE)
    if tokens.ndim == 3 and tokens.shape[1:] == (GRID_SIZE, GRID_SIZE):
        return tokens
    raise ValueError(
        f"expected {SEQ_LEN} tokens or a {GRID_SIZE}x{GRID_SIZE} canvas per row, got shape "
        f"{tokens.shape}"
    )


def crop_sizes(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the grid `decode_grid` crops from each canvas, vectorised.

    Args:
      tokens: [N, 900] or [N, 30, 30] token canvases.

    Returns:
      (rows [N], cols [N]) int arrays; (0, 0) where the top-left cell is not a colour.
    """
    canvas = _as_canvases(tokens)
    n = canvas.shape[0]
    colour = (canvas >= COLOUR_OFFSET) & (canvas < COLOUR_OFFSET + NUM_COLOURS)
    # Leading run of colour cells in each canvas row (argmin finds the first non-colour cell).
    run = np.where(colour.all(-1), GRID_SIZE, np.argmin(colour, axis=-1))
    # The usable width after row r shrinks to the narrowest leading run seen so far.
    width = np.minimum.accumulate(run, axis=1)
    area = width * np.arange(1, GRID_SIZE + 1)
    best = np.argmax(area, axis=1)  # first (fewest rows) among equal largest areas
    idx = np.arange(n)
    found = area[idx, best] > 0
    rows = np.where(found, best + 1, 0)
    cols = np.where(found, width[idx, best], 0)
    return rows, cols


def decode_grid(tokens: np.ndarray) -> np.ndarray:
    """Crops one 30x30 token canvas (900 tokens, row-major) to its ARC grid of colours 0..9.

    The official crop rule: scanning rows downward from the top-left, the usable width is the
    run of colour tokens (2..11) at the start of the row, shrunk to the narrowest run so far; the
    largest-area rectangle (rows x usable width) wins, the first (fewest rows) among equal areas.
    EOS, PAD or any other token ends a row's run, so a grid is cut at its EOS row/column, a
    30-wide or 30-tall grid needs no EOS, and a non-colour cell inside a predicted grid cuts the
    crop there. A canvas whose top-left cell is not a colour decodes to an empty (0, 0) grid.

    Returns:
      uint8 [rows, cols] array of colours (token - 2).
    """
    canvas = _as_canvases(tokens)
    if canvas.shape[0] != 1:
        raise ValueError(f"decode_grid takes one canvas, got {canvas.shape[0]}")
    rows, cols = crop_sizes(canvas)
    return (canvas[0, : rows[0], : cols[0]] - COLOUR_OFFSET).astype(np.uint8)


def encode_grid(grid: Any) -> np.ndarray:
    """Writes an ARC grid at the top-left of a 30x30 canvas, as the official builder does.

    Colours become tokens 2..11, EOS (1) marks the row below (across the grid's columns) and
    the column right of the grid (across its rows) where these fit; everything else is PAD (0).

    Returns:
      uint8 [900] tokens.
    """
    grid = as_grid(grid)
    h, w = grid.shape
    canvas = np.zeros((GRID_SIZE, GRID_SIZE), np.uint8)
    canvas[:h, :w] = grid + COLOUR_OFFSET
    if h < GRID_SIZE:
        canvas[h, :w] = EOS_TOKEN
    if w < GRID_SIZE:
        canvas[:h, w] = EOS_TOKEN
    return canvas.reshape(-1)


def as_grid(grid: Any) -> np.ndarray:
    """Validates an ARC grid (nested lists or array): 2-D, at most 30x30, colours 0..9."""
    arr = np.asarray(grid)
    if arr.ndim != 2:
        raise ValueError(f"an ARC grid must be 2-D, got shape {arr.shape}")
    if arr.shape[0] > GRID_SIZE or arr.shape[1] > GRID_SIZE:
        raise ValueError(f"an ARC grid is at most {GRID_SIZE}x{GRID_SIZE}, got {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 9):
        raise ValueError("ARC grid colours must be integers 0..9")
    return arr.astype(np.uint8)


def grid_key(grid: np.ndarray) -> bytes:
    """Hashable identity of a grid: its shape and its uint8 cells (equal iff the grids are)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    if grid.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {grid.shape}")
    return np.asarray(grid.shape, "<u4").tobytes() + grid.tobytes()


# --------------------------------------------------------------------------------------------
# Augmentations


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """One of the 8 dihedral symmetries (numpy's rot90 turns counter-clockwise).

    0 identity, 1 rot90, 2 rot180, 3 rot270, 4 fliplr, 5 flipud, 6 transpose,
    7 fliplr(rot90) (the anti-diagonal reflection).
    """
    grid = np.asarray(grid)
    if tid == 0:
        return grid
    if tid in (1, 2, 3):
        return np.rot90(grid, k=tid)
    if tid == 4:
        return np.fliplr(grid)
    if tid == 5:
        return np.flipud(grid)
    if tid == 6:
        return grid.T
    if tid == 7:
        return np.fliplr(np.rot90(grid, k=1))
    raise ValueError(f"dihedral transform id must be 0..7, got {tid!r}")


def inverse_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Undoes `dihedral(., tid)`: rotations 1 and 3 swap, the others are their own inverse."""
    if tid not in range(8):
        raise ValueError(f"dihedral transform id must be 0..7, got {tid!r}")
    return dihedral(grid, DIHEDRAL_INVERSE[tid])


def _perm_array(perm: str | Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(perm, str):
        if len(perm) != NUM_COLOURS or not perm.isdigit():
            raise ValueError(f"a colour map is {NUM_COLOURS} digits, got {perm!r}")
        arr = np.array([int(c) for c in perm], np.int64)
    else:
        arr = np.asarray(perm, np.int64).reshape(-1)
    if arr.shape != (NUM_COLOURS,) or sorted(arr.tolist()) != list(range(NUM_COLOURS)):
        raise ValueError(f"a colour map must be a permutation of 0..9, got {perm!r}")
    return arr.astype(np.uint8)


def parse_identifier(name: str) -> tuple[str, int, str]:
    """Splits a puzzle name into (task, dihedral id, colour map).

    Accepts TRM names `"{task}|||t{tid}|||{perm}"`, HRM names `"{task}_t{tid}_{perm}"` and plain
    task names (the unaugmented puzzle: tid 0, perm "0123456789"). `perm` is returned as its 10
    digits: colour c of the original grid became colour int(perm[c]).

    Raises:
      ValueError: a TRM-style name that does not have exactly three parts, a dihedral id outside
        0..7, or a colour map that is not a permutation of 0..9.
    """
    if not isinstance(name, str):
        raise ValueError(f"a puzzle name must be a string, got {name!r}")
    if TRM_SEPARATOR in name:
        parts = name.split(TRM_SEPARATOR)
        if len(parts) != 3 or not parts[1].startswith("t") or not parts[1][1:].isdigit():
            raise ValueError(f"malformed augmented puzzle name {name!r}")
        task, tid, perm = parts[0], int(parts[1][1:]), parts[2]
    else:
        m = _HRM_NAME.match(name)
        if m is None:
            return name, 0, IDENTITY_PERM
        task, tid, perm = m["task"], int(m["tid"]), m["perm"]
    if tid not in range(8):
        raise ValueError(f"dihedral id must be 0..7 in puzzle name {name!r}")
    _perm_array(perm)  # validates
    return task, tid, perm


def augment(grid: np.ndarray, tid: int, perm: str | Sequence[int]) -> np.ndarray:
    """The builder's augmentation: `dihedral(perm[grid], tid)`."""
    return dihedral(_perm_array(perm)[np.asarray(grid, np.uint8)], tid)


def invert(grid: np.ndarray, tid: int, perm: str | Sequence[int]) -> np.ndarray:
    """Undoes `augment(., tid, perm)`: inverse dihedral, then the inverse colour map argsort(perm).

    Returns:
      uint8 array of the original puzzle's orientation and colours.
    """
    inv = np.argsort(_perm_array(perm)).astype(np.uint8)
    return inv[inverse_dihedral(np.asarray(grid, np.uint8), tid)]


# --------------------------------------------------------------------------------------------
# Scoring


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
            parsed[pid] = (task, tid, np.argsort(_perm_array(perm)).astype(np.uint8))
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
