"""Rewards of completions: each sample scored by its own domain's verifiers, summarised for logging."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from datamodules.sample import Sample
from rewards.base import VerifierResult
from rewards.composite import DomainReward


@dataclass
class ScoredBatch:
    """Rewards of ``N`` completions and their breakdown.

    Attributes:
        total: ``N`` weighted rewards (float32, CPU).
        per_verifier: verifier name -> its results over every sample whose domain uses it (a verifier shared by
            domains is averaged over all of them).
        per_domain: domain name -> ``(sum of total rewards, count)``.
    """

    total: Tensor
    per_verifier: dict[str, VerifierResult] = field(default_factory=dict)
    per_domain: dict[str, list[float]] = field(default_factory=dict)

    def add(self, result: VerifierResult) -> None:
        """Pool one domain's results of a verifier with those of the other domains that use it."""
        seen = self.per_verifier.get(result.name)
        if seen is not None:
            result = VerifierResult(result.name, seen.scores + list(result.scores),
                                    seen.parse_failed + list(result.parse_failed))
        self.per_verifier[result.name] = result

    def log_dict(self, prefix: str = "train") -> dict[str, float]:
        """Means in the names of docs/CONTRACTS.md: ``reward/<verifier>/*`` (built by
        :meth:`rewards.base.VerifierResult.to_log_dict`) and ``<prefix>/reward/<domain>``."""
        out: dict[str, float] = {}
        for result in self.per_verifier.values():
            out.update(result.to_log_dict("reward"))
        for domain, (s, n) in self.per_domain.items():
            out[f"{prefix}/reward/{domain}"] = s / n
        return out


def reward_for(rewards: Mapping[str, DomainReward], domain: str) -> DomainReward:
    """The domain's reward, with an error that lists the known domains."""
    try:
        return rewards[domain]
    except KeyError:
        raise KeyError(f"no reward verifiers configured for domain {domain!r}; "
                       f"known domains: {sorted(rewards)}") from None


def score_completions(
    samples: Sequence[Sample], texts: Sequence[str], rewards: Mapping[str, DomainReward]
) -> ScoredBatch:
    """Score each completion with the verifiers of its sample's domain.

    Args:
        samples: the sample of every completion (``N``, repeated per group).
        texts: the ``N`` decoded completions.
        rewards: domain name -> its verifiers.

    Returns:
        :class:`ScoredBatch`.
    """
    by_domain: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_domain[s.domain].append(i)
    total = torch.zeros(len(samples), dtype=torch.float32)
    batch = ScoredBatch(total=total)
    for domain, idx in by_domain.items():
        out = reward_for(rewards, domain)(
            [texts[i] for i in idx], [samples[i].solution for i in idx], [samples[i].meta for i in idx]
        )
        total[idx] = out.total.detach().float().cpu()
        batch.per_domain[domain] = [float(out.total.sum()), len(idx)]
        for result in out.results.values():
            batch.add(result)
    return batch


def eval_scores(
    samples: Sequence[Sample], texts: Sequence[str], rewards: Mapping[str, DomainReward]
) -> list[float]:
    """Per-sample benchmark metric (the domain's primary verifier: IoU for boxes, exact match otherwise)."""
    scores = [0.0] * len(samples)
    by_domain: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_domain[s.domain].append(i)
    for domain, idx in by_domain.items():
        values = reward_for(rewards, domain).eval_score(
            [texts[i] for i in idx], [samples[i].solution for i in idx], [samples[i].meta for i in idx]
        )
        for i, v in zip(idx, values, strict=False):
            scores[i] = float(v)
    return scores
