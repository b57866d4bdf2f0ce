"""Complete, atomic checkpoints with orbax.

A checkpoint holds the train state (params incl. the puzzle-embedding table and the fixed
initial latents, optimizer state, EMA, step, rng), the ACT carry, and JSON metadata (the data
sampler's position and the config). Orbax writes each step into a temporary folder and renames it
only once every item is written, so an interrupted save never looks complete: `latest_step()`
ignores it, and the next `Checkpointer` on that folder deletes it before anything else.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from etils import epath

TMP_SUFFIX = ".orbax-checkpoint-tmp"  # orbax's marker of an unfinished save


class Checkpointer:
    """Saves and restores (state, carry, meta) under `<workdir>/checkpoints`, keeping `keep`."""

    def __init__(self, workdir: str, keep: int):
        self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
        if jax.process_index() == 0:
            remove_unfinished(self.directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=True,
            enable_async_checkpointing=False,  # a save returns once the step is final
        )
        handlers = dict(
            state=ocp.StandardCheckpointHandler(),
            carry=ocp.StandardCheckpointHandler(),
            meta=ocp.JsonCheckpointHandler(),
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=handlers
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, carry, meta: dict) -> None:
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            carry=ocp.args.StandardSave(carry),
            meta=ocp.args.JsonSave(meta),
        )
        self.manager.save(step, args=args, force=True)
        self.manager.wait_until_finished()

    def restore(self, step: int, abstract_state, abstract_carry):
        """Restores onto the shapes, dtypes and shardings of the abstract (eval_shape) trees."""
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            carry=ocp.args.StandardRestore(abstract_carry),
            meta=ocp.args.JsonRestore(),
        )
        out = self.manager.restore(step, args=args)
        return out.state, out.carry, out.meta

    def read(self, step: int):
        """Restores a step as nested dicts of arrays on this process's first device, whatever
        mesh wrote it (for inspection and tests)."""
        meta = self.manager.item_metadata(step)
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

        def target(tree):
            return jax.tree.map(
                lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree
            )

        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(target(meta["state"])),
            carry=ocp.args.StandardRestore(target(meta["carry"])),
            meta=ocp.args.JsonRestore(),
        )
        out = self.manager.restore(step, args=args)
        return out.state, out.carry, out.meta

    def close(self) -> None:
        self.manager.close()


def remove_unfinished(directory: str) -> list[str]:
    """Deletes what interrupted saves left behind (folders with orbax's temporary suffix)."""
    root = epath.Path(directory)
    if not root.exists():
        return []
    removed = []
    for path in root.iterdir():
        if TMP_SUFFIX in path.name:
            path.rmtree()
            removed.append(path.name)
    return removed


def abstract_like(tree, shardings):
    """ShapeDtypeStructs carrying the target shardings, for `Checkpointer.restore`."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
    )
