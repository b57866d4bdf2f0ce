"""The training input pipeline: the sampler as a grain dataset, prefetched in a thread.

`TrainSampler` decides which examples form each global batch (the official packing, seeded) and
applies the on-the-fly augmentation; wrapping it as a `grain.IterDataset` puts that work on a
background thread (`ThreadPrefetchIterDataset`) while the accelerator runs the previous step, and
keeps one checkpointable state: the iterator's `get_state()` is the position of the next batch it
will hand out, not of the batches waiting in the prefetch buffer, so a resumed run continues
exactly (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import grain

from rrm_jax.data.sampler import TrainSampler


class _SamplerIterator(grain.DatasetIterator):
    def __init__(self, sampler: TrainSampler):
        super().__init__()
        self._sampler = sampler

    def __next__(self) -> dict:
        return next(self._sampler)

    def get_state(self) -> dict:
        return self._sampler.get_state()

    def set_state(self, state: dict) -> None:
        self._sampler.set_state(state)


class SamplerDataset(grain.IterDataset):
    """A grain IterDataset whose iterators are fresh samplers from `make_sampler()`."""

    def __init__(self, make_sampler: Callable[[], TrainSampler]):
        super().__init__()
        self._make_sampler = make_sampler

    def __iter__(self) -> grain.DatasetIterator:
        return _SamplerIterator(self._make_sampler())


def train_iterator(make_sampler: Callable[[], TrainSampler], prefetch: int = 2):
    """A checkpointable iterator of host batches, `prefetch` batches prepared ahead (0: none)."""
    ds: grain.IterDataset = SamplerDataset(make_sampler)
    if prefetch > 0:
        ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=prefetch)
    return iter(ds)
