"""Prequential choice of the GP's mean function during a sequential search.

Leave-one-out cannot validate a mean with ``2d + 2`` fitted parameters on ``2d + 1`` seed
runs: refitting it without one of the few runs that see a peak's flank leaves it
undetermined, so an honest LOO rejects it even where it is right (and the in-sample LOO,
which holds the mean fixed, accepts it everywhere). A sequential search offers a better
test: every proposal is a forecast made before the run. :class:`PrequentialMeanSelector`
fits one GP per candidate mean at each round, scores every candidate's forecast of the runs
that arrived since its last fit and hands out the candidate with the smallest cumulative
squared forecast error (Dawid's prequential principle). Squared error, not log density:
a mean that nearly interpolates the seeds learns a far too small noise, and a density
score would then punish a near miss of its sharp forecast harder than a vague wrong one. Before any forecast has been scored the first
candidate wins, so listing ``peak`` first means "probe the extrapolated peak once, keep it
only if the run lands where it said".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from predictors.gp import GPSurrogate, MeanName


def forecast_error(surrogate: GPSurrogate, x: Tensor, y: Tensor) -> float:
    """Sum of squared errors of the posterior-mean forecast of observations ``y`` at ``m x d`` mixtures ``x``."""
    mean, _ = surrogate.predict(x)
    return float(((y - mean) ** 2).sum())


def least_error(means: Sequence[str], errors: dict[str, float]) -> str:
    """The candidate with the smallest error; on ties the one listed first (the preferred one)."""
    return min(means, key=lambda m: (errors[m], list(means).index(m)))


class PrequentialMeanSelector:
    """Fits a GP per candidate mean and keeps the one whose forecasts held up best.

    Call :meth:`fit` once per round with all runs so far, new runs appended at the end.

    Args:
        means: candidate means, the preferred one first (it wins while nothing is scored).
        **fit_options: passed to :meth:`predictors.gp.GPSurrogate.fit` (kernel, priors, ...).
    """

    def __init__(self, means: Sequence[MeanName] = ("constant", "peak"), **fit_options: Any) -> None:
        if not means:
            raise ValueError("PrequentialMeanSelector needs at least one candidate mean")
        if "mean" in fit_options:
            raise ValueError("pass the candidate means as `means`, not `mean`")
        self.means = list(means)
        self.fit_options = fit_options
        self.scores = dict.fromkeys(self.means, 0.0)
        self.scored = 0
        self.fits: dict[str, GPSurrogate] = {}
        self._n = 0

    def fit(self, x: Tensor, y: Tensor, noise: Tensor | None = None) -> GPSurrogate:
        """Scores the last fits on the runs added since, refits every candidate, returns the leader.

        Args:
            x: ``n x d`` all mixtures so far (earlier calls' rows first, in the same order).
            y: ``n`` targets.
            noise: ``n`` target variances or None.

        Raises:
            ValueError: fewer rows than at the previous call.
        """
        x = torch.as_tensor(x, dtype=torch.float64)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if x.shape[0] < self._n:
            raise ValueError(f"runs must only be appended: had {self._n}, now {x.shape[0]}")
        if self.fits and x.shape[0] > self._n:
            new_x, new_y = x[self._n :], y[self._n :]
            for m, surrogate in self.fits.items():
                self.scores[m] += forecast_error(surrogate, new_x, new_y)
            self.scored += x.shape[0] - self._n
        self.fits = {m: GPSurrogate.fit(x, y, noise, mean=m, **self.fit_options) for m in self.means}
        self._n = x.shape[0]
        return self.fits[self.leader]

    @property
    def leader(self) -> str:
        """The candidate with the smallest cumulative forecast error (the first one on ties)."""
        return least_error(self.means, self.scores)
