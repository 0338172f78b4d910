"""Seed noise in a search's results: the pooled replicate sd, one mixture's lead over another in sds and
standard errors, and the recommendation among mixtures replicated enough to trust.

A single run's score is partly its seed's luck, so the best of many single runs regresses when rerun;
these are what the confirm stage and the report use to say how far a lead is above that noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from predictors.run_table import table_from_records
from predictors.search.summary import MixtureResult


def recommend(results: Sequence[MixtureResult], min_runs: int = 1) -> MixtureResult:
    """The best mean target among the mixtures with at least ``min_runs`` runs (among all, if none has).

    Restricting the choice to replicated mixtures keeps a lucky single run from being recommended over
    means that have been checked on other seeds.

    Args:
        results: mixtures, best mean target first (as :func:`group_by_mixture` returns them).
        min_runs: runs a mixture needs to be eligible.
    """
    eligible = [m for m in results if m.runs >= min_runs]
    return (eligible or list(results))[0]


def replicate_sd(results: Sequence[MixtureResult], score: str) -> tuple[float, int] | None:
    """The run-to-run sd of ``score``, pooled within the mixtures that have 2 or more runs.

    It is the noise the GP is given (:meth:`predictors.run_table.RunTable.replicate_sd`), which assumes
    one noise level for every mixture.

    Args:
        results: the mixtures (with their member records).
        score: ``in_score``, ``out_score`` or a benchmark name.

    Returns:
        ``(sd, degrees of freedom)``, or None when no mixture has two runs with that score.
    """
    members = [r for m in results for r in m.members]
    if not members:
        return None
    table = table_from_records(members, [score], list(results[0].weights))
    sd = table.replicate_sd()
    return None if sd is None else (float(sd[0]), table.noise_dof)


@dataclass(frozen=True)
class Lead:
    """One mixture's mean score minus another's, against the run-to-run noise.

    Attributes:
        diff: the difference of the two means.
        sd: the replicate sd it is measured against.
        runs: runs behind each mean (first, second).
    """

    diff: float
    sd: float
    runs: tuple[int, int]

    @property
    def in_sd(self) -> float:
        """The difference in replicate sds (how far apart the mixtures are, against one run's noise)."""
        return self.diff / self.sd

    @property
    def in_se(self) -> float:
        """The difference in standard errors of a difference of two means (how sure it is)."""
        return self.diff / (self.sd * math.sqrt(1 / self.runs[0] + 1 / self.runs[1]))


def lead(first: MixtureResult, second: MixtureResult, score: str, sd: float) -> Lead:
    """``first``'s mean ``score`` (``target``, ``in_score`` or ``out_score``) minus ``second``'s, against ``sd``."""
    return Lead(getattr(first, score) - getattr(second, score), sd, (first.runs, second.runs))
