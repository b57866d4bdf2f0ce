"""Snowflake Sudoku: topology, grid embedding, an exact solver and a seeded puzzle generator.

Mark Santolucito's hexagonal Sudoku, the benchmark of "Lattice Deduction Transformers" (LDT,
arXiv 2605.08605). A puzzle of size n is n hexagons on axial (q, r) coordinates, taken in ring
order from the centre: ring 0 is (0, 0), ring k holds 6k hexagons, starting at (k, -k) and
walking the six sides k steps each along (-1, 0), (-1, 1), (0, 1), (1, 0), (1, -1), (0, -1)
(the snowflakesudoku package's `HEX_COORDS_BY_N`, which LDT's generator uses: n = 4 is the
centre and (1, -1), (0, -1), (-1, 0); n = 8 adds the first hexagon of ring 2, (2, -2)).

Each hexagon is cut into 6 triangular cells, named as the package names them: with the hexagon
centred at (3q, q + 2r) on a lattice whose corners sit at offsets (2, 0), (1, 1), (-1, 1),
(-2, 0), (-1, -1), (1, -1) (corners 0..5, the package's flat-top layout at 60-degree steps scaled
to integers), cell k = `DIRECTIONS[k]` spans corners k and k + 1. Cell `6 * h + k` is cell k of
the h-th hexagon. Every cell holds a digit 1..6 and two kinds of groups must be all-distinct:
  - each hexagon's 6 cells;
  - each meeting point: a lattice corner shared by three present hexagons, where exactly 6 cells
    meet (2 from each). A corner of one or two hexagons is no constraint.
Every group has 6 cells and 6 digits, so each digit appears exactly once per group. Counts: n = 4
has 2 meeting points, n = 7 (a full first ring) 6, n = 8 still 6 (its new hexagon touches one
other), n = 19 (two full rings) 24.

The fixed covering grid (LDT's `experiments/snowflake/data.py`): GRID_ROWS x GRID_COLS = 15 x 10
positions, the hexagons with q, r in [-2, 2] each owning a 3 x 2 block at rows 3 (r + 2) ..
3 (r + 2) + 2 and columns 2 (q + 2) .. 2 (q + 2) + 1, its cells placed as
    NW NE
    W  E
    SW SE
so every size up to n = 19 (two full rings) fits; positions of absent hexagons hold PAD.

Tokens (the repository's Sudoku convention, `rrm_jax.data.sudoku.encode`): PAD 0 outside the
puzzle, blank 1, digit d -> d + 1 (2..7); vocabulary 8.

Generation follows LDT's `gen_data.py` with an exact backtracking solver in place of CVC5: a
seeded random full solution, then a minimal puzzle (clues removed in a random order, each removal
kept only while the solution stays unique), then optionally easier variants with removed clues
added back a quarter at a time (LDT stores up to 6 puzzles per solution). Everything is a
deterministic function of the seed.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Sequence

import numpy as np

from rrm_jax.data import puzzle_examples

DIRECTIONS = ("NE", "E", "SE", "SW", "W", "NW")
NUM_DIGITS = 6
FULL = (1 << NUM_DIGITS) - 1  # candidate bitmask: bit d - 1 stands for digit d

# Hex-lattice geometry on integer coordinates (x = 2 * cartesian x, y = 2 / sqrt(3) * cartesian y).
_CORNERS = ((2, 0), (1, 1), (-1, 1), (-2, 0), (-1, -1), (1, -1))
_RING_STEPS = ((-1, 0), (-1, 1), (0, 1), (1, 0), (1, -1), (0, -1))

# The covering grid of LDT: hexagons with q, r in [-2, 2], 3 x 2 positions each.
GRID_RANGE = (-2, 2)
GRID_ROWS = 3 * (GRID_RANGE[1] - GRID_RANGE[0] + 1)  # 15
GRID_COLS = 2 * (GRID_RANGE[1] - GRID_RANGE[0] + 1)  # 10
SEQ_LEN = GRID_ROWS * GRID_COLS  # 150
_BLOCK = {"NW": (0, 0), "NE": (0, 1), "W": (1, 0), "E": (1, 1), "SW": (2, 0), "SE": (2, 1)}
MAX_HEXAGONS = 19  # two full rings: the largest ring prefix inside the covering grid

# Tokens.
PAD = 0
BLANK = 1
DIGIT_BASE = 1  # digit d is token d + DIGIT_BASE
VOCAB_SIZE = NUM_DIGITS + 2

# LDT's dataset: n = 4..8 hexagons.
LDT_SIZES = (4, 5, 6, 7, 8)

# A domain tag mixed into the seed entropy (no stream shared with other seeded draws).
_GENERATE_TAG = 0x5F1A4E


def hex_ring(k: int) -> list[tuple[int, int]]:
    """The 6k hexagons of ring k (ring 0: the centre), in the package's walking order."""
    if k < 0:
        raise ValueError(f"ring must be >= 0, got {k}")
    if k == 0:
        return [(0, 0)]
    q, r = k, -k
    out = []
    for dq, dr in _RING_STEPS:
        for _ in range(k):
            out.append((q, r))
            q, r = q + dq, r + dr
    return out


