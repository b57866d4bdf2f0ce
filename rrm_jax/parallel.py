"""Device mesh, shardings and global-batch assembly: SPMD over a `data` mesh axis.

The same jitted program runs on one CPU, several GPUs or a TPU pod slice (`jax.jit` with
`NamedSharding`s; XLA's partitioner inserts the collectives, so no `pmap` and no hand-written
all-reduce). What goes where:

    batch, ACT carry          split over `data` (leading axis)
    dense params, optimizer   replicated
    EMA, fixed latents        replicated
    puzzle-embedding table    replicated, or split by rows over `data` when it is large
                              (the ARC table is ~876k x 512 fp32 = 1.8 GB)

The loss is divided by the GLOBAL batch size inside the step and the sparse puzzle-embedding
update sums each id's row gradients over the global batch (`optim.sparse_signsgd_update`), so the
math is the single-device math whatever the device count; with a row-sharded table XLA lowers the
row gather and the scatter to local masked gathers plus an all-reduce of the [B, D] rows (the
table itself never travels).

Multi-host runs call `initialize(distributed=True)` first (`main.py --distributed`); each process
then reads its slice of the global batch (the sampler shards by `jax.process_index()`) and
`global_batch` assembles the global arrays. The axis is named so that a `model` axis can be added
without rewriting the step.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import logging
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
TABLE_MODES = ("auto", "replicated", "rows")


def initialize(distributed: bool) -> None:
    """Joins the multi-host job (`jax.distributed.initialize()`, cluster from the environment)."""
    if distributed:
        jax.distributed.initialize()
        logging.info(
            "process %d of %d: %d local / %d global devices",
            jax.process_index(),
            jax.process_count(),
            jax.local_device_count(),
            jax.device_count(),
        )


def make_mesh(num_data: int = -1) -> Mesh:
    """A one-axis `data` mesh over the first `num_data` devices (-1: all of them).

    On several processes the mesh must hold every device (each process feeds its own).
    """
    devices = jax.devices()
    n = len(devices) if num_data == -1 else num_data
    if not 1 <= n <= len(devices):
        raise ValueError(f"asked for {num_data} data devices, {len(devices)} present")
    if jax.process_count() > 1 and n != len(devices):
        raise ValueError(
            f"mesh.data={num_data} on {jax.process_count()} processes: a multi-host mesh must "
            f"use all {len(devices)} devices (leave mesh.data=-1)"
        )
    return jax.make_mesh((n,), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices[:n])


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over `data`, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def rows_sharded(mesh: Mesh) -> NamedSharding:
    """A [rows, D] table split by rows over `data`."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS, None))


def table_mode(mesh_config, num_ids: int, dim: int) -> str:
    """ "replicated" or "rows" for a [num_ids, dim] fp32 puzzle table.

    A function of the config and the table's size only, never of the device count, so the table's
    (padded) shape is the same on any mesh and a checkpoint restores on any other mesh.
    """
    mode = mesh_config.puzzle_emb
    if mode not in TABLE_MODES:
        raise ValueError(f"mesh.puzzle_emb={mode!r}; expected one of {TABLE_MODES}")
    if mode != "auto":
        return mode
    if dim == 0:
        return "replicated"
    too_big = num_ids * dim * 4 > mesh_config.puzzle_emb_rows_above_mb * 2**20
    return "rows" if too_big else "replicated"


def padded_rows(num_ids: int, multiple: int) -> int:
    """`num_ids` rounded up to a multiple of `multiple` (rows of a row-sharded table)."""
    return -(-num_ids // multiple) * multiple


def state_shardings(abstract_state, mesh: Mesh, mode: str):
    """Shardings for a TrainState: everything replicated except a row-sharded puzzle table."""
    rep = replicated(mesh)
    shardings = jax.tree.map(lambda _: rep, abstract_state)
    if mode == "rows":
        table = abstract_state.params["puzzle_emb"]
        if table.shape[0] % mesh.shape[DATA_AXIS]:
            raise ValueError(
                f"the puzzle table has {table.shape[0]} rows, not divisible by the "
                f"{mesh.shape[DATA_AXIS]} data devices; set mesh.puzzle_emb_row_multiple to a "
                "multiple of the device count"
            )
        params = {**shardings.params, "puzzle_emb": rows_sharded(mesh)}
        shardings = shardings.replace(params=params)
    return shardings


def carry_shardings(abstract_carry, mesh: Mesh):
    """Every leaf of the ACT carry has the batch as its leading axis."""
    sharded = batch_sharded(mesh)
    return jax.tree.map(lambda _: sharded, abstract_carry)


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles the process-local rows of every process into global arrays sharded over `data`."""
    sharding = batch_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}


def describe(mesh: Mesh, global_batch_size: int, mode: str) -> str:
    """One line saying which devices train and what each holds (to check that all are used)."""
    n = mesh.shape[DATA_AXIS]
    kinds = sorted({d.device_kind for d in mesh.devices.flat})
    return (
        f"mesh data={n} ({', '.join(kinds)}; {jax.process_count()} process(es), "
        f"{jax.local_device_count()} local device(s)); {global_batch_size // n} rows per device, "
        f"{global_batch_size // jax.process_count()} per process; puzzle table {mode}"
    )
