"""Snowflake Sudoku (offline): the hexagonal benchmark of LDT (arXiv 2605.08605), generated here.

Mark Santolucito's variant (rules, topology and grid in `rrm_jax.data.snowflake`): n hexagons in
ring order, 6 triangular cells each holding 1..6, every hexagon and every meeting point of three
hexagons all-distinct; every puzzle has exactly one solution. As LDT's
`experiments/snowflake/gen_data.py`, with an exact backtracking solver in place of CVC5: base
puzzle b has n = sizes[b % len(sizes)], a seeded random solution and a minimal puzzle (clues
removed in a random order while the solution stays unique), then up to `variants - 1` easier
variants (removed clues added back a quarter at a time; LDT uses 6 puzzles per solution, and
keeps a variant with no blank left, which this drops). Bases are added until `count` puzzles;
a base is dropped if its minimal puzzle repeats an earlier one. The base puzzles are split
`test_fraction` to test with the seed, every variant of a solution in its base's split (LDT
hash-splits single puzzles 90/10).

Tokens: the 15 x 10 covering grid of LDT's `data.py` flattened row by row, 150 tokens; PAD 0
outside the puzzle, blank 1, digit d -> d + 1 (the Sudoku builders' encoding); vocabulary 8.
Labels hold the solution on the puzzle's cells and PAD 0 elsewhere (`ignore_label_id` 0: no
loss there). `index` = position in the split, `rating` = the solver's guesses to solve the
puzzle and prove it unique (0: propagation alone), `source` names n, the base, the variant and
the givens. `rrm_jax.eval.snowflake` checks predictions by the rules.

Configs (`sizes=(4, 5, 6, 7, 8)`, `test_fraction=0.1`, `seed=0`):
  default: LDT's set, 30,000 puzzles, up to 6 per solution (6,062 solutions; 26,995 train,
           3,005 test); about 20 s on one CPU core.
  minimal: 30,000 minimal puzzles, one per solution (27,000 train, 3,000 test); about 2 min.
  tiny:    40 puzzles, 2 per solution, for tests (under a second).
Other settings: `config=SnowflakeSudokuConfig(name=..., count=..., variants=..., ...)` with a name
of its own.

Load it through `rrm_jax.data.tfds` (`load_builder("snowflake_sudoku")`), never as
`import datasets...`.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import puzzle_sources, snowflake


@dataclasses.dataclass
class SnowflakeSudokuConfig(tfds.core.BuilderConfig):
    """Puzzles in all, puzzles per solution (1: minimal only), hexagon counts, test fraction
    (of the solutions) and seed."""

    count: int = 30_000
    variants: int = 6
    sizes: tuple[int, ...] = snowflake.LDT_SIZES
    test_fraction: float = 0.1
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Generated Snowflake Sudoku puzzles on the 15 x 10 covering grid, split by solution."""

    name = "snowflake_sudoku"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Minimal puzzles and easier variants, n = 4..8; array_record."}
    BUILDER_CONFIGS = [
        SnowflakeSudokuConfig(
            name="default", description="LDT's set: 30,000 puzzles, n = 4..8, 6 per solution."
        ),
        SnowflakeSudokuConfig(
            name="minimal", description="30,000 minimal puzzles, n = 4..8.", variants=1
        ),
        SnowflakeSudokuConfig(
            name="tiny", description="40 puzzles, 2 per solution, for tests.", count=40, variants=2
        ),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, **kwargs):
        kwargs.setdefault("file_format", puzzle_sources.FILE_FORMAT)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=puzzle_sources.features(snowflake.SEQ_LEN),
            supervised_keys=("inputs", "labels"),
            metadata=puzzle_sources.puzzle_metadata(snowflake.SEQ_LEN, snowflake.VOCAB_SIZE),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        c = self.builder_config
        splits = snowflake.splits(
            c.count,
            c.seed,
            sizes=tuple(c.sizes),
            variants=c.variants,
            test_fraction=c.test_fraction,
        )
        return {split: self._generate_examples(ex) for split, ex in splits.items()}

    def _generate_examples(self, examples: puzzle_sources.Examples):
        yield from examples.generate()
