"""Score completions with each sample's own domain verifiers and summarise them for logging."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from datamodules.sample import Sample
from rewards.composite import DomainReward


@dataclass
class ScoredBatch:
    """Rewards of ``N`` completions and their breakdown.

    Attributes:
        total: ``N`` weighted rewards (float32, CPU).
        per_verifier: verifier name -> (sum of scores, sum of parse failures, count) over the
            samples whose domain uses it, so a verifier shared by domains is averaged over all.
        per_domain: domain name -> ``(sum of total rewards, count)``.
    """

    total: Tensor
    per_verifier: dict[str, list[float]] = field(default_factory=dict)
    per_domain: dict[str, list[float]] = field(default_factory=dict)

    def log_dict(self, prefix: str = "train") -> dict[str, float]:
        """Means in the names of docs/CONTRACTS.md (``reward/<verifier>/mean``, ``<prefix>/reward/<domain>``)."""
        out: dict[str, float] = {}
        for name, (s, fails, n) in self.per_verifier.items():
            out[f"reward/{name}/mean"] = s / n
            out[f"reward/{name}/parse_fail"] = fails / n
        for domain, (s, n) in self.per_domain.items():
            out[f"{prefix}/reward/{domain}"] = s / n
        return out


def reward_for(rewards: Mapping[str, DomainReward], domain: str) -> DomainReward:
    """The domain's reward, with an error that lists the known domains."""
    try:
        return rewards[domain]
    except KeyError:
        raise KeyError(f"no reward verifiers configured for domain {domain!r}; known domains: {sorted(rewards)}") from None


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
        for name, result in out.results.items():
            acc = batch.per_verifier.setdefault(name, [0.0, 0.0, 0])
            acc[0] += float(sum(result.scores))
            acc[1] += float(sum(result.parse_failed))
            acc[2] += len(result.scores)
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
        for i, v in zip(idx, values):
            scores[i] = float(v)
    return scores
