"""Puzzle identifiers: the names of a task's variants, parsing them, and undoing a variant.

A variant's name is ``"{task}"`` for the original and ``"{task}|||t{tid}|||{perm}"`` (TRM; HRM:
``"{task}_t{tid}_{perm}"``) for ``augment_grid(., tid, perm)``, `perm` as its 10 digits. The
identifier 0 is the blank ``"<blank>"`` (padding rows).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np

from rrm_jax.data.arc.transforms import (
    IDENTITY_PERM,
    check_tid,
    colour_map,
    inverse_augment_grid,
    perm_string,
)

BLANK_IDENTIFIER = "<blank>"
BLANK_IDENTIFIER_ID = 0
TRM_SEPARATOR = "|||"

_TRM_NAME = re.compile(r"^(?P<task>.*)\|\|\|t(?P<tid>[0-9]+)\|\|\|(?P<perm>[0-9]+)$")
_HRM_NAME = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-9]+)_(?P<perm>[0-9]{10})$")


class Identifier(NamedTuple):
    """A parsed puzzle identifier: the task, and the augmentation (None for the original)."""

    task_id: str
    tid: int | None
    perm: str | None  # 10 digits

    @property
    def is_original(self) -> bool:
        return self.tid is None


def identifier_name(
    task_id: str, tid: int | None = None, perm: Any = None, style: str = "trm"
) -> str:
    """The official name of a puzzle variant.

    Args:
      task_id: the task.
      tid, perm: the augmentation; both None for the original puzzle, named ``task_id``.
      style: "trm" -> ``"{task}|||t{tid}|||{perm}"``; "hrm" -> ``"{task}_t{tid}_{perm}"``.
    """
    if (tid is None) != (perm is None):
        raise ValueError("give both tid and perm, or neither (the original puzzle)")
    if tid is None:
        return task_id
    tid = check_tid(tid)
    digits = perm_string(perm)
    if style == "trm":
        return f"{task_id}{TRM_SEPARATOR}t{tid}{TRM_SEPARATOR}{digits}"
    if style == "hrm":
        return f"{task_id}_t{tid}_{digits}"
    raise ValueError(f"style must be 'trm' or 'hrm', got {style!r}")


def parse_identifier(name: str, *, fix_zero: bool = True) -> Identifier:
    """Inverse of `identifier_name` for both styles (TRM's ``|||`` names, HRM's ``_t{tid}_``).

    A name with neither form is an original puzzle: ``Identifier(name, None, None)``. The TRM
    task part is everything before the first ``|||``, as the official `inverse_aug`.

    Args:
      name: the identifier.
      fix_zero: require the colour map to fix 0 (as `colour_map`); the evaluators accept any
        permutation of 0..9.

    Raises:
      ValueError: not a string, the blank identifier, a ``|||`` name that does not have exactly
        three parts, or a name whose tid (outside 0..7) or colour map is malformed.
    """
    if not isinstance(name, str):
        raise ValueError(f"a puzzle name must be a string, got {name!r}")
    if name == BLANK_IDENTIFIER:
        raise ValueError(f"{name!r} is the blank identifier, not a puzzle")
    if TRM_SEPARATOR in name:
        m = _TRM_NAME.match(name)
        if m is None or TRM_SEPARATOR in m.group("task"):
            raise ValueError(f"malformed TRM puzzle identifier {name!r}")
    else:
        m = _HRM_NAME.match(name)
        if m is None:
            return Identifier(name, None, None)
    tid, perm = int(m.group("tid")), m.group("perm")
    try:
        check_tid(tid)
        colour_map(perm, fix_zero=fix_zero)
    except ValueError as e:
        raise ValueError(f"malformed puzzle identifier {name!r}: {e}") from None
    return Identifier(m.group("task"), tid, perm)


def parse_augmentation(name: str) -> tuple[str, int, str]:
    """(task, tid, perm) of a puzzle name, as the evaluators read names.

    Unlike `parse_identifier`, the original puzzle (and the blank name) reads as the identity
    augmentation ``(name, 0, "0123456789")``, and any permutation of 0..9 is a colour map.
    `perm` is the 10 digits: colour c of the original grid became colour int(perm[c]).

    Raises:
      ValueError: as `parse_identifier` (the blank name excepted).
    """
    if name == BLANK_IDENTIFIER:
        return name, 0, IDENTITY_PERM
    ident = parse_identifier(name, fix_zero=False)
    if ident.is_original:
        return ident.task_id, 0, IDENTITY_PERM
    return ident.task_id, ident.tid, ident.perm


def invert_grid(name: str, grid: np.ndarray) -> tuple[str, np.ndarray]:
    """(task id, grid in the original task's frame) for a grid of the puzzle named `name`."""
    ident = parse_identifier(name)
    if ident.is_original:
        return ident.task_id, np.asarray(grid)
    return ident.task_id, inverse_augment_grid(grid, ident.tid, ident.perm)