def hexagon_coords(n: int) -> tuple[tuple[int, int], ...]:
    """The first n hexagons in ring order: the hexagons of a size-n puzzle."""
    if not 1 <= n <= MAX_HEXAGONS:
        raise ValueError(f"n must lie in 1..{MAX_HEXAGONS} (the covering grid), got {n}")
    coords: list[tuple[int, int]] = []
    k = 0
    while len(coords) < n:
        coords.extend(hex_ring(k))
        k += 1
    return tuple(coords[:n])


def grid_position(q: int, r: int, direction: str) -> int:
    """Position (row-major) of a cell in the 15 x 10 covering grid."""
    lo, hi = GRID_RANGE
    if not (lo <= q <= hi and lo <= r <= hi):
        raise ValueError(f"hexagon ({q}, {r}) lies outside the covering grid")
    dr, dc = _BLOCK[direction]
    return (3 * (r - lo) + dr) * GRID_COLS + 2 * (q - lo) + dc


@dataclasses.dataclass(frozen=True)
class Topology:
    """The cells and all-distinct groups of one set of hexagons.

    Attributes:
      hexagons: axial (q, r) of each hexagon; hexagon h owns cells 6h .. 6h + 5.
      groups: int [G, 6] cell ids; rows 0..len(hexagons)-1 are the hexagons, then the meeting
        points (sorted by their cell ids).
      positions: int [6 * len(hexagons)] the covering-grid position of each cell.
      peers: per cell, the other cells sharing a group with it.
      group_cells: `groups` as tuples (what the solver loops over).
    """

    hexagons: tuple[tuple[int, int], ...]
    groups: np.ndarray
    positions: np.ndarray
    peers: tuple[tuple[int, ...], ...]
    group_cells: tuple[tuple[int, ...], ...]

    @property
    def num_cells(self) -> int:
        return NUM_DIGITS * len(self.hexagons)

    @property
    def num_meeting_points(self) -> int:
        return int(self.groups.shape[0]) - len(self.hexagons)


