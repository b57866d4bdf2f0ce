"""LDT's lattice (arXiv 2605.08605): the state passed between outer steps, its targets and its
symmetries.

A lattice element is an element of the grid powerset lattice, a binary multi-hot tensor
[B, S, C] (a blank cell has every candidate alive, a given is one-hot, bottom is a cell with
none); the meet is the per-cell intersection, so a deduction only shrinks the state. The training
targets (the official `experiments/sudoku/train.py`): alpha, the OR of the solutions still
consistent with the state, else the previous alpha (`alpha_surviving`; for the Maze multi-path
supervision computed on path masks, `alpha_surviving_paths`), and `gt_conflict`, some cell with
no candidate consistent with alpha. The symmetries (`sample_aug`: a digit permutation x a grid
symmetry per row, the official `sample_chain_augs`) act on any [B, S, C] quantity and are undone
exactly by `invert_aug`. The step operator and the training that use all this are `models/ldt.py`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# How tokens map to lattice channels. "sudoku": tokens 2..C+1 are the digits (channel t - 2) and
# the blank token 1 has every digit alive (this project's Sudoku layout: PAD 0, blank 1).
# "maze": tokens 1..5 are wall, open, start, goal, path (channel t - 1); an open cell of the input
# starts as {open, path} (the official `data/maze_hard.py`: free cells start as {free, path}).
# "snowflake": the Sudoku layout on a covering grid whose PAD cells (token 0) are outside the
# puzzle; the model gets the in-puzzle mask as one more input channel, locked, and its heads
# have that channel too, unused (the official `experiments/snowflake/train.py`, 7 channels).
# In every domain a cell outside the puzzle is a cell with no candidate in the row's original
# sample: it never counts as empty, is never branched on and carries no loss.
DOMAINS = ("sudoku", "maze", "snowflake")


class Domain(NamedTuple):
    name: str
    channels: int  # C
    token_offset: int  # channel c is token c + offset
    permute_channels: bool  # digit permutations are symmetries (not for the maze's channels)
    mask_channel: bool = False  # the in-puzzle mask is an extra model channel (snowflake)

    @property
    def model_channels(self) -> int:
        return self.channels + int(self.mask_channel)


def domain_for(name: str, vocab_size: int) -> Domain:
    if name in ("sudoku", "snowflake"):
        return Domain(name, vocab_size - 2, 2, True, name == "snowflake")
    if name == "maze":
        return Domain(name, vocab_size - 1, 1, False)
    raise ValueError(f"ldt.domain={name!r}; expected one of {DOMAINS}")


# ------------------------------------------------------------------------------------------------
# The lattice
# ------------------------------------------------------------------------------------------------


def tokens_to_lattice(tokens_BS: jax.Array, domain: Domain) -> jax.Array:
    """Input tokens -> multi-hot lattice element [B, S, C] bool (blank/open cells multi-alive)."""
    c = domain.channels
    onehot = jax.nn.one_hot(tokens_BS - domain.token_offset, c, dtype=jnp.int32) > 0
    if domain.name != "maze":
        blank = (tokens_BS == 1)[..., None]
        return onehot | blank
    open_cell = (tokens_BS == 2)[..., None]  # maze: open -> {open, path}
    path = jnp.zeros((c,), bool).at[c - 1].set(True)
    return onehot | (open_cell & path)


def labels_to_lattice(labels_BS: jax.Array, domain: Domain) -> jax.Array:
    """Solution tokens -> one-hot [B, S, C] bool (ignored or out-of-range labels: all zero)."""
    return jax.nn.one_hot(labels_BS - domain.token_offset, domain.channels, dtype=jnp.int32) > 0


def alive_counts(state_BSC: jax.Array) -> jax.Array:
    return state_BSC.astype(jnp.int32).sum(-1)


def given_mask(orig_BSC: jax.Array) -> jax.Array:
    """Cells that are singletons in the row's original sample (official `_given_mask`)."""
    return alive_counts(orig_BSC) == 1


def meet(a: jax.Array, b: jax.Array) -> jax.Array:
    """The lattice meet: per-cell intersection."""
    return a & b


def in_puzzle(orig_BSC: jax.Array) -> jax.Array:
    """[B, S] cells of the puzzle: those with a candidate in the row's original sample."""
    return orig_BSC.any(-1)


