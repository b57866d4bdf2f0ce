"""LDT: Lattice Deduction Transformers (Davis, Haller, Alfarano, Santolucito, arXiv 2605.08605).

What is new in this paper, against HRM/TRM: no latent survives between forward passes. The state
passed from one outer step to the next is an element of the grid powerset lattice, a binary
multi-hot tensor [B, S, C] (a blank cell has every candidate alive, a given is one-hot, bottom is
a cell with none). One outer step (`dpll_step`, the official `experiments/sudoku/dpll.py`):

    draw a fresh random symmetry (digit permutation x dihedral D4) per row; transform the state
    keep, digit, conflict = last loop's heads of model(state)
    kill candidates with sigmoid(keep) < threshold (alive, never on a given cell): a meet, so
                the state only shrinks
    conflict = some cell empty OR sigmoid(conflict) > cls_threshold
    solved   = every cell a singleton AND NOT conflict
    otherwise branch: a uniformly random multi-candidate cell is pinned to a digit sampled from
                softmax(digit / tau) over its alive candidates
    undo the symmetry

The network (`LoopedTransformer`, `models/ldt_net.py`) runs `num_loops` weight-tied loops over
the state (input re-injection, a normalised outer residual), each giving keep and digit logits per
cell and candidate and a conflict logit from a CLS token. The lattice operations, the training
targets (alpha, gt_conflict) and the symmetries are `models/ldt_lattice.py`; this file holds the
step operator, the fresh samples and losses, and the `Model`.

Training (the official `experiments/sudoku/train.py`), mapped onto this project's ACT trainer:
the on-policy pool is the ACT carry. Each carry row holds the fresh sample it started from
(`orig`, whose singletons are the givens never killed), the current lattice `state`, the target
`solution` (all zeros for an UNSAT error-hint sample) and the previous alpha. A row refilled by
`act.refill` (`reset_carry`) is marked `fresh`; `apply(training=True)` builds its start state
from the batch with the fresh-sample mix (20% zero-hint, 55% correct-hint with a U(0,1) fraction
of the blanks filled, 25% error-hint: a U(0.1,1) fill with a U(0.01,0.3) fraction of the fills
corrupted, target bottom), then:
  1. alpha = OR of the solutions consistent with the state (else the previous alpha); keep target
     = state AND alpha; gt_conflict = some cell has no alive candidate consistent with alpha;
  2. a fresh random symmetry and all loops with dropout: the loss averaged over the loops (the
     last one only with `final_only`) of weighted BCE on the keep logits (w+ 4, w- 0.5) +
     ce_weight x CE of the digit logits on non-given cells of SAT rows whose alpha is single-valued
     + conflict_weight x BCE(conflict logit, gt_conflict). The official means over the batch are
     returned as per-row terms (`Outputs.losses`) whose sum over the batch divided by its size is
     the official value (the CE term is normalised by the batch's count of supervised cells);
  3. one `dpll_step` without gradient, in eval mode (no dropout), with its own symmetry and the
     training conflict threshold, advances the state;
  4. q_halt is +100 for rows to discard (solved, or flagged as conflict AND truly conflicting)
     and -100 otherwise, so `act.halt` with exploration 0 refills exactly those rows, and the
     rows whose age reaches `act.max_steps` (the official max_age 100 discards a row when
     age + 1 > 100, i.e. after 101 steps: `act.max_steps=101`).
Deliberate differences, each a documented choice:
- no augmentation of the fresh sample itself: every forward (the trained one and the dpll step)
  draws a uniformly random symmetry, so also transforming the stored sample would not change what
  the model sees (a uniform group element times any fixed one is uniform), and keeping the pool in
  the data's frame keeps `Outputs.logits` comparable with the batch labels;
- Maze multi-path supervision (`ldt.num_solutions` = K > 1; the official `k_solutions`, 512 for
  Maze-Hard): a row's K solutions are its label plus K - 1 shortest S->G paths drawn uniformly
  over the maze's shortest paths (`data/maze_paths.py`, the official `sample_k_solutions`). The
  batch still carries one label: the K - 1 paths are drawn inside the model when a row enters
  the pool, from the maze itself, and kept in the carry as path masks [B, K-1, S]; the draw
  depends only on (train.seed + 13, the maze), so a maze always gets the same K solutions, as
  in the official pregen cache (one draw per puzzle). Alpha is the union of the solutions still
  consistent with the state, the previous alpha when none is (`alpha_surviving_paths`,
  `models/ldt_lattice.py`); a fresh row's previous alpha is the union of all K. K = 1 is the
  label only, as for Sudoku.
`apply(training=False)` runs one solver round on a single chain (restart on conflict, a solved
chain is frozen); the full K-chain solver with abstention is `rrm_jax/eval/ldt_solver.py`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rrm_jax.data import maze_paths
from rrm_jax.models.base import Model, Outputs
from rrm_jax.models.ldt_lattice import (
    DOMAINS,
    MAZE_PATH_CH,
    SYMMETRIES,
    Domain,
    alive_counts,
    alpha_surviving,
    alpha_surviving_paths,
    apply_aug,
    apply_aug_cells,
    domain_for,
    given_mask,
    gt_conflict,
    identity_aug,
    in_puzzle,
    invert_aug,
    labels_to_lattice,
    sample_aug,
    tokens_to_lattice,
)
from rrm_jax.models.ldt_net import LoopedTransformer

# q_halt of rows the pool discards (and of rows it keeps, negated)
HALT_LOGIT = 100.0
NEG = -1e4  # logit of tokens that are no candidate (PAD, blank)


# ------------------------------------------------------------------------------------------------
# The step operator
# ------------------------------------------------------------------------------------------------


class StepResult(NamedTuple):
    state: jax.Array  # [B, S, C] bool, canonical frame
    conflict: jax.Array  # [B] bool
    solved: jax.Array  # [B] bool
    killed: jax.Array  # [B, S, C] bool, the deduction's kills (canonical)
    branched: jax.Array  # [B] bool, a cell was pinned
    digit_logits: jax.Array  # [B, S, C] fp32 (canonical), the last loop's
    keep_logits: jax.Array  # [B, S, C] fp32 (canonical)


def dpll_step(
    forward,
    state_BSC: jax.Array,
    given_BS: jax.Array,
    key: jax.Array,
    *,
    rows: int,
    cols: int,
    threshold: float,
    cls_threshold: float,
    temperature: float,
    augment: bool,
    channels: bool,
    cells: str,
    has_conflict_head: bool = True,
    inside_BS: jax.Array | None = None,
) -> StepResult:
    """One deduction + branching step (official `dpll_step`), pure and jit-able.

    `forward(state_BSC, inside_BS, key) -> (keep, digit, conflict)` of the last loop; cells
    outside the puzzle (`inside_BS` False; default none) are left alone. The symmetry is drawn
    per row, the whole step runs in the transformed frame and the new state is mapped back.
    """
    b, s, c = state_BSC.shape
    k_aug, k_fwd, k_cell, k_digit = jax.random.split(key, 4)
    if augment:
        aug = sample_aug(k_aug, b, rows, cols, c, channels=channels, cells=cells)
    else:
        aug = identity_aug(b, s, c)
    st = apply_aug(state_BSC, aug)
    given = apply_aug_cells(given_BS, aug)
    inside = jnp.ones((b, s), bool) if inside_BS is None else apply_aug_cells(inside_BS, aug)
    keep, digit, conflict_logit = forward(st, inside, k_fwd)
    keep, digit = keep.astype(jnp.float32), digit.astype(jnp.float32)
    # deduction: a meet with the model's keep set; givens are never touched
    kill = (jax.nn.sigmoid(keep) < threshold) & st & ~given[..., None] & inside[..., None]
    st = st & ~kill
    n_alive = alive_counts(st)
    empty = ((n_alive == 0) & inside).any(-1)
    cls_fires = jnp.zeros_like(empty)
    if has_conflict_head:
        cls_fires = jax.nn.sigmoid(conflict_logit.astype(jnp.float32)) > cls_threshold
    conflict = empty | cls_fires
    solved = ((n_alive == 1) | ~inside).all(-1) & ~conflict
    branch = ~conflict & ~solved  # then some cell has >= 2 candidates
    # branching: a uniform multi-candidate cell, a digit from softmax(digit / tau) over its alive
    multi = (n_alive >= 2) & inside
    cell = jax.random.categorical(k_cell, jnp.where(multi, 0.0, -jnp.inf), axis=-1)  # [B]
    alive_at = jnp.take_along_axis(st, cell[:, None, None], axis=1)[:, 0]  # [B, C]
    logits_at = jnp.take_along_axis(digit, cell[:, None, None], axis=1)[:, 0]
    if temperature > 0:
        pick = jax.random.categorical(
            k_digit, jnp.where(alive_at, logits_at / temperature, -jnp.inf), axis=-1
        )
    else:
        pick = jnp.argmax(jnp.where(alive_at, logits_at, -jnp.inf), axis=-1)
    pinned = jax.nn.one_hot(pick, c, dtype=jnp.int32) > 0
    at_cell = (jnp.arange(s)[None, :] == cell[:, None]) & branch[:, None]  # [B, S]
    st = jnp.where(at_cell[..., None], pinned[:, None, :], st)
    return StepResult(
        invert_aug(st, aug),
        conflict,
        solved,
        invert_aug(kill, aug),
        branch,
        invert_aug(digit, aug),
        invert_aug(keep, aug),
    )


# ------------------------------------------------------------------------------------------------
# Training: fresh samples, targets, losses
# ------------------------------------------------------------------------------------------------


def fresh_sample(
    key: jax.Array,
    puzzle_BSC: jax.Array,
    solution_BSC: jax.Array,
    *,
    mix: tuple[float, float, float],
    correct_fill: tuple[float, float],
    error_fill: tuple[float, float],
    error_rate: tuple[float, float],
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The official `_make_sample`, batched: (start state, target solution, is_sat) per row.

    zero-hint: the puzzle. correct-hint: floor(U(correct_fill) x blanks) random blanks take their
    true digit. error-hint: max(1, floor(U(error_fill) x blanks)) blanks take their true digit,
    then max(1, floor(U(error_rate) x filled)) of them a uniformly drawn wrong digit; the target is
    bottom (all zeros). A puzzle without blanks stays a zero-hint sample.
    """
    b, s, c = puzzle_BSC.shape
    ks = jax.random.split(key, 7)
    kind = jax.random.categorical(ks[0], jnp.log(jnp.asarray(mix, jnp.float32)), shape=(b,))
    blank = alive_counts(puzzle_BSC) > 1
    n_blank = blank.sum(-1)
    is_error = (kind == 2) & (n_blank > 0)
    is_correct = kind == 1
    lo, hi = (
        jnp.where(is_error, error_fill[0], correct_fill[0]),
        jnp.where(is_error, error_fill[1], correct_fill[1]),
    )
    frac = jax.random.uniform(ks[1], (b,), minval=lo, maxval=hi)
    n_fill = jnp.floor(frac * n_blank).astype(jnp.int32)
    n_fill = jnp.where(is_error, jnp.maximum(n_fill, 1), jnp.where(is_correct, n_fill, 0))
    # a uniformly random subset of n_fill blanks: the n_fill smallest of random scores
    score = jnp.where(blank, jax.random.uniform(ks[2], (b, s)), 2.0)
    rank = jnp.argsort(jnp.argsort(score, axis=-1), axis=-1)
    filled = blank & (rank < n_fill[:, None])
    x = jnp.where(filled[..., None], solution_BSC, puzzle_BSC)
    rate = jax.random.uniform(ks[3], (b,), minval=error_rate[0], maxval=error_rate[1])
    n_bad = jnp.maximum(jnp.floor(rate * n_fill).astype(jnp.int32), 1)
    score = jnp.where(filled, jax.random.uniform(ks[4], (b, s)), 2.0)
    rank = jnp.argsort(jnp.argsort(score, axis=-1), axis=-1)
    corrupt = filled & (rank < n_bad[:, None]) & is_error[:, None]
    true_digit = jnp.argmax(solution_BSC, axis=-1)
    wrong = (true_digit + jax.random.randint(ks[5], (b, s), 1, c)) % c  # uniform over the others
    x = jnp.where(corrupt[..., None], jax.nn.one_hot(wrong, c, dtype=jnp.int32) > 0, x)
    y = solution_BSC & ~is_error[:, None, None]
    return x, y, ~is_error


