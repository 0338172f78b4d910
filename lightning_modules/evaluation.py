"""Per-benchmark scores and the paper's In-Score / Out-Score (../shared/PAPER.md §4).

In-Score and Out-Score are the averages of the in-domain and out-of-domain benchmark scores
weighted by the number of evaluated samples of each benchmark, i.e. the pooled mean over every
sample of the group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor

Role = Literal["in", "out"]


def weighted_scores(
    scores: Mapping[str, float], sizes: Mapping[str, int], roles: Mapping[str, Role]
) -> dict[str, float]:
    """In-Score and Out-Score from per-benchmark scores.

    Args:
        scores: benchmark -> mean score in [0, 1].
        sizes: benchmark -> number of evaluated samples (its weight).
        roles: benchmark -> ``in`` (in-domain) or ``out`` (out-of-domain).

    Returns:
        ``{"in_score": ..., "out_score": ...}`` for the roles that have at least one sample.

    Example:
        >>> weighted_scores({"a": 0.5, "b": 1.0}, {"a": 30, "b": 10}, {"a": "in", "b": "in"})
        {'in_score': 0.625}
    """
    out: dict[str, float] = {}
    for role in ("in", "out"):
        names = [b for b in scores if roles[b] == role and sizes[b] > 0]
        total = sum(sizes[b] for b in names)
        if total:
            out[f"{role}_score"] = sum(scores[b] * sizes[b] for b in names) / total
    return out


class BenchmarkAccumulator:
    """Running sums of per-sample scores for each benchmark of an evaluation epoch.

    Args:
        names: benchmark names in dataloader order.
        roles: their roles (``in`` / ``out``), same order.
    """

    def __init__(self, names: Sequence[str], roles: Sequence[Role]) -> None:
        if len(names) != len(roles):
            raise ValueError("names and roles must have the same length")
        self.names = list(names)
        self.roles = dict(zip(names, roles, strict=False))
        self.sums = torch.zeros(len(names), dtype=torch.float64)
        self.counts = torch.zeros(len(names), dtype=torch.float64)

    def update(self, index: int, scores: Sequence[float]) -> None:
        """Add the scores of one batch of benchmark ``index``."""
        self.sums[index] += float(sum(scores))
        self.counts[index] += len(scores)

    def compute(self, reduce: Callable[[Tensor], Tensor] | None = None) -> dict[str, float]:
        """Scores of every benchmark with at least one sample, plus In-Score / Out-Score.

        Args:
            reduce: sums a tensor over processes (DDP); identity when None.

        Returns:
            ``{"<benchmark>/score": ..., "in_score": ..., "out_score": ...}``.
        """
        sums, counts = self.sums, self.counts
        if reduce is not None:
            sums, counts = reduce(sums.clone()), reduce(counts.clone())
        scores = {n: float(sums[i] / counts[i]) for i, n in enumerate(self.names) if counts[i] > 0}
        sizes = {n: int(counts[i]) for i, n in enumerate(self.names)}
        out = {f"{n}/score": v for n, v in scores.items()}
        out.update(weighted_scores(scores, sizes, self.roles))
        return out