def alpha_surviving(
    state_BSC: jax.Array,
    solutions_BKSC: jax.Array,
    last_alpha_BSC: jax.Array,
    inside_BS: jax.Array | None = None,
) -> jax.Array:
    """alpha: OR over the solutions still consistent with the state (every cell keeps one of the
    solution's candidates alive); the previous alpha when none is (official `_alpha_surviving`)."""
    consistent = (state_BSC[:, None] & solutions_BKSC).any(-1)  # [B, K, S]
    if inside_BS is not None:
        consistent = consistent | ~inside_BS[:, None]
    surviving = consistent.all(-1)  # [B, K]
    alpha = (solutions_BKSC & surviving[:, :, None, None]).any(1)
    return jnp.where(surviving.any(-1)[:, None, None], alpha, last_alpha_BSC)


def gt_conflict(
    state_BSC: jax.Array, alpha_BSC: jax.Array, inside_BS: jax.Array | None = None
) -> jax.Array:
    """[B] True where some cell keeps no candidate consistent with alpha (official `_gt_conflict`;
    always True for an UNSAT sample, whose alpha is bottom)."""
    consistent = (state_BSC & alpha_BSC).any(-1)
    if inside_BS is not None:
        consistent = consistent | ~inside_BS
    return ~consistent.all(-1)


# Maze multi-path supervision (`ldt.num_solutions` = K > 1, the official `k_solutions`): a maze's
# K solutions are its label plus K - 1 shortest paths drawn uniformly (`data/maze_paths.py`).
# They differ only on the label's open/path cells, so they are stored as path masks [B, K-1, S]
# (a solution's lattice is the label with each open-or-path cell set to path where the mask is,
# open elsewhere) and alpha is computed from the masks, never materialising [B, K, S, C]
# (Maze-Hard at K=512: 900 cells x 5 candidates per solution).
MAZE_OPEN_CH, MAZE_PATH_CH = 1, 4  # channels of the open ' ' (token 2) and path 'o' (token 5)


def solutions_from_paths(solution_BSC: jax.Array, paths_BKS: jax.Array) -> jax.Array:
    """[B, 1 + K', S, C]: the label, then one maze solution per path mask (cells that are open or
    path in the label take path where the mask is, open elsewhere; other cells as the label).
    A bottom label (an UNSAT sample) gives bottom solutions."""
    y = solution_BSC[:, None]
    free = (y[..., MAZE_OPEN_CH] | y[..., MAZE_PATH_CH])[..., None]  # [B, 1, S, 1]
    c = y.shape[-1]
    onehot = lambda ch: jnp.zeros((c,), bool).at[ch].set(True)
    p = paths_BKS[..., None]
    sols = jnp.where(free, jnp.where(p, onehot(MAZE_PATH_CH), onehot(MAZE_OPEN_CH)), y)
    return jnp.concatenate([solution_BSC[:, None], sols], axis=1)


def alpha_surviving_paths(
    state_BSC: jax.Array,
    solution_BSC: jax.Array,
    paths_BKS: jax.Array,
    last_alpha_BSC: jax.Array,
    inside_BS: jax.Array | None = None,
) -> jax.Array:
    """`alpha_surviving` over the label and the maze solutions of `paths_BKS`
    (`solutions_from_paths`), computed on the masks: [B, K', S] work instead of [B, K, S, C].

    The official multi-path target (`experiments/sudoku/train.py` `_alpha_surviving`, used by
    `experiments/maze/train.py` with `solutions: [B, K, S, C]`): a solution survives when every
    cell of the state keeps its candidate alive; alpha is the union (per cell and candidate) of
    the surviving solutions; when none survives, the previous alpha. The conflict target stays
    the official per-cell `gt_conflict` against this alpha: with a multi-valued previous alpha it
    can stay False although no sampled solution survives (every cell still keeps a candidate some
    solution has), as in the official trainer.
    """
    y = solution_BSC
    free = y[..., MAZE_OPEN_CH] | y[..., MAZE_PATH_CH]  # [B, S]
    ok0 = (state_BSC & y).any(-1)  # the label's cells kept alive
    ok_k = jnp.where(
        free[:, None],
        jnp.where(
            paths_BKS, state_BSC[:, None, :, MAZE_PATH_CH], state_BSC[:, None, :, MAZE_OPEN_CH]
        ),
        ok0[:, None],
    )  # [B, K', S]
    if inside_BS is not None:
        ok0 = ok0 | ~inside_BS
        ok_k = ok_k | ~inside_BS[:, None]
    surv0, surv_k = ok0.all(-1), ok_k.all(-1)  # [B], [B, K']
    any_surv = surv0 | surv_k.any(-1)
    on_path = (surv_k[..., None] & paths_BKS).any(1)  # a surviving sample takes path here
    off_path = (surv_k[..., None] & ~paths_BKS).any(1)  # ... or open
    path = free & ((surv0[:, None] & y[..., MAZE_PATH_CH]) | on_path)
    open_ = free & ((surv0[:, None] & y[..., MAZE_OPEN_CH]) | off_path)
    alpha = y & (any_surv[:, None] & ~free)[..., None]
    alpha = alpha.at[..., MAZE_PATH_CH].set(path).at[..., MAZE_OPEN_CH].set(open_)
    return jnp.where(any_surv[:, None, None], alpha, last_alpha_BSC)