def weighted_bce(logits, targets, pos_weight: float, neg_weight: float) -> jax.Array:
    """-(w+ t log sigmoid(x) + w- (1 - t) log sigmoid(-x)), elementwise (official
    `weighted_bce_with_logits`, reduction none)."""
    x = logits.astype(jnp.float32)
    t = targets.astype(jnp.float32)
    return -(pos_weight * t * jax.nn.log_sigmoid(x) + neg_weight * (1 - t) * jax.nn.log_sigmoid(-x))


def loss_terms(
    keep_LBSC,
    digit_LBSC,
    conflict_LB,
    state_BSC,
    alpha_BSC,
    given_BS,
    conflict_target_B,
    *,
    pos_weight: float,
    neg_weight: float,
    ce_weight: float,
    conflict_weight: float,
    final_only: bool = False,
    inside_BS: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Per-row loss terms [B] whose batch mean is the official `_losses` (all in one frame).

    Per loop: weighted BCE averaged over the batch's cells and candidates; + ce_weight x the
    digit cross-entropy averaged over the batch's supervised cells (non-given, alpha a singleton,
    the row SAT); + conflict_weight x the conflict BCE averaged over the batch. Averaged over the
    loops, or the last loop only (`final_only`, the authors' D2 ablation). Cells outside the
    puzzle (`inside_BS` False) carry no loss; the BCE mean still divides by every cell, as the
    official Snowflake trainer.
    """
    if final_only:
        keep_LBSC, digit_LBSC, conflict_LB = keep_LBSC[-1:], digit_LBSC[-1:], conflict_LB[-1:]
    b = state_BSC.shape[0]
    target = state_BSC & alpha_BSC
    inside = jnp.ones(given_BS.shape, bool) if inside_BS is None else inside_BS
    bce = weighted_bce(keep_LBSC, target[None], pos_weight, neg_weight)
    bce = jnp.where(inside[None, ..., None], bce, 0.0).mean((-1, -2))  # [L, B]
    is_sat = ~conflict_target_B
    single = alpha_BSC.astype(jnp.int32).sum(-1) <= 1
    supervised = ~given_BS & single & is_sat[:, None] & inside
    gt = jnp.argmax(alpha_BSC, axis=-1)
    logp = jax.nn.log_softmax(digit_LBSC.astype(jnp.float32), axis=-1)
    ce = -jnp.take_along_axis(logp, gt[None, :, :, None], axis=-1)[..., 0]  # [L, B, S]
    count = jnp.maximum(supervised.sum(), 1).astype(jnp.float32)
    ce_row = b * jnp.where(supervised[None], ce, 0.0).sum(-1) / count  # [L, B]
    out = {"keep_loss": bce.mean(0), "digit_loss": ce_weight * ce_row.mean(0)}
    if conflict_weight > 0:
        x = conflict_LB.astype(jnp.float32)
        t = conflict_target_B.astype(jnp.float32)[None]
        cbce = jax.nn.softplus(x) - x * t
        out["conflict_loss"] = conflict_weight * cbce.mean(0)
    return out


# ------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------


def check_config(config) -> None:
    """Raises ValueError for an LDT config the trainer cannot run as the paper does."""
    g, m = config.ldt, config.model
    if g.domain not in DOMAINS:
        raise ValueError(f"ldt.domain={g.domain!r}; expected one of {DOMAINS}")
    if config.loss.lm_weight != 0 or config.loss.q_weight != 0:
        raise ValueError(
            "LDT returns its own loss terms: set loss.lm_weight=0 and loss.q_weight=0 (q_halt "
            "is the pool's discard decision, not a trained head)"
        )
    if config.act.exploration_prob != 0 or config.act.halt_rule != "q_halt":
        raise ValueError(
            "LDT's pool discards exactly its flagged rows: act.exploration_prob=0, "
            "act.halt_rule='q_halt'"
        )
    if m.puzzle_emb_ndim != 0:
        raise ValueError("LDT has no puzzle embedding: model.puzzle_emb_ndim=0")
    if m.mixer != "attention" or m.pos_encodings not in ("learned", "rope"):
        raise ValueError("LDT needs model.mixer='attention', pos_encodings 'learned' or 'rope'")
    if g.num_loops < 1 or not 0 <= g.dropout < 1 or not 0 <= g.eval_dropout < 1:
        raise ValueError("ldt.num_loops >= 1 and dropouts in [0, 1) are required")
    mix = (g.zero_hint, g.correct_hint, g.error_hint)
    if min(mix) < 0 or sum(mix) <= 0:
        raise ValueError("ldt.zero_hint/correct_hint/error_hint must be >= 0 with a positive sum")
    if g.chains < 1 or g.rounds < 1 or g.solver_puzzles < 1 or g.rounds_per_call < 1:
        raise ValueError("ldt.chains, rounds, solver_puzzles and rounds_per_call must be >= 1")
    if g.symmetries not in SYMMETRIES:
        raise ValueError(f"ldt.symmetries={g.symmetries!r}; expected one of {SYMMETRIES}")
    if g.symmetries == "d4" and g.grid_rows and g.grid_rows != g.grid_cols:
        raise ValueError("ldt.symmetries='d4' needs a square grid")
    if not 0 < g.threshold < 1 or not 0 < g.cls_threshold < 1 or g.temperature < 0:
        raise ValueError("ldt thresholds in (0, 1) and temperature >= 0 are required")
    if g.num_solutions < 1:
        raise ValueError("ldt.num_solutions must be >= 1")
    if g.num_solutions > 1 and g.domain != "maze":
        raise ValueError(
            "ldt.num_solutions > 1 (sampled shortest paths) is for ldt.domain='maze' only"
        )


def grid_shape(config) -> tuple[int, int]:
    g, s = config.ldt, config.model.seq_len
    if g.grid_rows and g.grid_cols:
        if g.grid_rows * g.grid_cols != s:
            raise ValueError(f"ldt.grid_rows x grid_cols != seq_len {s}")
        return g.grid_rows, g.grid_cols
    side = int(round(s**0.5))
    if side * side != s:
        raise ValueError(f"seq_len {s} is not a square grid: set ldt.grid_rows and grid_cols")
    return side, side


class Ops(NamedTuple):
    """What the solver and the tests need besides the `Model`."""

    net: LoopedTransformer
    domain: Domain
    rows: int
    cols: int
    run: object  # (params, state, key, dropout) -> every loop's (keep, digit, conflict)
    forward: object  # (params, state, key, dropout) -> last loop's (keep, digit, conflict)
    step: object  # (params, state, given, key, *, cls_threshold, dropout) -> StepResult
    answer_logits: object  # (state, digit_logits) -> [B, S, V]


def build_ops(config) -> Ops:
    m, g = config.model, config.ldt
    domain = domain_for(g.domain, m.vocab_size)
    rows, cols = grid_shape(config)
    cls = g.conflict_weight > 0
    kw = dict(
        dim=m.hidden_size,
        heads=m.num_heads,
        layers=m.num_layers,
        loops=g.num_loops,
        ffn_mult=m.expansion,
        channels=domain.model_channels,
        rows=rows,
        cols=cols,
        cls=cls,
        rope=m.pos_encodings == "rope",
    )
    net = LoopedTransformer(**kw)
    nets = {}

    def net_with(dropout: float) -> LoopedTransformer:
        if dropout not in nets:
            nets[dropout] = LoopedTransformer(**kw, dropout=dropout)
        return nets[dropout]

    def run(params, state, inside, key, dropout: float):
        """Every loop's (keep, digit, conflict) logits, the candidate channels only."""
        x = state.astype(jnp.float32)
        if domain.mask_channel:
            x = jnp.concatenate([x, inside[..., None].astype(jnp.float32)], axis=-1)
        rngs = {"dropout": key} if dropout > 0 else {}
        keep, digit, conflict = net_with(dropout).apply(
            {"params": params["dense"]["net"]}, x, rngs=rngs
        )
        c = domain.channels
        return keep[..., :c], digit[..., :c], conflict

    def forward(params, state, inside, key, dropout: float = 0.0):
        keep, digit, conflict = run(params, state, inside, key, dropout)
        return keep[-1], digit[-1], conflict[-1]

    def step(params, state, given, key, *, cls_threshold: float, dropout: float = 0.0, inside=None):
        return dpll_step(
            lambda st, ins, k: forward(params, st, ins, k, dropout),
            state,
            given,
            key,
            rows=rows,
            cols=cols,
            threshold=g.threshold,
            cls_threshold=cls_threshold,
            temperature=g.temperature,
            augment=g.augment,
            channels=domain.permute_channels,
            cells=g.symmetries,
            has_conflict_head=cls,
            inside_BS=inside,
        )

    def answer_logits(state_BSC, digit_BSC):
        """[B, S, V]: a singleton cell's candidate (+100), else the digit head over the alive
        candidates; tokens that are no candidate get a large negative logit."""
        single = alive_counts(state_BSC) == 1
        d = jnp.where(state_BSC, digit_BSC.astype(jnp.float32), NEG)
        d = jnp.where(single[..., None], jnp.where(state_BSC, HALT_LOGIT, NEG), d)
        lo = jnp.full(d.shape[:2] + (domain.token_offset,), NEG, jnp.float32)
        hi = m.vocab_size - domain.token_offset - domain.channels
        return jnp.concatenate([lo, d, jnp.full(d.shape[:2] + (hi,), NEG, jnp.float32)], -1)

    return Ops(net, domain, rows, cols, run, forward, step, answer_logits)


def build(config) -> Model:
    """Builds LDT from an experiment config (blocks `model`, `ldt`)."""
    m, g = config.model, config.ldt
    ops = build_ops(config)
    domain, net = ops.domain, ops.net
    c, s = domain.channels, m.seq_len
    mix = (g.zero_hint, g.correct_hint, g.error_hint)
    fill = dict(
        mix=mix,
        correct_fill=tuple(g.correct_fill),
        error_fill=tuple(g.error_fill),
        error_rate=tuple(g.error_rate),
    )
    num_solutions = int(g.num_solutions)
    # the official sampler seed is the data seed + 13; each maze's draw depends only on it and
    # the maze (`maze_paths.puzzle_keys`), as the official pregen cache holds one draw per puzzle
    paths_seed = int(config.train.seed) + 13

    def sample_paths(inputs_BS, label_path_BS):
        """[B, K - 1, S] uniform shortest paths of each row's maze (`data/maze_paths.py`)."""
        keys = maze_paths.puzzle_keys(paths_seed, inputs_BS)
        return maze_paths.jax_sample_paths(
            keys, inputs_BS, num_solutions - 1, ops.rows, ops.cols, label_path_BS
        )

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch
        params = net.init(rng, jnp.zeros((1, s, domain.model_channels), jnp.float32))["params"]
        return {"dense": {"net": params}, "puzzle_emb": jnp.zeros((1, 1), jnp.float32), "const": {}}

    def initial_carry(batch: dict) -> dict:
        b = batch["inputs"].shape[0]
        z = jnp.zeros((b, s, c), bool)
        f = jnp.zeros((b,), bool)
        carry = {"state": z, "orig": z, "solution": z, "alpha": z, "fresh": f, "done": f}
        if num_solutions > 1:  # the K - 1 sampled shortest paths of each row's maze
            carry["paths"] = jnp.zeros((b, num_solutions - 1, s), bool)
        return carry

    def reset_carry(params: dict, carry: dict, reset_B: jax.Array) -> dict:
        del params
        return {**carry, "fresh": carry["fresh"] | reset_B, "done": carry["done"] & ~reset_B}

    def start(carry, batch, key, training):
        """The rows' pool entries, fresh rows rebuilt from the batch."""
        puzzle = tokens_to_lattice(batch["inputs"], domain)
        solution = labels_to_lattice(batch["labels"], domain) if "labels" in batch else puzzle
        if training:
            x, y, _ = fresh_sample(key, puzzle, solution, **fill)
        else:
            x, y = puzzle, solution
        f = carry["fresh"][:, None, None]
        pool = {
            "state": jnp.where(f, x, carry["state"]),
            "orig": jnp.where(f, x, carry["orig"]),
            "solution": jnp.where(f, y, carry["solution"]),
            "alpha": jnp.where(f, y, carry["alpha"]),
            "fresh": jnp.zeros_like(carry["fresh"]),
            "done": carry["done"] & ~carry["fresh"],
        }
        if num_solutions > 1:
            paths = carry["paths"]
            if training:  # fresh rows draw their maze's K - 1 shortest paths
                label_path = batch["labels"] == MAZE_PATH_CH + domain.token_offset
                paths = jax.lax.cond(
                    carry["fresh"].any(),
                    lambda: jnp.where(f, sample_paths(batch["inputs"], label_path), paths),
                    lambda: paths,
                )
                # a fresh row's previous alpha is the union of all K solutions (the official
                # `pool_last_alpha = solutions.any(dim=1)`)
                union = alpha_surviving_paths(jnp.ones_like(y), y, paths, y)
                pool["alpha"] = jnp.where(f, union, carry["alpha"])
            pool["paths"] = paths
        return pool

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        if rng is None:
            rng = jax.random.PRNGKey(0)
        if rng.ndim > (0 if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else 1):
            rng = rng[0]  # per-row keys (rollout harness): the step draws per row anyway
        k_fresh, k_aug, k_drop, k_step = jax.random.split(rng, 4)
        pool = start(carry, batch, k_fresh, training)
        state, orig = pool["state"], pool["orig"]
        given, inside = given_mask(orig), in_puzzle(orig)
        b = state.shape[0]
        if not training:  # one solver round of one chain: restart on conflict, freeze once solved
            r = ops.step(
                jax.lax.stop_gradient(params),
                state,
                given,
                k_step,
                cls_threshold=g.cls_threshold,
                dropout=g.eval_dropout,
                inside=inside,
            )
            done = pool["done"]
            new_state = jnp.where(done[:, None, None], state, r.state)
            new_state = jnp.where((r.conflict & ~done)[:, None, None], orig, new_state)
            done = done | r.solved
            logits = ops.answer_logits(new_state, r.digit_logits)
            q = jnp.where(done, HALT_LOGIT, -HALT_LOGIT)
            new = {**pool, "state": new_state, "done": done}
            return jax.lax.stop_gradient(new), Outputs(logits, q, jnp.zeros_like(q))

        if num_solutions > 1:
            alpha = alpha_surviving_paths(
                state, pool["solution"], pool["paths"], pool["alpha"], inside
            )
        else:
            alpha = alpha_surviving(state, pool["solution"][:, None], pool["alpha"], inside)
        target_conflict = gt_conflict(state, alpha, inside)
        aug = identity_aug(b, s, c)
        if g.augment:
            aug = sample_aug(
                k_aug,
                b,
                ops.rows,
                ops.cols,
                c,
                channels=domain.permute_channels,
                cells=g.symmetries,
            )
        st_a, inside_a = apply_aug(state, aug), apply_aug_cells(inside, aug)
        keep, digit, conflict = ops.run(params, st_a, inside_a, k_drop, g.dropout)
        terms = loss_terms(
            keep,
            digit,
            conflict,
            st_a,
            apply_aug(alpha, aug),
            apply_aug_cells(given, aug),
            target_conflict,
            pos_weight=g.bce_pos_weight,
            neg_weight=g.bce_neg_weight,
            ce_weight=g.ce_weight,
            conflict_weight=g.conflict_weight,
            final_only=g.final_only,
            inside_BS=inside_a,
        )
        r = ops.step(
            jax.lax.stop_gradient(params),
            state,
            given,
            k_step,
            cls_threshold=g.train_cls_threshold,
            inside=inside,
        )
        true_conflict = r.conflict & gt_conflict(r.state, alpha, inside)
        discard = r.solved | true_conflict
        q = jnp.where(discard, HALT_LOGIT, -HALT_LOGIT)
        logits = ops.answer_logits(r.state, r.digit_logits)
        new = {**pool, "state": r.state, "alpha": alpha}
        metrics = {
            "ldt_solved": r.solved.astype(jnp.float32),
            "ldt_true_conflict": true_conflict.astype(jnp.float32),
            "ldt_sat": (~target_conflict).astype(jnp.float32),
        }
        out = Outputs(logits, q, jnp.zeros_like(q), None, terms, metrics)
        return jax.lax.stop_gradient(new), out

    return Model(init, initial_carry, reset_carry, apply, s, 0)
