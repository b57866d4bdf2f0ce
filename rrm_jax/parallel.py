"""Device mesh, shardings and global-batch assembly (SPMD over a one-axis `data` mesh).

The same program runs on one CPU, several GPUs or a TPU pod slice: the batch and the ACT carry are
sharded over the `data` axis, parameters and optimizer state are replicated. Multi-host runs call
`jax.distributed.initialize()` first (see `main.py`); each process then feeds its slice of the
global batch and `global_batch` assembles the global arrays. The axis is named so that a `model`
axis can be added later without rewriting the step.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(num_data: int = -1) -> Mesh:
    """A one-axis mesh over the first `num_data` devices (-1: all of them)."""
    devices = jax.devices()
    n = len(devices) if num_data == -1 else num_data
    if not 1 <= n <= len(devices):
        raise ValueError(f"asked for {num_data} data devices, {len(devices)} present")
    return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over `data`, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles the process-local rows of every process into global arrays sharded over `data`."""
    sharding = batch_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
