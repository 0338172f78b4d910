"""``MultiDomainDataModule``: the mixture of training domains plus the in- and out-of-domain benchmarks.

YAML (``--data`` of the LightningCLI)::

    data:
      class_path: datamodules.MultiDomainDataModule
      init_args:
        domains:
          - name: objects
            source: {class_path: datamodules.synthetic.SyntheticObjects, init_args: {train_size: 256}}
        weights: {objects: 1.0}
        batch_size: 2

and ``--data.weights '{objects: 1, spatial: 0}'`` on the command line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamodules.domain import Domain, normalize_weights
from datamodules.prepared import OnBadSample, PreparedPart
from datamodules.sample import EvalBenchmark, Sample
from datamodules.sampler import MixtureSampler, StopRule
from datamodules.sources.base import Part, SourceSplit
from datamodules.stream import MixtureBatch, MixtureStream
from rewards.composite import DomainReward


def _as_list(batch: list[Sample]) -> list[Sample]:
    # Samples hold PIL images and strings: nothing to stack, the batch stays a list.
    return list(batch)


def _identity(batch: MixtureBatch) -> MixtureBatch:
    # The stream already yields whole batches; keep the MixtureBatch (and its sampler state).
    return batch


class _MixtureLoader(DataLoader):
    """The training DataLoader; when its stream ends (a domain ran out under ``first_exhausted``) it stops the Trainer.

    Under ``max_steps`` with ``max_epochs: null`` Lightning would otherwise start empty epochs forever: each
    ``iter()`` restarts from the last consumed batch and ends again at once. This runs in the training process
    whatever the number of workers, and for any LightningModule. Without a Trainer it also commits the sampler
    state of each batch as it hands it out, in this process (workers' commits would stay in their copies).
    """

    def __init__(self, *args: Any, datamodule: pl.LightningDataModule | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._datamodule = datamodule

    def __iter__(self) -> Any:
        dm = self._datamodule
        for batch in super().__iter__():
            if dm is not None and dm.trainer is None:  # no Trainer to call on_before_batch_transfer: commit here
                dm.on_before_batch_transfer(batch, 0)
            yield batch
        if dm is not None and dm.trainer is not None:
            dm.trainer.should_stop = True


class _EvalShard(IterableDataset):
    """This rank's share of a prepared eval part: samples ``rank, rank + world_size, ...`` (``Sample`` objects).

    Iterable on purpose: Lightning gives map-style eval sets a ``DistributedSampler``, which pads every rank to the
    same length by repeating samples, so under DDP a benchmark's score and its weight in In-Score / Out-Score would
    count some samples twice. Ranks may get one batch more or less; evaluation does no collective per batch.
    """

    def __init__(self, part: PreparedPart, rank: int = 0, world_size: int = 1) -> None:
        self.part = part
        self.indices = range(rank, len(part), world_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Sample]:
        info = get_worker_info()  # DataLoader workers split this rank's share again
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for i in self.indices[worker::workers]:
            yield self.part[i]


class MultiDomainDataModule(pl.LightningDataModule):
    """Mixture of training domains sampled by weight, plus in- and out-of-domain evaluation sets.

    Training batches are ``list[Sample]`` of ``batch_size`` prompts (the GRPO module repeats each
    ``G`` times). Each draw picks a domain with probability ``w`` and then an unseen example of it;
    the sampler state is saved in checkpoints so a resumed run continues the same sequence.

    Args:
        domains: Training domains (``role: train``) and evaluation sets (``role: in`` / ``out``).
        weights: Mixture weight of each training domain (normalised; 0 leaves a domain out of
            training but still evaluates its eval part). ``None``: uniform.
        batch_size: Prompts per training step and rank.
        eval_batch_size: Prompts per evaluation batch.
        stop: ``first_exhausted`` (the paper): training ends the first time a drawn domain has no
            unseen example left; ``cycle``: reshuffle that domain and continue.
        replacement: Draw examples with replacement (the stream never ends; bound it with ``max_steps``).
        seed: Seed of the mixture sampler.
        num_workers: DataLoader worker processes (0 builds samples in the training process).
        on_bad_sample: ``fail``: a bad sample (missing field or image, corrupt image, ground truth
            its verifier rejects) stops ``setup`` with an error naming the domain and sample id;
            ``skip``: drop it and count it in :attr:`skipped`.
    """

    def __init__(
        self,
        domains: list[Domain],
        weights: dict[str, float] | None = None,
        batch_size: int = 4,
        eval_batch_size: int = 8,
        stop: Literal["first_exhausted", "cycle"] = "first_exhausted",
        replacement: bool = False,
        seed: int = 42,
        num_workers: int = 0,
        on_bad_sample: Literal["fail", "skip"] = "fail",
    ) -> None:
        super().__init__()
        names = [d.name for d in domains]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"domain names must be unique, repeated: {duplicates}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(
                f"batch sizes must be >= 1, got batch_size={batch_size}, eval_batch_size={eval_batch_size}"
            )
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if stop not in ("first_exhausted", "cycle"):
            raise ValueError(f"stop must be 'first_exhausted' or 'cycle', got {stop!r}")
        if on_bad_sample not in ("fail", "skip"):
            raise ValueError(f"on_bad_sample must be 'fail' or 'skip', got {on_bad_sample!r}")
        self.domains = list(domains)
        self.train_domains = [d for d in self.domains if d.role == "train"]
        #: Normalised mixture weights of the training domains (sum to 1).
        self.weights: dict[str, float] = normalize_weights(weights, [d.name for d in self.train_domains])
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.stop: StopRule = stop
        self.replacement = replacement
        self.seed = seed
        self.num_workers = num_workers
        self.on_bad_sample: OnBadSample = on_bad_sample
        #: One ``DomainReward`` per domain (training and evaluation), by domain name.
        self.rewards: dict[str, DomainReward] = {
            d.name: DomainReward(d.verifier_specs(), format_gate=d.format_gate) for d in self.domains
        }
        self._train_parts: dict[str, PreparedPart] | None = None
        self._eval_parts: list[tuple[Domain, PreparedPart]] | None = None
        self._sampler: MixtureSampler | None = None
        self._stream: MixtureStream | None = None
        self._state_to_load: dict[str, Any] | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str | None = None) -> None:
        """Builds and checks the parts the stage needs (``fit``: train + eval; else eval only).

        Raises:
            BadSampleError: With ``on_bad_sample="fail"``, naming the domain and sample id.
            ValueError: If a weighted training domain has no training part or no usable sample.
        """
        if stage in (None, "fit") and self._train_parts is None:
            parts = {}
            for domain in self.train_domains:
                if self.weights[domain.name] == 0:
                    continue  # not loaded for training; its eval part is still evaluated
                split = domain.source.split("train")
                if split is None:
                    raise ValueError(f"training domain {domain.name!r}: its source has no train part")
                parts[domain.name] = self._prepare(domain, "train", split, domain.max_samples)
                if len(parts[domain.name]) == 0:
                    raise ValueError(f"training domain {domain.name!r} has no usable training sample")
            self._train_parts = parts
        if self._eval_parts is None:
            eval_parts = []
            for domain in self.domains:
                split = domain.source.split("eval")
                if split is None:
                    if domain.role != "train":
                        raise ValueError(f"evaluation domain {domain.name!r}: its source has no eval part")
                    continue
                eval_parts.append((domain, self._prepare(domain, "eval", split, domain.eval_max_samples)))
            self._eval_parts = eval_parts

    def _prepare(self, domain: Domain, part: Part, split: SourceSplit, cap: int | None) -> PreparedPart:
        return PreparedPart(domain, part, split, self.rewards[domain.name], cap, self.on_bad_sample)

    def _require_setup(self, what: str) -> None:
        if self._eval_parts is None:
            raise RuntimeError(f"MultiDomainDataModule.{what} needs setup() first")

    # ------------------------------------------------------------- properties
    @property
    def eval_benchmarks(self) -> list[EvalBenchmark]:
        """Evaluation sets in the order of ``val_dataloader()`` / ``test_dataloader()`` (after ``setup``)."""
        self._require_setup("eval_benchmarks")
        return [
            EvalBenchmark(d.name, "out" if d.role == "out" else "in", len(part))
            for d, part in self._eval_parts or []
        ]

    @property
    def skipped(self) -> dict[str, int]:
        """Bad samples skipped per domain (train and eval parts together); log as ``data/skipped/<domain>``."""
        counts = {d.name: 0 for d in self.domains}
        for part in (self._train_parts or {}).values():
            counts[part.domain.name] += part.skipped
        for domain, part in self._eval_parts or []:
            counts[domain.name] += part.skipped
        return counts

    @property
    def drawn_counts(self) -> dict[str, int]:
        """Training prompts consumed per domain, all ranks together; log as ``data/count/<domain>``."""
        counts = {d.name: 0 for d in self.train_domains}
        state = self._stream.committed if self._stream is not None else self._state_to_load
        if state is not None:
            counts.update(dict(zip(state["names"], state["counts"], strict=False)))
        return counts

    # ------------------------------------------------------------ dataloaders
    def _rank_and_world(self) -> tuple[int, int]:
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def train_dataloader(self, rank: int | None = None, world_size: int | None = None) -> DataLoader:
        """The mixture stream for this rank.

        Args:
            rank: Override of the rank (default: from the trainer or ``torch.distributed``).
            world_size: Override of the number of ranks.
        """
        if self._train_parts is None:
            raise RuntimeError("MultiDomainDataModule.train_dataloader needs setup('fit') first")
        default_rank, default_world = self._rank_and_world()
        rank = default_rank if rank is None else rank
        world_size = default_world if world_size is None else world_size
        parts = self._train_parts
        sizes = {d.name: len(parts[d.name]) if d.name in parts else 0 for d in self.train_domains}
        self._sampler = MixtureSampler(sizes, self.weights, self.seed, self.stop, self.replacement)
        previous = self._stream.committed if self._stream is not None else self._state_to_load
        self._stream = MixtureStream(
            self._sampler,
            self._train_parts,
            self.batch_size,
            rank,
            world_size,
            # Batches are committed as they are consumed, in this process: by on_before_batch_transfer under a
            # Trainer (whose prefetcher draws ahead), else by _MixtureLoader (workers' commits stay in their copies).
            commit_on_yield=False,
        )
        if previous is not None:
            self._sampler.load_state_dict(previous)
            self._stream.committed = self._sampler.state_dict()
        self._state_to_load = None
        return _MixtureLoader(
            self._stream,
            batch_size=None,
            collate_fn=_identity,
            num_workers=self.num_workers,
            persistent_workers=False,
            datamodule=self,
        )

    def _eval_loaders(self) -> list[DataLoader]:
        self._require_setup("val_dataloader")
        rank, world_size = self._rank_and_world()
        return [
            DataLoader(
                _EvalShard(part, rank, world_size),
                batch_size=self.eval_batch_size,
                collate_fn=_as_list,
                num_workers=self.num_workers,
            )
            for _, part in self._eval_parts or []
        ]

    def val_dataloader(self) -> list[DataLoader]:
        """One loader of ``list[Sample]`` per entry of :attr:`eval_benchmarks`."""
        return self._eval_loaders()

    def test_dataloader(self) -> list[DataLoader]:
        """Same sets as :meth:`val_dataloader`."""
        return self._eval_loaders()

    # ------------------------------------------------------- batch and state
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Commits the sampler state of a training batch the moment the loop consumes it."""
        if isinstance(batch, MixtureBatch) and self._stream is not None:
            self._stream.committed = batch.state
        return batch

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Samples hold PIL images and text: nothing to move (and no deep copy of the images)."""
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The sampler state after the last consumed training batch (empty before training)."""
        if self._stream is not None:
            return {"sampler": self._stream.committed}
        return {"sampler": self._state_to_load} if self._state_to_load is not None else {}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores the sampler state; the next ``train_dataloader()`` continues from it."""
        state = state_dict.get("sampler")
        if state is None:
            return
        self._state_to_load = dict(state)
        if self._sampler is not None and self._stream is not None:
            self._sampler.load_state_dict(self._state_to_load)
            self._stream.committed = self._sampler.state_dict()
            self._state_to_load = None
