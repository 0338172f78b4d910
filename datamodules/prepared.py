"""A domain part checked before training: every record is built and its ground truth validated once."""

from __future__ import annotations

import logging
from typing import Literal

from datamodules.domain import Domain
from datamodules.sample import Sample
from datamodules.sources.base import BadSampleError, Part, SourceSplit
from rewards.composite import DomainReward

log = logging.getLogger(__name__)

OnBadSample = Literal["fail", "skip"]


def _describe(err: BaseException) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err}"
    if isinstance(err, FileNotFoundError):
        return f"missing image file {err.filename!r}" if err.filename else f"missing file: {err}"
    if isinstance(err, OSError):
        return f"unreadable image: {err}"
    return str(err)


class PreparedPart:
    """The usable records of one part (train or eval) of a domain.

    Building it reads every record once (images decoded, ground truth checked by the domain's
    ``DomainReward.validate_solution``) so that bad data stops the run before training starts.
    Records are rebuilt on access afterwards, so nothing but indices is kept in memory.

    Args:
        domain: The domain.
        part: ``"train"`` or ``"eval"``.
        split: The source's records of that part.
        reward: The domain's reward (its ``validate_solution`` checks ground truths).
        cap: Keep only the first ``cap`` records; ``None``: all.
        on_bad_sample: ``"fail"`` raises :class:`BadSampleError` naming the domain and sample id;
            ``"skip"`` drops the record and counts it in :attr:`skipped`.

    Raises:
        BadSampleError: With ``on_bad_sample="fail"``, on the first unusable record.
    """

    def __init__(
        self,
        domain: Domain,
        part: Part,
        split: SourceSplit,
        reward: DomainReward,
        cap: int | None = None,
        on_bad_sample: OnBadSample = "fail",
    ) -> None:
        if on_bad_sample not in ("fail", "skip"):
            raise ValueError(f"on_bad_sample must be 'fail' or 'skip', got {on_bad_sample!r}")
        self.domain = domain
        self.part = part
        self.split = split
        n = len(split) if cap is None else min(cap, len(split))
        self.indices: list[int] = []
        self.skipped = 0
        for index in range(n):
            sample_id = self.sample_id(index)
            try:
                sample = self._build(index)
                reward.validate_solution(sample.solution, sample.meta, sample_id)
            except (BadSampleError, KeyError, OSError, ValueError, TypeError) as err:
                message = f"domain {domain.name!r}, sample {sample_id!r}: {_describe(err)}"
                if on_bad_sample == "fail":
                    raise BadSampleError(message) from err
                log.warning("skipping bad sample: %s", message)
                self.skipped += 1
                continue
            self.indices.append(index)

    def sample_id(self, index: int) -> str:
        """The stable id ``"<domain>/<part>/<index>"`` of the source record ``index``."""
        return f"{self.domain.name}/{self.part}/{index}"

    def _build(self, index: int) -> Sample:
        record = self.split.record(index)
        return self.domain.make_sample(record, self.sample_id(index))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Sample:
        """The ``i``-th usable sample (``0 <= i < len(self)``)."""
        return self._build(self.indices[i])
