"""N-Queens completion (offline): the multi-solution benchmark of GRAM (arXiv 2605.19376, App. C.2).

Every solution of the n-queens problem, enumerated by backtracking, with every subset of k of its
queens removed; the remaining queens are the input, the solution the label. k in {5, 6, 7} for
8x8 and {7, 8, 9} for 10x10, as the paper (1 to 3 queens left). The distinct inputs are shuffled
with the seed and split 85:15 (train:test) by input, so no input is in both splits; an input
reached from several solutions has exactly those solutions as its valid completions, and every
example stores their number in `num_solutions`. Nothing is subsampled: the full sets are small.

Tokens: the board row by row, N*N tokens, PAD 0 (unused), empty 1, queen 2; vocabulary 3. All
label positions carry loss.

Examples (see `rrm_jax.data.csp`): train holds one example per (input, valid completion), the
examples of one input consecutive with one `group` number (`train_targets="all"`; the trainer
draws one completion of every input per epoch); test holds every input once, with one of its
completions drawn with the seed. `index` = position in the split, `rating` -1, `source` names n
and k.

Configs (`seed=0`, `train_fraction=0.85`, every input):
  8x8:   92 solutions x (56 + 28 + 8) subsets = 8,464 pairs, 5,148 distinct inputs:
         4,376 train inputs (7,164 examples), 772 test; up to 18 completions per input.
  10x10: 724 solutions x (120 + 45 + 10) = 126,700 pairs, 43,420 distinct inputs:
         36,907 train inputs (107,112 examples), 6,513 test; up to 93 completions.
  5x5:   a tiny set for tests and CPU runs (10 solutions, k in {2, 3, 4}; 225 inputs).
Other sizes or settings: `config=NQueensConfig(name=..., n=..., removed=(...), ...)` with a name
of its own (`max_inputs` > 0 keeps a seeded subsample of the inputs, for larger boards;
`train_targets="one"` stores one completion per train input).

Load it through `rrm_jax.data.tfds` (`load_builder("n_queens")`), never as `import datasets...`.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import csp as csp_data
from rrm_jax.data import puzzle_sources
from rrm_jax.eval import csp


@dataclasses.dataclass
class NQueensConfig(tfds.core.BuilderConfig):
    """Board side, queens removed, split fraction, seed, input subsample (0: all), train
    targets ("all" completions or "one")."""

    n: int = 8
    removed: tuple[int, ...] = (5, 6, 7)
    train_fraction: float = 0.85
    seed: int = 0
    max_inputs: int = 0
    train_targets: str = "all"


def _config(n: int, description: str) -> NQueensConfig:
    removed = csp_data.default_removed(n)
    return NQueensConfig(
        name=f"{n}x{n}", description=f"{description} (k in {removed})", n=n, removed=removed
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """N-Queens completion puzzles of one board size, split by distinct input."""

    name = "n_queens"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "All solutions minus k queens, split by input; array_record."}
    BUILDER_CONFIGS = [
        _config(8, "8x8 boards, the paper's setting"),
        _config(10, "10x10 boards, the paper's setting"),
        _config(5, "5x5 boards, a tiny set for tests and CPU runs"),
    ]
    DEFAULT_CONFIG_NAME = "8x8"

    def __init__(self, **kwargs):
        kwargs.setdefault("file_format", puzzle_sources.FILE_FORMAT)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        n = self.builder_config.n
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=csp_data.features(n * n),
            supervised_keys=("inputs", "labels"),
            metadata=csp_data.metadata("n_queens", n, n * n, csp.QUEENS_VOCAB),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        c = self.builder_config
        splits = csp_data.n_queens_splits(
            c.n,
            tuple(c.removed),
            train_fraction=c.train_fraction,
            seed=c.seed,
            max_inputs=c.max_inputs,
            train_targets=c.train_targets,
        )
        return {split: self._generate_examples(ex) for split, ex in splits.items()}

    def _generate_examples(self, examples: csp_data.CSPExamples):
        yield from examples.generate()