# ------------------------------------------------------------------------------------------------
# Symmetries: a channel permutation and a cell permutation per row
# ------------------------------------------------------------------------------------------------


class Aug(NamedTuple):
    channels: jax.Array  # [B, C] int32: out[..., c] = in[..., channels[c]]
    cells: jax.Array  # [B, S] int32: out[s] = in[cells[s]]


SYMMETRIES = ("d4", "flips", "none")


@functools.cache
def symmetry_cell_perms(rows: int, cols: int, kind: str = "d4") -> np.ndarray:
    """[G, S] cell permutations (out[s] = in[perm[s]]) of a rows x cols grid.

    "d4": the 8 elements of D4 on a square grid, element 2k + r = rot90^k then a left-right
    mirror if r (the official `build_dihedral_cell_perms`); "flips": identity, left-right and
    up-down mirrors and the half turn, the symmetries of a rectangle, which also keep a Sudoku
    of rectangular boxes (6x6 with 2x3 boxes: a quarter turn would make them 3x2); "none": the
    identity.
    """
    idx = np.arange(rows * cols).reshape(rows, cols)
    if kind == "d4":
        if rows != cols:
            raise ValueError(f"D4 needs a square grid, got {rows} x {cols}")
        perms = []
        for k in range(4):
            for reflect in range(2):
                cur = np.rot90(idx, k=k) if k else idx
                perms.append(np.flip(cur, axis=1) if reflect else cur)
    elif kind == "flips":
        perms = [idx, np.flip(idx, axis=1), np.flip(idx, axis=0), np.flip(idx, axis=(0, 1))]
    elif kind == "none":
        perms = [idx]
    else:
        raise ValueError(f"symmetries {kind!r}; expected one of {SYMMETRIES}")
    return np.stack([p.reshape(-1) for p in perms]).astype(np.int32)


def identity_aug(b: int, s: int, c: int) -> Aug:
    return Aug(
        jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), (b, c)),
        jnp.broadcast_to(jnp.arange(s, dtype=jnp.int32), (b, s)),
    )


def sample_aug(
    key: jax.Array, b: int, rows: int, cols: int, c: int, *, channels: bool, cells: str = "d4"
) -> Aug:
    """A uniformly random channel permutation (if `channels`) and grid symmetry of kind `cells`
    (`symmetry_cell_perms`) per row (official `sample_chain_augs`)."""
    k_perm, k_cell = jax.random.split(key)
    aug = identity_aug(b, rows * cols, c)
    perm = aug.channels
    if channels:
        perm = jnp.argsort(jax.random.uniform(k_perm, (b, c)), axis=-1).astype(jnp.int32)
    table = jnp.asarray(symmetry_cell_perms(rows, cols, cells))
    cell_perm = table[jax.random.randint(k_cell, (b,), 0, table.shape[0])]
    return Aug(perm, cell_perm)


def apply_aug(x_BSC: jax.Array, aug: Aug) -> jax.Array:
    """Channel permutation, then cell permutation (official `apply_aug_state`)."""
    x = jnp.take_along_axis(x_BSC, aug.channels[:, None, :], axis=2)
    return jnp.take_along_axis(x, aug.cells[:, :, None], axis=1)


def apply_aug_cells(m_BS: jax.Array, aug: Aug) -> jax.Array:
    return jnp.take_along_axis(m_BS, aug.cells, axis=1)


def invert_aug(x_BSC: jax.Array, aug: Aug) -> jax.Array:
    """Undoes `apply_aug` exactly (any [B, S, C] quantity: states, masks, logits)."""
    inv_cells = jnp.argsort(aug.cells, axis=-1)
    inv_channels = jnp.argsort(aug.channels, axis=-1)
    x = jnp.take_along_axis(x_BSC, inv_cells[:, :, None], axis=1)
    return jnp.take_along_axis(x, inv_channels[:, None, :], axis=2)
