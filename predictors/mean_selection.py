"""Which GP mean to use: the candidate whose forecasts of later runs held up best.

Leave-one-out cannot validate a mean with ``2d + 2`` fitted parameters on ``2d + 1`` seed runs:
refitting it without one of the few runs that see a peak's flank leaves it undetermined, so an honest
LOO rejects it even where it is right (and the closed-form LOO, which holds the mean fixed, accepts it
everywhere). Runs that arrive in stages offer a better test: every stage after the first is a forecast
made before it ran. For each such stage, every candidate is fitted on the runs of the stages before it
and scored by the squared error of its forecast of that stage's outcomes; the candidate with the
smallest sum wins (Dawid's prequential principle). Before anything has been forecast, and on ties, the
candidate listed first wins, so ``[constant, peak]`` means "keep the plain GP until the peak forecasts
better".

Squared error, not log density: a mean that nearly interpolates the seeds learns a far too small noise,
and a density score would then punish a near miss of its sharp forecast harder than a vague wrong one.

The stages come from the runs' records (``RunTable.runs``, :func:`predictors.run_table.stage_index`),
so a mixture search resumed from its directory chooses as an uninterrupted one would, and
``GPPredictor`` chooses from the same records as the search does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from predictors.run_table import RunTable

if TYPE_CHECKING:
    from predictors.strategies.base import Surrogate


@dataclass(frozen=True)
class MeanChoice:
    """The chosen mean and the evidence for it.

    Attributes:
        mean: the candidate with the smallest summed forecast error (the first one on ties).
        errors: candidate -> sum of squared forecast errors over the forecast mixtures.
        scored: number of mixtures forecast (0: nothing to go on yet, the first candidate was taken).
    """

    mean: str
    errors: dict[str, float]
    scored: int


def forecast_error(surrogate: Surrogate, x: Tensor, y: Tensor) -> float:
    """Sum of squared errors of the posterior-mean forecast of observations ``y`` at ``m x d`` mixtures ``x``."""
    mean, _ = surrogate.predict(x)
    return float(((y - mean) ** 2).sum())


def choose_mean(
    table: RunTable,
    means: Sequence[str],
    fit: Callable[[RunTable, str], Surrogate],
    column: int = 0,
    cache: dict[tuple[int, str, int, int], float] | None = None,
) -> MeanChoice:
    """Scores every candidate mean on each later stage's runs, forecast from the stages before it.

    Args:
        table: the runs so far; ``table.runs`` says which stage each run belongs to (None: no stages,
            nothing to forecast). A mixture run again in a later stage is forecast there too.
        means: candidate means, the preferred one first.
        fit: ``(runs, mean) -> fitted surrogate``, as the caller fits its final model.
        column: the target column forecast.
        cache: forecast errors by ``(stage, mean, runs before, runs in stage)``, kept between calls on a
            table that only grows by new stages (a sequential benchmark); None recomputes everything.

    Returns:
        The :class:`MeanChoice`.

    Raises:
        ValueError: no candidate.
    """
    if not means:
        raise ValueError("choose_mean needs at least one candidate mean")
    errors = dict.fromkeys(means, 0.0)
    scored = 0
    if len(means) > 1:
        for k in table.stages()[1:]:
            before, after = table.stage_split(k)
            if before.n < 2:  # too few runs to fit a GP on
                continue
            for mean in means:
                key = (k, mean, before.n, after.n)
                if cache is not None and key in cache:
                    error = cache[key]
                else:
                    error = forecast_error(fit(before, mean), after.weights, after.y[:, column])
                    if cache is not None:
                        cache[key] = error
                errors[mean] += error
            scored += after.n
    best = min(means, key=lambda m: (errors[m], list(means).index(m)))
    return MeanChoice(mean=best, errors=errors, scored=scored)
