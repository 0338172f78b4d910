"""Training stream: an IterableDataset that draws the mixture lazily, one global batch at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info

from datamodules.prepared import PreparedPart
from datamodules.sample import Sample
from datamodules.sampler import MixtureSampler


class MixtureBatch(list):
    """A training batch: a ``list[Sample]`` that also carries the sampler state after it was drawn.

    Attributes:
        state: ``MixtureSampler.state_dict()`` right after this batch's global draw; committing it
            when the batch is consumed makes a checkpoint resume with the next batch.
    """

    def __init__(self, samples: list[Sample], state: dict[str, Any]) -> None:
        super().__init__(samples)
        self.state = state


class MixtureStream(IterableDataset):
    """Yields ``MixtureBatch`` es of ``batch_size`` samples for one rank.

    All ranks draw the same global sequence of ``batch_size * world_size`` items per step and rank
    ``r`` keeps items ``r, r + world_size, ...``, so ranks are disjoint and the global proportions
    follow the weights. With ``num_workers > 0`` worker ``k`` builds global batches
    ``k, k + num_workers, ...`` (the DataLoader returns them in order).

    Every ``iter()`` restarts from :attr:`committed`, the state after the last consumed batch, so
    batches a DataLoader prefetched but nobody used are drawn again after a resume.

    Args:
        sampler: The mixture sampler; each ``iter()`` draws on a copy set to ``committed``.
        parts: Training part of each domain the sampler names.
        batch_size: Prompts per rank and step.
        rank: This process's rank.
        world_size: Number of ranks.
        commit_on_yield: Commit each batch's state as it is yielded (right for a plain loop with
            ``num_workers=0``); under a Trainer the data module commits in ``on_before_batch_transfer``.
    """

    def __init__(
        self,
        sampler: MixtureSampler,
        parts: Mapping[str, PreparedPart],
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        commit_on_yield: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.sampler = sampler
        self.parts = dict(parts)
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.commit_on_yield = commit_on_yield
        self.committed: dict[str, Any] = sampler.state_dict()

    def __iter__(self) -> Iterator[MixtureBatch]:
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        # Each iterator draws on its own copy, so two live iterators (Lightning may create a
        # second one) cannot advance each other.
        sampler = copy.deepcopy(self.sampler)
        sampler.load_state_dict(self.committed)
        step = 0
        while True:
            items = sampler.draw_batch(self.batch_size * self.world_size)
            if items is None:
                return
            state = sampler.state_dict()
            if step % num_workers == worker:
                samples = [self.parts[name][index] for name, index in items[self.rank :: self.world_size]]
                batch = MixtureBatch(samples, state)
                if self.commit_on_yield:
                    self.committed = state
                yield batch
            step += 1
