"""Graph 3-colouring (offline): the multi-solution benchmark of GRAM (arXiv 2605.19376, App. C.2).

Erdos-Renyi graphs G(n, p): each of the n(n-1)/2 possible edges present independently with
probability p (`edge_prob`, 0.45 here), drawn with the seed; graphs that are not 3-colourable,
and repeats of a graph drawn before (same adjacency matrix), are skipped, so train and test hold
distinct graphs. The first `num_train` graphs are train, the next `num_test` test: 7,002 / 255
for 8 nodes and 13,465 / 192 for 10 nodes, the paper's counts. The answers of a graph are its
proper colourings with at most 3 colours up to a renaming of the colours: canonical colourings
(colours numbered in order of first appearance by node index), `num_solutions` their number.

The paper does not give p. 0.45 is chosen so that its coverage numbers are attainable: with 20
samples a graph with m solutions is covered at most min(1, 20/m), and the paper's best 8-node
coverage, 85.8%, needs p >= 0.4 by that bound (87.8% at p = 0.4, 77.6% at 0.35, estimated over
20,000 draws); on the test sets of 0.45 an ideal sampler drawing the solutions uniformly would
cover 86.5% (8 nodes) and 89.1% (10 nodes), close to the paper's best 8-node result. At p = 0.45,
66% of 8-node and 33% of 10-node draws are 3-colourable; solutions per graph: mean 11 and 9,
median 6 and 4, up to 324 and 576.

Tokens (vocabulary 6, as the paper: PAD 0, no edge 1, edge 2, colours 3, 4, 5): the strict upper
triangle of the adjacency matrix row-major ((0,1), (0,2), ..., (n-2,n-1); n(n-1)/2 tokens, 1 or
2), then one position per node (the paper's length-n output), seq_len n(n-1)/2 + n (36 for 8
nodes, 55 for 10). Inputs hold PAD 0 on the node positions; labels hold 0 on the triangle (the
ignore label: no loss there) and 3 + colour on the nodes. The paper keeps the input triangle and
the n-token output as two sequences of different lengths; the trainer here needs one length for
both, so they are laid end to end.

Examples (see `rrm_jax.data.csp`): train holds one example per (graph, canonical colouring), the
examples of one graph consecutive with one `group` number (`train_targets="all"`; the trainer
draws one colouring of every graph per epoch, so an epoch is the paper's 7,002 / 13,465
instances); test holds every graph once, with one colouring drawn with the seed. `index` =
position in the split, `rating` -1, `source` names n and p.

Configs (`edge_prob=0.45, seed=0`): `8_nodes` (7,002 / 255 graphs; 78,904 train examples),
`10_nodes` (13,465 / 192; 119,392 train examples), and `5_nodes` (200 / 20 graphs, a tiny set for
tests and CPU runs). Others: `config=GraphColoringConfig(name=..., n=..., edge_prob=..., ...)`
with a name of its own.

Load it through `rrm_jax.data.tfds` (`load_builder("graph_coloring")`), never as
`import datasets...`.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import csp as csp_data
from rrm_jax.data import puzzle_sources
from rrm_jax.eval import csp

EDGE_PROB = 0.45


@dataclasses.dataclass
class GraphColoringConfig(tfds.core.BuilderConfig):
    """Nodes, edge probability, split sizes (graphs), seed, train targets ("all" colourings
    or "one")."""

    n: int = 8
    edge_prob: float = EDGE_PROB
    num_train: int = 7002
    num_test: int = 255
    seed: int = 0
    train_targets: str = "all"


def _config(n: int, num_train: int, num_test: int, description: str) -> GraphColoringConfig:
    return GraphColoringConfig(
        name=f"{n}_nodes",
        description=f"{description}: {num_train} train, {num_test} test graphs, p={EDGE_PROB}",
        n=n,
        num_train=num_train,
        num_test=num_test,
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """3-colouring of distinct random 3-colourable graphs of one size."""

    name = "graph_coloring"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Erdos-Renyi graphs, canonical 3-colourings; array_record."}
    BUILDER_CONFIGS = [
        _config(8, 7002, 255, "8 nodes, the paper's counts"),
        _config(10, 13465, 192, "10 nodes, the paper's counts"),
        _config(5, 200, 20, "5 nodes, a tiny set for tests and CPU runs"),
    ]
    DEFAULT_CONFIG_NAME = "8_nodes"

    def __init__(self, **kwargs):
        kwargs.setdefault("file_format", puzzle_sources.FILE_FORMAT)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        n = self.builder_config.n
        seq_len = csp.coloring_seq_len(n)
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=csp_data.features(seq_len),
            supervised_keys=("inputs", "labels"),
            metadata=csp_data.metadata("graph_coloring", n, seq_len, csp.COLORING_VOCAB),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        c = self.builder_config
        splits = csp_data.graph_coloring_splits(
            c.n,
            c.edge_prob,
            c.num_train,
            c.num_test,
            seed=c.seed,
            train_targets=c.train_targets,
        )
        return {split: self._generate_examples(ex) for split, ex in splits.items()}

    def _generate_examples(self, examples: csp_data.CSPExamples):
        yield from examples.generate()
