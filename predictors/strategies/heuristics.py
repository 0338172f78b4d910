"""The paper's heuristic mixtures, computed from scored runs.

Each heuristic returns one mixture. Scores are "higher is better" (In-Score / Out-Score).

- :class:`AlphaCredit`: a domain's credit is the mean of ``alpha * In-Score + (1 - alpha) *
  Out-Score`` over the runs that included it (weight > 0); weights are proportional to the
  credit. ``alpha = 1`` trusts in-domain results, ``alpha = 0`` out-of-domain ones, 0.5 both.
- :class:`InclusionRidge`: ridge regression of the score on domain-inclusion indicators
  ``z_i = 1[w_i > 0]`` with an intercept. The seed design makes the indicators collinear
  (every exclude-one run includes ``d - 1`` domains, so the indicators sum to a constant on
  those rows); the ridge penalty is the collinearity correction that makes the coefficients
  unique. Weights are proportional to the positive coefficients.
- :class:`ExcludeOneDrop`: from the uniform run and the ``d`` exclude-one runs, the drop
  ``S_uniform - S_without_i`` measures how much removing domain ``i`` hurts; weights are
  proportional to the positive drops.

Whenever no credit is positive the mixture is uniform (there is no evidence to prefer a domain).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from predictors.run_table import RunTable
from predictors.strategies.base import ProposalStrategy, Surrogate, normalise_credit
from predictors.strategies.registry import register_strategy

ScoreName = Literal["out_score", "in_score", "target"]
_TOL = 1e-6


def _score(table: RunTable, which: ScoreName) -> Tensor:
    if which == "target":
        return table.y[:, 0]
    return table.out_score if which == "out_score" else table.in_score


@register_strategy("alpha_credit")
class AlphaCredit(ProposalStrategy):
    """Per-domain credit from the runs that included the domain (see module docstring).

    Args:
        alpha: weight of the In-Score against the Out-Score, in ``[0, 1]``.
    """

    def __init__(self, alpha: float = 0.5) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """One mixture, ``1 x d``.

        Raises:
            ValueError: a needed In-/Out-Score is NaN, or a domain appears in no run.
        """
        parts = []
        if self.alpha > 0:
            parts.append(self.alpha * table.in_score)
        if self.alpha < 1:
            parts.append((1 - self.alpha) * table.out_score)
        combined = torch.stack(parts).sum(0)
        if torch.isnan(combined).any():
            raise ValueError(f"alpha={self.alpha} needs In-Score and/or Out-Score for every run; some are missing")
        included = table.weights > _TOL  # n x d
        missing = [table.domains[i] for i in range(table.d) if not included[:, i].any()]
        if missing:
            raise ValueError(f"no run includes domain(s) {missing}; cannot credit them")
        credit = (included * combined.unsqueeze(-1)).sum(0) / included.sum(0)
        return normalise_credit(credit).unsqueeze(0)


@register_strategy("inclusion_ridge")
class InclusionRidge(ProposalStrategy):
    """Ridge regression of the score on inclusion indicators (see module docstring).

    Args:
        ridge: penalty on the indicator coefficients (not on the intercept), > 0.
        score: which score to regress: ``out_score``, ``in_score`` or the table's first ``target``.
    """

    def __init__(self, ridge: float = 1e-2, score: ScoreName = "out_score") -> None:
        if ridge <= 0:
            raise ValueError(f"ridge must be > 0 to resolve the collinearity, got {ridge}")
        self.ridge, self.score = ridge, score

    def coefficients(self, table: RunTable) -> Tensor:
        """The ``d`` indicator coefficients."""
        y = _score(table, self.score)
        keep = ~torch.isnan(y)
        if int(keep.sum()) < 2:
            raise ValueError(f"inclusion ridge needs at least 2 runs with a finite {self.score}")
        z = (table.weights[keep] > _TOL).double()
        y = y[keep]
        # Centring removes the unpenalised intercept exactly.
        zc, yc = z - z.mean(0), y - y.mean()
        gram = zc.T @ zc + self.ridge * torch.eye(table.d, dtype=torch.float64)
        return torch.linalg.solve(gram, zc.T @ yc)

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """One mixture, ``1 x d``."""
        return normalise_credit(self.coefficients(table)).unsqueeze(0)


@register_strategy("exclude_one")
class ExcludeOneDrop(ProposalStrategy):
    """The more removing a domain hurts, the larger its weight (see module docstring).

    Args:
        score: which score to compare: ``out_score``, ``in_score`` or the first ``target``.
    """

    def __init__(self, score: ScoreName = "out_score") -> None:
        self.score = score

    def drops(self, table: RunTable) -> Tensor:
        """``d`` drops ``S_uniform - S_without_i``.

        Raises:
            ValueError: the uniform run or an exclude-one run is missing (named).
        """
        d, w, y = table.d, table.weights, _score(table, self.score)
        uniform = torch.full((d,), 1.0 / d, dtype=torch.float64)
        hits = ((w - uniform).abs().max(-1).values < 1e-4).nonzero().flatten()
        if hits.numel() == 0 or torch.isnan(y[hits[0]]):
            raise ValueError(f"the exclude-one rule needs a scored uniform run; none found ({self.score})")
        s_uniform = y[hits[0]]
        drops = torch.empty(d, dtype=torch.float64)
        for i in range(d):
            target = torch.full((d,), 1.0 / (d - 1), dtype=torch.float64)
            target[i] = 0.0
            row = ((w - target).abs().max(-1).values < 1e-4).nonzero().flatten()
            if row.numel() == 0 or torch.isnan(y[row[0]]):
                raise ValueError(f"the exclude-one rule needs the scored run without domain {table.domains[i]!r}")
            drops[i] = s_uniform - y[row[0]]
        return drops

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """One mixture, ``1 x d``."""
        return normalise_credit(self.drops(table)).unsqueeze(0)