def _meeting_points(hexagons: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    """Corners where exactly 6 cells meet, each as its sorted cell ids."""
    at_corner: dict[tuple[int, int], list[int]] = {}
    for h, (q, r) in enumerate(hexagons):
        x, y = 3 * q, q + 2 * r
        for k in range(NUM_DIGITS):
            for corner in (k, (k + 1) % NUM_DIGITS):  # cell k spans corners k and k + 1
                dx, dy = _CORNERS[corner]
                at_corner.setdefault((x + dx, y + dy), []).append(NUM_DIGITS * h + k)
    return sorted(tuple(sorted(c)) for c in at_corner.values() if len(c) == NUM_DIGITS)


def build_topology(hexagons: Sequence[tuple[int, int]]) -> Topology:
    """The topology of any set of distinct hexagons inside the covering grid."""
    hexagons = tuple((int(q), int(r)) for q, r in hexagons)
    if len(set(hexagons)) != len(hexagons) or not hexagons:
        raise ValueError(f"hexagons must be distinct and non-empty, got {hexagons}")
    hex_groups = [tuple(range(NUM_DIGITS * h, NUM_DIGITS * (h + 1))) for h in range(len(hexagons))]
    groups = np.asarray(hex_groups + _meeting_points(hexagons), dtype=np.int64)
    positions = np.asarray(
        [grid_position(q, r, d) for q, r in hexagons for d in DIRECTIONS], dtype=np.int64
    )
    peer_sets: list[set[int]] = [set() for _ in range(positions.size)]
    for g in groups.tolist():
        for c in g:
            peer_sets[c].update(g)
    peers = tuple(tuple(sorted(s - {c})) for c, s in enumerate(peer_sets))
    return Topology(hexagons, groups, positions, peers, tuple(map(tuple, groups.tolist())))


@functools.cache
def topology(n: int) -> Topology:
    """The size-n puzzle: the first n hexagons in ring order."""
    return build_topology(hexagon_coords(n))


@functools.cache
def covering_topology() -> Topology:
    """All 25 hexagons of the covering grid (q, r in [-2, 2]) and their meeting points."""
    lo, hi = GRID_RANGE
    return build_topology([(q, r) for r in range(lo, hi + 1) for q in range(lo, hi + 1)])


# ----------------------------------------------------------------------------------------------
# Solver: candidate bitmasks, naked and hidden singles to a fixed point, fewest candidates first.


def _eliminate(cand: list[int], peers, queue: list[int]) -> bool:
    """Removes the digit of every decided cell in `queue` from its peers; False on a clash."""
    while queue:
        c = queue.pop()
        m = cand[c]
        for p in peers[c]:
            pm = cand[p]
            if pm & m:
                pm &= ~m
                if not pm:
                    return False
                cand[p] = pm
                if not pm & (pm - 1):
                    queue.append(p)
    return True


def _propagate(cand: list[int], peers, groups, queue: list[int]) -> bool:
    """Naked singles, then hidden singles (a digit with one place left in a group), repeated
    until nothing changes. Every group has 6 cells for 6 digits, so a digit missing from a
    group's candidates is a contradiction. Returns False on a contradiction."""
    while True:
        if not _eliminate(cand, peers, queue):
            return False
        for g in groups:
            once = twice = 0
            for c in g:
                m = cand[c]
                twice |= once & m
                once |= m
            if once != FULL:
                return False
            only = once & ~twice
            if not only:
                continue
            for c in g:
                m = cand[c]
                hit = m & only
                if hit and m != hit:
                    if hit & (hit - 1):
                        return False  # one cell would need two digits
                    cand[c] = hit
                    queue.append(c)
        if not queue:
            return True


def _search(cand, peers, groups, limit: int, found: list, rng: random.Random | None) -> int:
    """Depth-first search from propagated candidates; appends solutions (as candidate lists)
    to `found` until `limit`; returns the number of guesses (trial digits at undecided cells)."""
    best, best_count = -1, NUM_DIGITS + 1
    for c, m in enumerate(cand):
        if m & (m - 1):
            k = m.bit_count()
            if k < best_count:
                best, best_count = c, k
                if k == 2:
                    break
    if best < 0:
        found.append(cand)
        return 0
    m = cand[best]
    bits = [1 << d for d in range(NUM_DIGITS) if m >> d & 1]
    if rng is not None:
        rng.shuffle(bits)
    guesses = 0
    for bit in bits:
        guesses += 1
        child = list(cand)
        child[best] = bit
        if _propagate(child, peers, groups, [best]):
            guesses += _search(child, peers, groups, limit, found, rng)
        if len(found) >= limit:
            break
    return guesses


def _candidates(topo: Topology, digits: Sequence[int]) -> list[int] | None:
    """Propagated candidate masks of a cell-digit list (0 = blank), or None if contradictory."""
    if len(digits) != topo.num_cells:
        raise ValueError(f"expected {topo.num_cells} cell digits, got {len(digits)}")
    cand = []
    for d in digits:
        d = int(d)
        if not 0 <= d <= NUM_DIGITS:
            raise ValueError(f"cell digits must lie in 0..{NUM_DIGITS}, got {d}")
        cand.append(1 << (d - 1) if d else FULL)
    queue = [c for c, d in enumerate(digits) if d]
    if not _propagate(cand, topo.peers, topo.group_cells, queue):
        return None
    return cand


def _digits(cand: list[int]) -> np.ndarray:
    return np.asarray([m.bit_length() for m in cand], dtype=np.uint8)


@dataclasses.dataclass
class SolveResult:
    """Outcome of `solve`: solutions found (capped at `max_solutions`), the first one (uint8
    digits per cell, or None) and the number of guesses (0: propagation alone solves it)."""

    num_solutions: int
    solution: np.ndarray | None
    guesses: int


def solve(topo: Topology, digits: Sequence[int], *, max_solutions: int = 2) -> SolveResult:
    """Exact solver: counts the completions of `digits` (per cell, 0 = blank) up to a limit.

    Clashing givens give 0 solutions. `max_solutions=2` decides uniqueness.
    """
    if max_solutions < 1:
        raise ValueError(f"max_solutions must be >= 1, got {max_solutions}")
    cand = _candidates(topo, list(digits))
    if cand is None:
        return SolveResult(0, None, 0)
    found: list[list[int]] = []
    guesses = _search(cand, topo.peers, topo.group_cells, max_solutions, found, None)
    first = _digits(found[0]) if found else None
    return SolveResult(len(found), first, guesses)


def is_solution(topo: Topology, digits: Sequence[int]) -> bool:
    """Whether every cell holds 1..6 and every group is all-distinct."""
    d = np.asarray(digits)
    if d.shape != (topo.num_cells,) or d.min() < 1 or d.max() > NUM_DIGITS:
        return False
    g = np.sort(d[topo.groups], axis=1)
    return bool((g == np.arange(1, NUM_DIGITS + 1)).all())


def random_solution(topo: Topology, rng: random.Random) -> np.ndarray:
    """A random full solution: the search with digits tried in a random order."""
    cand = _candidates(topo, [0] * topo.num_cells)
    found: list[list[int]] = []
    if cand is not None:
        _search(cand, topo.peers, topo.group_cells, 1, found, rng)
    if not found:  # every ring prefix is solvable; this would be a solver bug
        raise RuntimeError(f"no solution found for hexagons {topo.hexagons}")
    return _digits(found[0])


def _has_other_solution(topo: Topology, puzzle: list[int], cell: int, digit: int) -> bool:
    """Whether `puzzle` (with `cell` blank) has a solution with another digit at `cell`.

    The puzzle is known to have the solution with `digit` there, so it is unique exactly when
    every other digit there is unsatisfiable (each check stops at its first solution)."""
    groups = topo.group_cells
    for alt in range(1, NUM_DIGITS + 1):
        if alt == digit:
            continue
        puzzle[cell] = alt
        cand = _candidates(topo, puzzle)
        found: list[list[int]] = []
        if cand is not None:
            _search(cand, topo.peers, groups, 1, found, None)
        if found:
            puzzle[cell] = 0
            return True
    puzzle[cell] = 0
    return False


def minimal_puzzle(topo: Topology, solution: np.ndarray, rng: random.Random) -> np.ndarray:
    """Removes clues in a random order, keeping each removal only while the solution stays
    unique (LDT's `minimal_puzzle`). One pass suffices: removing clues only adds solutions,
    so a clue that had to stay can never become removable later."""
    puzzle = [int(d) for d in solution]
    order = list(range(topo.num_cells))
    rng.shuffle(order)
    for cell in order:
        digit = puzzle[cell]
        puzzle[cell] = 0
        if _has_other_solution(topo, puzzle, cell, digit):
            puzzle[cell] = digit
    return np.asarray(puzzle, dtype=np.uint8)


def easier_variants(
    solution: np.ndarray, puzzle: np.ndarray, rng: random.Random, count: int
) -> list[np.ndarray]:
    """Up to `count` puzzles: the minimal `puzzle`, then removed clues added back in a random
    order a quarter at a time (LDT's `puzzle_variants`). Unlike LDT, a variant with no blank
    left (nothing to solve) is dropped."""
    out = [puzzle]
    removed = np.flatnonzero(puzzle == 0).tolist()
    rng.shuffle(removed)
    step = max(1, len(removed) // 4)
    added = 0
    while added < len(removed) and len(out) < count:
        added = min(added + step, len(removed))
        if added == len(removed):
            break
        p = puzzle.copy()
        p[removed[:added]] = solution[removed[:added]]
        out.append(p)
    return out[:count]


def to_tokens(topo: Topology, digits: np.ndarray) -> np.ndarray:
    """Cell digits (0 = blank) -> covering-grid tokens uint8 [SEQ_LEN] (PAD outside)."""
    tokens = np.full(SEQ_LEN, PAD, dtype=np.uint8)
    tokens[topo.positions] = np.asarray(digits, dtype=np.uint8) + DIGIT_BASE
    return tokens


def from_tokens(topo: Topology, tokens: np.ndarray) -> np.ndarray:
    """Covering-grid tokens -> cell digits (0 = blank) of the topology's cells."""
    return (np.asarray(tokens)[..., topo.positions].astype(np.int64) - DIGIT_BASE).clip(0)


def puzzle_rng(seed: int, base: int) -> random.Random:
    """The generator of base puzzle `base`: independent of every other base."""
    state = np.random.SeedSequence([_GENERATE_TAG, seed, base]).generate_state(2)
    return random.Random(int(state[0]) << 32 | int(state[1]))


@dataclasses.dataclass
class Generated:
    """Generated puzzles, grid-embedded tokens, one row per puzzle."""

    inputs: np.ndarray  # uint8 [N, SEQ_LEN]
    labels: np.ndarray  # uint8 [N, SEQ_LEN]; PAD outside the puzzle
    n: np.ndarray  # int32 [N] hexagons
    base: np.ndarray  # int64 [N] the solution (base puzzle) a row belongs to
    variant: np.ndarray  # int32 [N] 0: the minimal puzzle, then easier ones
    givens: np.ndarray  # int32 [N]
    rating: np.ndarray  # int32 [N] solver guesses to solve it and prove uniqueness

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def generate(
    count: int, seed: int, *, sizes: Sequence[int] = LDT_SIZES, variants: int = 1
) -> Generated:
    """`count` puzzles with unique solutions, deterministic in (count, seed, sizes, variants).

    Base puzzle b has n = sizes[b % len(sizes)] hexagons, a random solution and a minimal
    puzzle drawn from `puzzle_rng(seed, b)`, followed by up to `variants - 1` easier variants;
    bases are added until `count` rows are reached (a smaller count gives a prefix). A base
    whose minimal puzzle repeats an earlier one (puzzle and solution) is skipped.
    """
    if count < 0 or seed < 0 or variants < 1 or not sizes:
        raise ValueError(
            f"need count >= 0, seed >= 0, variants >= 1, sizes; got {count}, "
            f"{seed}, {variants}, {sizes}"
        )
    for n in sizes:
        hexagon_coords(n)  # validates n
    rows: dict[str, list] = {k: [] for k in ("inputs", "labels", "n", "base", "variant")}
    rows.update(givens=[], rating=[])
    seen: set[bytes] = set()
    b = 0
    while len(rows["inputs"]) < count:
        n = int(sizes[b % len(sizes)])
        topo, rng = topology(n), puzzle_rng(seed, b)
        solution = random_solution(topo, rng)
        puzzle = minimal_puzzle(topo, solution, rng)
        key = puzzle.tobytes() + solution.tobytes()
        if key not in seen:
            seen.add(key)
            for v, p in enumerate(easier_variants(solution, puzzle, rng, variants)):
                result = solve(topo, p, max_solutions=2)
                if result.num_solutions != 1 or not np.array_equal(result.solution, solution):
                    raise RuntimeError("a generated puzzle lacks the expected unique solution")
                rows["inputs"].append(to_tokens(topo, p))
                rows["labels"].append(to_tokens(topo, solution))
                for k, value in (("n", n), ("base", b), ("variant", v)):
                    rows[k].append(value)
                rows["givens"].append(int(np.count_nonzero(p)))
                rows["rating"].append(result.guesses)
        b += 1
    rows = {k: v[:count] for k, v in rows.items()}
    empty = np.zeros((0, SEQ_LEN), dtype=np.uint8)
    return Generated(
        inputs=np.stack(rows["inputs"]) if count else empty,
        labels=np.stack(rows["labels"]) if count else empty,
        n=np.asarray(rows["n"], dtype=np.int32),
        base=np.asarray(rows["base"], dtype=np.int64),
        variant=np.asarray(rows["variant"], dtype=np.int32),
        givens=np.asarray(rows["givens"], dtype=np.int32),
        rating=np.asarray(rows["rating"], dtype=np.int32),
    )


def split_bases(base: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Whether each row goes to test: a seeded draw of round(test_fraction * bases) base puzzles,
    so all puzzles of one solution land in one split (LDT hash-splits single puzzles, which can
    put easier variants of a test solution in train)."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1], got {test_fraction}")
    bases = np.unique(base)
    rng = np.random.default_rng(np.random.SeedSequence([_GENERATE_TAG, seed, 1]))
    test = rng.permutation(bases)[: int(round(test_fraction * bases.size))]
    return np.isin(base, test)


def splits(
    count: int,
    seed: int,
    *,
    sizes: Sequence[int] = LDT_SIZES,
    variants: int = 1,
    test_fraction: float = 0.1,
) -> dict[str, puzzle_examples.Examples]:
    """`generate(count, seed, ...)` split into train and test by base puzzle, in generation
    order; `index` = position in the split, `rating` = solver guesses, `source` names n, the
    base puzzle, the variant and the givens."""
    gen = generate(count, seed, sizes=sizes, variants=variants)
    is_test = split_bases(gen.base, test_fraction, seed)
    out = {}
    for split, rows in (("train", ~is_test), ("test", is_test)):
        rows = np.flatnonzero(rows)
        out[split] = puzzle_examples.Examples(
            gen.inputs[rows],
            gen.labels[rows],
            gen.rating[rows],
            np.arange(rows.size, dtype=np.int64),
            [
                f"snowflake n={gen.n[i]} base={gen.base[i]} variant={gen.variant[i]} "
                f"givens={gen.givens[i]}"
                for i in rows.tolist()
            ],
        )
    return out
