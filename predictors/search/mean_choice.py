"""Which GP mean a search round uses: the one whose forecasts of the earlier rounds' runs held up best.

:class:`predictors.selection.PrequentialMeanSelector` keeps its scores in memory, round after round. A
search must resume from its directory after any interruption, so here the same scores are recomputed from
the records each time a round is planned: for every earlier round ``k``, each candidate mean is fitted on
the runs of the stages before ``k`` (what the search knew when it planned ``k``) and scored by the squared
error of its forecast of round ``k``'s outcomes. The candidate with the smallest sum wins; before any round
has finished, the first candidate does. ``benchmarks/simulated_search.py`` measures the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from predictors.gp import GPSurrogate, MeanName
from predictors.records import RunRecord
from predictors.selection import forecast_error, least_error
from predictors.table import RunTable

# (stage name, run ids planned in it), in the order the stages ran.
StageRuns = Sequence[tuple[str, set[str]]]


@dataclass(frozen=True)
class MeanChoice:
    """The chosen mean and the evidence for it.

    Attributes:
        mean: the candidate with the smallest cumulative forecast error (the first one on ties).
        errors: candidate -> sum of squared forecast errors over the scored runs.
        scored: number of mixtures forecast (0: nothing to go on yet, the first candidate was taken).
    """

    mean: MeanName
    errors: dict[str, float]
    scored: int


def choose_mean(
    means: Sequence[MeanName],
    stages: StageRuns,
    records: Sequence[RunRecord],
    make_table: Callable[[Sequence[RunRecord]], RunTable | None],
    fit: Callable[[RunTable, MeanName], GPSurrogate],
) -> MeanChoice:
    """Replays the earlier rounds' forecasts and returns the best-forecasting mean.

    Args:
        means: candidate means, the preferred one first.
        stages: every stage planned before the round being planned, in order, with its run ids; stages named
            ``round_<k>`` are forecast from the stages before them.
        records: the search's run records.
        make_table: records -> the table the GP is fitted on (None when they hold no usable run).
        fit: (table, mean) -> the fitted surrogate, as the search fits it.

    Returns:
        The :class:`MeanChoice`.
    """
    errors = dict.fromkeys(means, 0.0)
    scored = 0
    if len(means) > 1:
        for k, (name, run_ids) in enumerate(stages):
            if not name.startswith("round_"):
                continue
            known = set().union(*(ids for _, ids in stages[:k]))
            before = make_table([r for r in records if r.run_id in known])
            after = make_table([r for r in records if r.run_id in run_ids])
            if before is None or after is None or before.n < 2:
                continue
            for mean in means:
                errors[mean] += forecast_error(fit(before, mean), after.weights, after.y[:, 0])
            scored += after.n
    return MeanChoice(mean=least_error(means, errors), errors=errors, scored=scored)
