"""Property tests for the offline Sudoku generator, solver, augmentation and token encoding."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.data import sudoku
from rrm_jax.data.sampler import augment_rng
from rrm_jax.data.sudoku import (
    Board,
    augment,
    decode,
    encode,
    generate,
    is_solution,
    parse_board,
    solve,
)

# The classic puzzle from the Wikipedia "Sudoku" article, with its published solution.
CLASSIC_PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
CLASSIC_SOLUTION = (
    "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
)

BOARDS = [Board(2, 2), Board(2, 3), Board(3, 3)]
# Small counts keep the whole file fast while still covering many puzzles per shape.
COUNTS = {(2, 2): 40, (2, 3): 60, (3, 3): 6}


def _grid(text: str) -> np.ndarray:
    return np.array([0 if ch == "." else int(ch) for ch in text], dtype=np.uint8)


@pytest.fixture(scope="module", params=BOARDS, ids=str)
def generated(request):
    board = request.param
    return board, generate(board, COUNTS[(board.box_rows, board.box_cols)], seed=7)


# ----------------------------------------------------------------------------- board / parsing


def test_parse_board_and_properties():
    b = parse_board("2x3")
    assert b == Board(2, 3)
    assert (b.size, b.cells, b.vocab_size) == (6, 36, 8)
    assert parse_board(" 3X3 ") == Board(3, 3)
    assert Board(3, 3).vocab_size == 11  # PAD + "0".."9", as in the official 9x9 builder


@pytest.mark.parametrize("spec", ["9", "3x", "x3", "3x3x3", "0x3", "a x b", "", "3*3"])
def test_parse_board_rejects_bad_specs(spec):
    with pytest.raises(ValueError):
        parse_board(spec)


# ----------------------------------------------------------------------------- solver


def test_solver_classic_9x9():
    board = Board(3, 3)
    result = solve(_grid(CLASSIC_PUZZLE), board)
    assert result.num_solutions == 1
    np.testing.assert_array_equal(result.solution, _grid(CLASSIC_SOLUTION))
    assert is_solution(result.solution, board)
    # This puzzle falls to naked singles, so the most-constrained-first search never guesses.
    assert result.nodes == 0


def test_solver_duplicate_given_has_no_solution():
    board = Board(3, 3)
    for a, b in [(0, 8), (0, 72), (0, 20)]:  # same row, same column, same box
        grid = np.zeros(81, dtype=np.uint8)
        grid[a] = grid[b] = 5
        result = solve(grid, board)
        assert result.num_solutions == 0 and result.solution is None


def test_solver_rejects_malformed_input():
    board = Board(2, 2)
    with pytest.raises(ValueError):
        solve(np.zeros(15, dtype=np.uint8), board)
    with pytest.raises(ValueError):
        solve(np.full(16, 5, dtype=np.uint8), board)
    with pytest.raises(ValueError):
        solve(np.zeros(16, dtype=np.uint8), board, max_solutions=0)


def test_solver_empty_board_counts_up_to_cap():
    board = Board(2, 2)
    empty = np.zeros(16, dtype=np.uint8)
    for cap in (1, 2, 10, 100):
        result = solve(empty, board, max_solutions=cap)
        assert result.num_solutions == cap
        assert is_solution(result.solution, board)
        assert result.nodes > 0
    # There are exactly 288 complete 4x4 Sudoku grids.
    assert solve(empty, board, max_solutions=10_000).num_solutions == 288


def test_solver_complete_grid_and_one_blank():
    board = Board(3, 3)
    sol = _grid(CLASSIC_SOLUTION)
    assert solve(sol, board).num_solutions == 1
    one_blank = sol.copy()
    one_blank[40] = 0
    result = solve(one_blank, board)
    assert result.num_solutions == 1 and result.nodes == 0
    np.testing.assert_array_equal(result.solution, sol)


def test_is_solution_detects_errors():
    board = Board(3, 3)
    sol = _grid(CLASSIC_SOLUTION)
    assert is_solution(sol, board)
    swapped = sol.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # rows stay permutations, columns break
    assert not is_solution(swapped, board)
    blank = sol.copy()
    blank[3] = 0
    assert not is_solution(blank, board)
    assert not is_solution(sol[:80], board)
    # A Latin square whose boxes are wrong: cyclic shifts by one.
    latin = np.array([(r + c) % 9 + 1 for r in range(9) for c in range(9)], dtype=np.uint8)
    assert not is_solution(latin, board)


# ----------------------------------------------------------------------------- generation


def test_generated_puzzles_are_unique_and_consistent(generated):
    board, out = generated
    num = COUNTS[(board.box_rows, board.box_cols)]
    assert out["puzzles"].shape == out["solutions"].shape == (num, board.cells)
    assert out["puzzles"].dtype == out["solutions"].dtype == np.uint8
    assert out["rating"].dtype == out["givens"].dtype == np.int32
    for puzzle, solution, rating, givens in zip(
        out["puzzles"], out["solutions"], out["rating"], out["givens"], strict=True
    ):
        assert is_solution(solution, board)
        mask = puzzle > 0
        np.testing.assert_array_equal(puzzle[mask], solution[mask])
        assert givens == mask.sum()
        result = solve(puzzle, board, max_solutions=2)
        assert result.num_solutions == 1
        np.testing.assert_array_equal(result.solution, solution)
        assert rating == result.nodes


def test_generated_puzzles_are_minimal_by_default(generated):
    board, out = generated
    for puzzle in out["puzzles"][:5]:
        for cell in np.flatnonzero(puzzle):
            weaker = puzzle.copy()
            weaker[cell] = 0
            assert solve(weaker, board, max_solutions=2).num_solutions == 2


def test_generated_puzzles_are_distinct(generated):
    _, out = generated
    assert len({p.tobytes() for p in out["puzzles"]}) == len(out["puzzles"])


def test_generate_is_deterministic_in_seed():
    board = Board(2, 3)
    a = generate(board, 12, seed=3)
    b = generate(board, 12, seed=3)
    c = generate(board, 12, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["puzzles"], c["puzzles"])
    assert not np.array_equal(a["solutions"], c["solutions"])
    # A smaller request is a prefix of a larger one.
    prefix = generate(board, 5, seed=3)
    for key in a:
        np.testing.assert_array_equal(prefix[key], a[key][:5])


def test_generate_does_not_touch_global_numpy_rng():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    generate(Board(2, 2), 3, seed=1)
    assert np.random.random() == expected


@pytest.mark.parametrize("board,min_givens", [(Board(2, 3), 16), (Board(3, 3), 40)])
def test_min_givens_respected(board, min_givens):
    out = generate(board, 8, seed=11, min_givens=min_givens)
    assert np.all(out["givens"] >= min_givens)
    # Removal stops exactly at the floor: clues are plentiful there, so none end up minimal.
    assert np.all(out["givens"] == min_givens)
    for puzzle, solution in zip(out["puzzles"], out["solutions"], strict=True):
        assert solve(puzzle, board).num_solutions == 1
        mask = puzzle > 0
        np.testing.assert_array_equal(puzzle[mask], solution[mask])


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError):
        generate(Board(2, 2), 1, seed=0, min_givens=17)
    with pytest.raises(ValueError):
        generate(Board(2, 2), -1, seed=0)


def test_generate_gives_up_when_board_runs_out_of_puzzles():
    # With every clue kept there is one puzzle per complete grid: only 288 exist for 4x4.
    with pytest.raises(RuntimeError):
        generate(Board(2, 2), 289, seed=0, min_givens=16)


# ----------------------------------------------------------------------------- augmentation


def _augmented_pairs(board, out, rng_seed, reps):
    rng = np.random.default_rng(rng_seed)
    for puzzle, solution in zip(out["puzzles"], out["solutions"], strict=True):
        for _ in range(reps):
            yield puzzle, solution, *augment(puzzle, solution, board, rng)


def test_augment_preserves_validity_and_uniqueness(generated):
    board, out = generated
    for puzzle, solution, aug_p, aug_s in _augmented_pairs(board, out, 0, 3):
        assert aug_p.dtype == puzzle.dtype and aug_s.dtype == solution.dtype
        assert aug_p.shape == puzzle.shape
        assert is_solution(aug_s, board)
        mask = aug_p > 0
        np.testing.assert_array_equal(aug_p[mask], aug_s[mask])
        assert mask.sum() == np.count_nonzero(puzzle)
        # Symmetries map unique puzzles to unique puzzles, with the mapped solution.
        result = solve(aug_p, board)
        assert result.num_solutions == 1
        np.testing.assert_array_equal(result.solution, aug_s)


def _line_profile(grid2d: np.ndarray, axis: int) -> list[tuple[int, ...]]:
    """Sorted multiset of per-line digit-count patterns (digit identities factored out)."""
    n = grid2d.shape[0]
    lines = grid2d if axis == 0 else grid2d.T
    return sorted(tuple(sorted(np.bincount(line, minlength=n + 1)[1:])) for line in lines)


def _box_profile(grid2d: np.ndarray, board: Board) -> list[int]:
    n, br, bc = board.size, board.box_rows, board.box_cols
    boxes = grid2d.reshape(n // br, br, n // bc, bc).transpose(0, 2, 1, 3).reshape(n, n)
    return sorted(int(np.count_nonzero(box)) for box in boxes)


def test_augment_is_a_cell_bijection(generated):
    board, out = generated
    n = board.size
    for puzzle, _, aug_p, aug_s in _augmented_pairs(board, out, 1, 3):
        p2, a2 = puzzle.reshape(n, n), aug_p.reshape(n, n)
        # The digit map is a bijection, so the multiset of per-digit clue counts is unchanged.
        digit_counts = sorted(np.bincount(puzzle, minlength=n + 1)[1:].tolist())
        assert sorted(np.bincount(aug_p, minlength=n + 1)[1:].tolist()) == digit_counts
        # Rows/columns are permuted as wholes (possibly swapped by a transpose) and boxes are
        # moved as wholes, so the per-line and per-box clue patterns are preserved.
        rows, cols = _line_profile(p2, 0), _line_profile(p2, 1)
        assert (_line_profile(a2, 0), _line_profile(a2, 1)) in [(rows, cols), (cols, rows)]
        assert _box_profile(a2, board) == _box_profile(p2, board)
        assert np.count_nonzero(aug_s) == board.cells


def _first_row_marker(board: Board) -> tuple[np.ndarray, np.ndarray]:
    """A solution and a 'puzzle' whose only givens are the first row: after augmentation the
    givens lie in one row (no transpose) or one column (transpose)."""
    solution = generate(board, 1, seed=0)["solutions"][0]
    puzzle = np.zeros_like(solution)
    puzzle[: board.size] = solution[: board.size]
    return puzzle, solution


def _was_transposed(aug_p: np.ndarray, board: Board) -> bool:
    rows, cols = np.nonzero(aug_p.reshape(board.size, board.size))
    if len(set(rows.tolist())) == 1:
        return False
    assert len(set(cols.tolist())) == 1, "givens of one row must stay in one line"
    return True


def test_transpose_only_for_square_boxes():
    for board, expect_transpose in [(Board(2, 3), False), (Board(3, 3), True)]:
        puzzle, solution = _first_row_marker(board)
        flags = []
        for variant in range(1, 65):
            aug_p, aug_s = augment(puzzle, solution, board, augment_rng(0, 0, variant))
            assert is_solution(aug_s, board)
            flags.append(_was_transposed(aug_p, board))
        if expect_transpose:
            assert any(flags) and not all(flags)
        else:
            assert not any(flags)
    # The drawn transform itself never asks for a transpose on 2x3 boxes.
    rng = np.random.default_rng(0)
    assert not any(sudoku._draw_transform(Board(2, 3), rng).transpose for _ in range(200))


def test_draw_transform_respects_bands_and_stacks():
    rng = np.random.default_rng(5)
    for board in BOARDS:
        br, bc, n = board.box_rows, board.box_cols, board.size
        for _ in range(50):
            t = sudoku._draw_transform(board, rng)
            assert sorted(t.row_perm.tolist()) == list(range(n))
            assert sorted(t.col_perm.tolist()) == list(range(n))
            # Each output band of box_rows rows comes from a single input band (same for stacks).
            assert all(
                len(set((t.row_perm[i : i + br] // br).tolist())) == 1 for i in range(0, n, br)
            )
            assert all(
                len(set((t.col_perm[j : j + bc] // bc).tolist())) == 1 for j in range(0, n, bc)
            )
            assert t.digit_map[0] == 0 and sorted(t.digit_map[1:].tolist()) == list(range(1, n + 1))


def test_augment_same_rng_state_same_output(generated):
    board, out = generated
    puzzle, solution = out["puzzles"][0], out["solutions"][0]
    a = augment(puzzle, solution, board, augment_rng(3, 1, 2))
    b = augment(puzzle, solution, board, augment_rng(3, 1, 2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    variants = {
        augment(puzzle, solution, board, augment_rng(3, 1, v))[1].tobytes() for v in range(1, 9)
    }
    assert len(variants) > 1


def test_apply_transform_hand_checked():
    board = Board(2, 2)
    grid = np.array(
        [1, 2, 3, 4,
         3, 4, 1, 2,
         2, 1, 4, 3,
         4, 3, 2, 1], dtype=np.uint8)  # fmt: skip
    reverse_digits = np.array([0, 4, 3, 2, 1])  # d -> 5 - d, blank stays blank
    identity = np.arange(4)

    t = sudoku._Transform(reverse_digits, False, identity, identity)
    np.testing.assert_array_equal(sudoku._apply_transform(grid, board, t), 5 - grid)
    puzzle = grid.copy()
    puzzle[[1, 6, 11]] = 0
    expected = np.array(
        [4, 0, 2, 1,
         2, 1, 0, 3,
         3, 4, 1, 0,
         1, 2, 3, 4], dtype=np.uint8)  # fmt: skip
    out = sudoku._apply_transform(puzzle, board, t)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)

    # Swap the two bands and the columns inside the first stack, then transpose first.
    # Official order: new[i] = old_after_transpose[row_perm[i // 4] * 4 + col_perm[i % 4]].
    t = sudoku._Transform(np.arange(5), True, np.array([2, 3, 0, 1]), np.array([1, 0, 2, 3]))
    # Transposed grid rows: [1,3,2,4], [2,4,1,3], [3,1,4,2], [4,2,3,1].
    expected = np.array(
        [1, 3, 4, 2,
         2, 4, 3, 1,
         3, 1, 2, 4,
         4, 2, 1, 3], dtype=np.uint8)  # fmt: skip
    np.testing.assert_array_equal(sudoku._apply_transform(grid, board, t), expected)
    assert is_solution(expected, board)


def test_augment_matches_official_9x9_recipe():
    """For 9x9 boards the drawn transform equals the official shuffle applied step by step."""
    board = Board(3, 3)
    puzzle, solution = _grid(CLASSIC_PUZZLE), _grid(CLASSIC_SOLUTION)
    for variant in range(1, 6):
        t = sudoku._draw_transform(board, augment_rng(1, 0, variant))
        x = solution.reshape(9, 9)
        if t.transpose:
            x = x.T
        mapping = np.array([t.row_perm[i // 9] * 9 + t.col_perm[i % 9] for i in range(81)])
        expected = t.digit_map[x.flatten()[mapping]]
        _, aug_s = augment(puzzle, solution, board, augment_rng(1, 0, variant))
        np.testing.assert_array_equal(aug_s, expected)


# ----------------------------------------------------------------------------- encoding


def test_encode_decode_round_trip_and_convention():
    board = Board(3, 3)
    puzzle = _grid(CLASSIC_PUZZLE)
    tokens = encode(puzzle)
    assert tokens.dtype == np.uint8
    np.testing.assert_array_equal(tokens[puzzle == 0], 1)  # blank -> 1
    np.testing.assert_array_equal(tokens[puzzle > 0], puzzle[puzzle > 0] + 1)  # digit d -> d + 1
    assert tokens.min() >= 1 and tokens.max() <= board.size + 1 < board.vocab_size
    np.testing.assert_array_equal(decode(tokens), puzzle)
    batch = np.stack([puzzle, _grid(CLASSIC_SOLUTION)])
    np.testing.assert_array_equal(decode(encode(batch)), batch)
    np.testing.assert_array_equal(encode(np.arange(10, dtype=np.uint8)), np.arange(1, 11))


def test_decode_rejects_pad_and_encode_rejects_bad_values():
    with pytest.raises(ValueError):
        decode(np.array([1, 0, 2], dtype=np.uint8))
    with pytest.raises(ValueError):
        encode(np.array([-1, 2], dtype=np.int32))
    with pytest.raises(ValueError):
        encode(np.array([0.0, 1.0]))


def test_generate_cli_writes_the_official_format(tmp_path):
    from rrm_jax.data import generate, official

    generate.main(
        [
            "--out",
            str(tmp_path),
            "--board",
            "2x3",
            "--num_train",
            "12",
            "--num_test",
            "5",
            "--seed",
            "4",
        ]
    )
    train = official.load_split(tmp_path, "train")
    test = official.load_split(tmp_path, "test")
    assert train.inputs.shape == (12, 36) and test.inputs.shape == (5, 36)
    assert train.metadata.vocab_size == 8 and train.metadata.num_puzzle_identifiers == 1
    board = Board(2, 3)
    for row_in, row_out in zip(test.inputs, test.labels, strict=True):
        res = solve(sudoku.decode(row_in), board)
        assert res.num_solutions == 1 and np.array_equal(sudoku.encode(res.solution), row_out)
    seen = {r.tobytes() for r in train.inputs}
    assert not any(r.tobytes() in seen for r in test.inputs)  # disjoint splits
    assert np.load(tmp_path / "train" / "rating.npy").shape == (12,)
