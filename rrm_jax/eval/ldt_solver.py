"""LDT's abstaining solver (arXiv 2605.08605; the official `experiments/sudoku/solve.py`).

Every puzzle gets K chains (`ldt.chains`) that run the step operator (`models/ldt.py`,
`dpll_step`: deduction, conflict and solved checks, branching) with a fresh random symmetry per
chain and round, and dropout kept on (`ldt.eval_dropout`, the authors' p=0.05 in train mode). A
chain that reports a conflict is restarted from the original puzzle (a restart, not
backtracking). The first chain that declares itself solved (every cell a singleton, no conflict)
is accepted, with no symbolic check (the lowest chain index when several solve in the same
round); a puzzle none of whose chains solves within `ldt.rounds` rounds is abstained on.
Correctness is checked afterwards only, for the report: correct, wrong and abstained are
counted separately, and the accepted answers are also checked against the rules of Sudoku
(`rule_violations`: accepted answers that break a row, column or box constraint or a given; for
Snowflake Sudoku its hexagon and meeting-point groups; for Maze answers that are not a simple
S->G path through open cells, and Maze also reports the paper's lenient metric, any valid path of
optimal length, as `ldt/lenient_correct`).

Layout: fixed slots of M puzzles x K chains (`ldt.solver_puzzles`) under one jitted function
that runs `ldt.rounds_per_call` rounds with per-slot masks (a finished slot is frozen); between
calls the host records the finished slots and refills them with the next puzzles, so every
puzzle gets its own round budget from the moment it enters a slot (the official streaming
queue). Per puzzle: the answer, its status, the rounds it used (the official `puzzle_calls`:
batched forward passes while it held its slot), the chain forward passes (rounds x K) and the
chain restarts. The round budget is a call argument (one compile for every budget: the scaling
harness's depth axis, `eval/scaling.py`). With several processes each solves its own shard of
the test rows and `evaluate` gathers the per-puzzle results, so its report is over all of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax.models import ldt, ldt_lattice

CORRECT, WRONG, ABSTAINED = 0, 1, 2
_BOXES = {4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3), 12: (3, 4), 16: (4, 4)}


def sudoku_rule_violations(answers: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """[P] bool: the N x N digit grid (values 1..N, row-major [P, N*N]) breaks a row, column or
    box constraint, or changes a given of `inputs` (same layout, 0 = blank)."""
    p, s = answers.shape
    n = int(round(s**0.5))
    grid = answers.reshape(p, n, n)
    full = np.arange(1, n + 1)

    def bad(units):  # units [P, U, N]: some unit is not a permutation of 1..N
        return ~(np.sort(units, axis=-1) == full).all(-1).all(-1)

    units = [grid, grid.transpose(0, 2, 1)]
    if n in _BOXES:
        r, c = _BOXES[n]
        boxes = grid.reshape(p, n // r, r, n // c, c).transpose(0, 1, 3, 2, 4).reshape(p, n, n)
        units.append(boxes)
    broken = np.zeros(p, bool)
    for u in units:
        broken |= bad(u)
    given = inputs > 0
    broken |= (given & (inputs != answers)).any(-1)
    return broken


class Solver:
    """The jitted pieces of the solver for one config (built once, reused across evaluations).

    The round budget is an argument of the jitted round function, not a constant of it: one
    compile serves every budget (`solve(..., rounds=R)`; default `ldt.rounds`), so the scaling
    harness's depth axis reuses it; the chains K fix the shapes (M x K rows), one Solver each.
    """

    def __init__(self, config):
        self.config = config
        self.ops = ldt.build_ops(config)
        g = config.ldt
        self.m, self.k, self.per_call = g.solver_puzzles, g.chains, g.rounds_per_call
        self.max_rounds = g.rounds
        ops, k = self.ops, self.k

        def rounds(params, slots, key, budget):
            def body(i, sl):
                r = ops.step(
                    params,
                    sl["state"],
                    sl["given"],
                    jax.random.fold_in(key, i),
                    cls_threshold=g.cls_threshold,
                    dropout=g.eval_dropout,
                    inside=sl["inside"],
                )
                live = sl["active"]  # [M]
                live_rows = jnp.repeat(live, k)
                solved = (r.solved & live_rows).reshape(-1, k)
                any_solved = solved.any(-1)
                first = jnp.argmax(solved, axis=-1)
                won = r.state.reshape((-1, k) + r.state.shape[1:])
                won = jnp.take_along_axis(won, first[:, None, None, None], axis=1)[:, 0]
                conflict = r.conflict & live_rows
                state = jnp.where(live_rows[:, None, None], r.state, sl["state"])
                state = jnp.where(conflict[:, None, None], sl["orig"], state)
                n_rounds = sl["rounds"] + live.astype(jnp.int32)
                accepted = sl["accepted"] | any_solved
                return {
                    **sl,
                    "state": state,
                    "answer": jnp.where(any_solved[:, None, None], won, sl["answer"]),
                    "accepted": accepted,
                    "rounds": n_rounds,
                    "resets": sl["resets"] + conflict.reshape(-1, k).sum(-1),
                    "active": live & ~accepted & (n_rounds < budget),
                }

            return jax.lax.fori_loop(0, self.per_call, body, slots)

        def fill(slots, mask_M, puzzle_MSC):
            """Slots where `mask_M` start the puzzles `puzzle_MSC` (K copies each)."""
            rows = jnp.repeat(mask_M, k)[:, None, None]
            lat = jnp.repeat(puzzle_MSC, k, axis=0)
            m3 = mask_M[:, None, None]
            return {
                "state": jnp.where(rows, lat, slots["state"]),
                "orig": jnp.where(rows, lat, slots["orig"]),
                "given": jnp.where(rows[..., 0], ldt_lattice.given_mask(lat), slots["given"]),
                "inside": jnp.where(rows[..., 0], ldt_lattice.in_puzzle(lat), slots["inside"]),
                "answer": jnp.where(m3, False, slots["answer"]),
                "accepted": slots["accepted"] & ~mask_M,
                "rounds": jnp.where(mask_M, 0, slots["rounds"]),
                "resets": jnp.where(mask_M, 0, slots["resets"]),
                "active": slots["active"] | mask_M,
            }

        self._rounds = jax.jit(rounds)
        self.fill = jax.jit(fill)

    def rounds(self, params: dict, slots: dict, key: jax.Array, budget: int | None = None):
        """`ldt.rounds_per_call` rounds of every live slot; a slot stops after `budget` rounds
        (default `ldt.rounds`; a traced value, so any budget reuses the compiled function)."""
        budget = self.max_rounds if budget is None else budget
        return self._rounds(params, slots, key, np.int32(budget))

    def empty_slots(self) -> dict:
        m, k = self.m, self.k
        s, c = self.config.model.seq_len, self.ops.domain.channels
        z = jnp.zeros((m * k, s, c), bool)
        return {
            "state": z,
            "orig": z,
            "given": jnp.zeros((m * k, s), bool),
            "inside": jnp.zeros((m * k, s), bool),
            "answer": jnp.zeros((m, s, c), bool),
            "accepted": jnp.zeros((m,), bool),
            "rounds": jnp.zeros((m,), jnp.int32),
            "resets": jnp.zeros((m,), jnp.int32),
            "active": jnp.zeros((m,), bool),
        }

    def solve(
        self, params: dict, inputs: np.ndarray, *, seed: int = 0, rounds: int | None = None
    ) -> dict:
        """Solves every row of `inputs` (tokens [P, S]) with a budget of `rounds` rounds per
        puzzle (default `ldt.rounds`). Returns per-puzzle numpy arrays: "answer" tokens [P, S]
        (the input where abstained), "accepted" [P], "rounds" [P], "resets" [P], and "calls"
        (the jitted calls made)."""
        budget = self.max_rounds if rounds is None else int(rounds)
        p_total = inputs.shape[0]
        domain = self.ops.domain
        answer = np.array(inputs, copy=True)
        accepted = np.zeros(p_total, bool)
        rounds = np.zeros(p_total, np.int32)
        resets = np.zeros(p_total, np.int32)
        slot_puzzle = np.full(self.m, -1)
        slots = self.empty_slots()
        key = jax.random.PRNGKey(seed)
        nxt, calls = 0, 0
        while True:
            free = slot_puzzle < 0
            mask = np.zeros(self.m, bool)
            tokens = np.zeros((self.m, inputs.shape[1]), np.int32)
            for i in np.flatnonzero(free):
                if nxt >= p_total:
                    break
                slot_puzzle[i], mask[i], tokens[i] = nxt, True, inputs[nxt]
                nxt += 1
            if mask.any():
                puz = ldt_lattice.tokens_to_lattice(jnp.asarray(tokens), domain)
                slots = self.fill(slots, jnp.asarray(mask), puz)
            if (slot_puzzle < 0).all():
                break
            slots = self.rounds(params, slots, jax.random.fold_in(key, calls), budget)
            calls += 1
            host = jax.device_get({k: slots[k] for k in ("active", "accepted", "rounds", "resets")})
            done = (slot_puzzle >= 0) & ~host["active"]
            if done.any():
                won = np.asarray(slots["answer"])
                for i in np.flatnonzero(done):
                    p = slot_puzzle[i]
                    accepted[p] = host["accepted"][i]
                    rounds[p], resets[p] = host["rounds"][i], host["resets"][i]
                    if accepted[p]:  # cells outside the puzzle keep their (PAD) token
                        digits = won[i].argmax(-1) + domain.token_offset
                        answer[p] = np.where(inputs[p] != 0, digits, inputs[p])
                    slot_puzzle[i] = -1
        return {
            "answer": answer,
            "accepted": accepted,
            "rounds": rounds,
            "resets": resets,
            "calls": calls,
        }


def score(config, inputs, labels, result: dict) -> tuple[dict, np.ndarray]:
    """(summary, status [P]) of a `Solver.solve` result against the labels.

    The status and `ldt/correct` / `ldt/wrong` are exact match with the label in every domain.
    `ldt/rule_violations` counts accepted answers that break the domain's rules: a Sudoku row,
    column, box or given; Snowflake's groups; for Maze, answers that are not one simple S->G
    path through open cells with walls, S and G unchanged (`rrm_jax.eval.maze.valid_path`).
    Maze also gets the paper's lenient metric, `ldt/lenient_correct` (+ `_count`): accepted
    answers that are any valid S->G path of optimal length (the official CORRECT_GT +
    CORRECT_ALT, `rrm_jax.eval.maze.lenient`); lenient_correct - correct is the official
    CORRECT_ALT share (other shortest paths than the label's).
    """
    domain = ldt_lattice.domain_for(config.ldt.domain, config.model.vocab_size)
    answer, accepted = result["answer"], result["accepted"]
    right = ((answer == labels) | (labels < 0)).all(-1)
    status = np.where(~accepted, ABSTAINED, np.where(right, CORRECT, WRONG))
    n = len(status)
    k = config.ldt.chains
    if domain.name == "sudoku":
        grid = answer - domain.token_offset + 1
        given = np.where(inputs >= domain.token_offset, inputs - domain.token_offset + 1, 0)
        violations = int((sudoku_rule_violations(grid, given) & accepted).sum())
    elif domain.name == "snowflake":  # hexagons and meeting points (`rrm_jax.eval.snowflake`)
        from rrm_jax.eval import snowflake

        violations = int((~snowflake.is_valid(answer, inputs) & accepted).sum())
    elif domain.name == "maze":  # a simple S->G path; lenient: of optimal length
        from rrm_jax.eval import maze

        grid = (len(answer),) + ldt.grid_shape(config)
        a, x = answer.reshape(grid), inputs.reshape(grid)
        violations = int((~maze.valid_path(a, x) & accepted).sum())
        lenient = maze.lenient(a, x) & accepted
    else:
        violations = -1  # no rule checker for this domain
    counts = {
        name: int((status == code).sum())
        for name, code in (("correct", CORRECT), ("wrong", WRONG), ("abstained", ABSTAINED))
    }
    cells = (answer == labels).mean(-1)
    rounds = result["rounds"].astype(np.float64)
    summary = {
        "count": float(n),
        # the usual keys, so the trainer's report reads the same: exact accuracy = correct;
        # token accuracy over all puzzles (an abstention returns the puzzle itself); "halting
        # accuracy" = the share of verdicts that are sound (not a wrong accepted answer)
        "exact_accuracy": counts["correct"] / n,
        "accuracy": float(cells.mean()),
        "q_halt_accuracy": 1.0 - counts["wrong"] / n,
        "steps": float(rounds.mean()),
        "halt_steps": float(rounds.mean()),
        "exact_at_halt": counts["correct"] / n,
        "exact_by_segment": [counts["correct"] / n],
        "lm_loss": 0.0,
        "ldt/correct": counts["correct"] / n,
        "ldt/wrong": counts["wrong"] / n,
        "ldt/abstained": counts["abstained"] / n,
        "ldt/correct_count": float(counts["correct"]),
        "ldt/wrong_count": float(counts["wrong"]),
        "ldt/abstained_count": float(counts["abstained"]),
        "ldt/rule_violations": float(violations),
        "ldt/rounds_mean": float(rounds.mean()),
        "ldt/forwards_mean": float(rounds.mean() * k),
        "ldt/rounds_solved_mean": float(rounds[accepted].mean()) if accepted.any() else 0.0,
        "ldt/resets_mean": float(result["resets"].mean()),
    }
    if domain.name == "maze":
        summary["ldt/lenient_correct"] = float(lenient.sum()) / n
        summary["ldt/lenient_correct_count"] = float(lenient.sum())
    return summary, status


def collect(batches: Iterable[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The valid rows' (inputs, labels) of host eval batches."""
    xs, ys = [], []
    for batch in batches:
        valid = np.asarray(batch["valid"], bool)
        xs.append(np.asarray(batch["inputs"])[valid])
        ys.append(np.asarray(batch["labels"])[valid])
    if not xs:
        raise ValueError("the evaluation split produced no batches")
    return np.concatenate(xs), np.concatenate(ys)


def gather_puzzles(rows: dict, allgather=None) -> dict:
    """Every process's per-puzzle arrays `rows` (leading axis: its puzzles; the lengths may
    differ between processes), concatenated in process order: the whole test split. With one
    process `rows` itself. `allgather` (default `multihost_utils.process_allgather`, which
    stacks a tree over processes on a new axis 0) is a parameter for tests."""
    if allgather is None:
        if jax.process_count() == 1:
            return rows
        from jax.experimental import multihost_utils

        allgather = multihost_utils.process_allgather
    rows = {k: np.asarray(v) for k, v in rows.items()}
    counts = np.asarray(allgather(np.int32(len(next(iter(rows.values())))))).reshape(-1)
    top = int(counts.max())

    def pad(v):  # to the longest shard; bool as uint8 for the collective
        v = v.astype(np.uint8) if v.dtype == bool else v
        return np.concatenate([v, np.zeros((top - len(v),) + v.shape[1:], v.dtype)])

    full = allgather({k: pad(v) for k, v in rows.items()})
    return {
        k: np.concatenate([np.asarray(full[k])[i, :c] for i, c in enumerate(counts)]).astype(
            v.dtype
        )
        for k, v in rows.items()
    }


def _process_local(params: dict) -> dict:
    """With several processes, each solves its own shard on its own device: the replicated
    params' local copy (a global array would make every call a program over all processes)."""
    if jax.process_count() == 1:
        return params

    def local(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.is_fully_replicated:
                raise ValueError("the LDT solver needs replicated params")
            return x.addressable_data(0)
        return x

    return jax.tree.map(local, params)


_SOLVERS: dict = {}


def solver_for(config) -> Solver:
    """The cached `Solver` of `config`: one per setting except the round budget (a call
    argument, `Solver.solve(rounds=...)`), so budgets share a compile; a few are kept (the
    scaling harness's widths)."""
    fields = json.loads(config.to_json_best_effort())
    fields["ldt"]["rounds"] = None
    key = json.dumps(fields, sort_keys=True)
    if key not in _SOLVERS:
        while len(_SOLVERS) >= 8:
            _SOLVERS.pop(next(iter(_SOLVERS)))
        _SOLVERS[key] = Solver(config)
    return _SOLVERS[key]


def evaluate(config, params: dict, batches: Iterable[dict]) -> dict:
    """Runs the solver (K = `ldt.chains`, `ldt.rounds` rounds) on the test rows of `batches`;
    the summary of `score` plus the wall time ("ldt/seconds", this process's). With several
    processes each solves its own rows and the per-puzzle results are gathered first, so the
    counts, rates and means are over the whole test split (`gather_puzzles`)."""
    solver = solver_for(config)
    inputs, labels = collect(batches)
    params = _process_local({"dense": params["dense"]})
    t0 = time.time()
    result = solver.solve(params, inputs, seed=config.ldt.solver_seed, rounds=config.ldt.rounds)
    per_puzzle = {
        k: v
        for k, v in result.items()
        if isinstance(v, np.ndarray) and v.shape[:1] == (len(inputs),)
    }
    rows = gather_puzzles({"inputs": inputs, "labels": labels, **per_puzzle})
    inputs, labels = rows.pop("inputs"), rows.pop("labels")
    summary, _ = score(config, inputs, labels, {**result, **rows})
    summary["ldt/seconds"] = time.time() - t0
    return summary
