"""The search's choice of GP mean: replayed from the records, so it is the same whether or not the search resumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_search import mini_search_config
from test_search_units import finish

from predictors.gp import GPOptions, GPSurrogate
from predictors.mean_selection import forecast_error
from predictors.run_table import table_from_records
from predictors.search import MixtureSearch


def _config(tmp_path: Path, means: list[str]):  # noqa: ANN202
    return mini_search_config(
        tmp_path, launcher="slurm", rounds=2, gp=GPOptions(priors=[0.3], warps=["none"], means=means, linear=False)
    )


def test_rounds_use_the_mean_that_forecast_the_earlier_round_best(tmp_path: Path) -> None:
    config = _config(tmp_path, ["linear", "constant"])
    assert MixtureSearch(config).run().status == "waiting"
    seeds = MixtureSearch(config).plans.load("seeds")
    finish(seeds)
    MixtureSearch(config).run()
    round_1 = MixtureSearch(config).plans.load("round_1")
    # Nothing forecast yet: the first candidate plans round 1, and says so in the runs' origin.
    assert {r.origin for r in round_1} == {"bayes_opt (mean linear)"}
    finish(round_1)
    MixtureSearch(config).run()

    search = MixtureSearch(config)  # a fresh driver: everything below comes from the directory
    choice = search.fit_surrogate(search.table()).mean_choice  # the records are those round 2 was planned from
    # The same forecast errors by hand: each mean fitted on the seed runs, scored on round 1's outcomes.
    seed_ids, round_ids = {r.run_id for r in seeds}, {r.run_id for r in round_1}
    records = search.records()
    before = table_from_records([r for r in records if r.run_id in seed_ids], [config.target], search.domains)
    after = table_from_records([r for r in records if r.run_id in round_ids], [config.target], search.domains)

    def fit(mean: str) -> GPSurrogate:
        return GPSurrogate.fit(before.weights, before.y[:, 0], options=config.gp, mean=mean)

    by_hand = {m: forecast_error(fit(m), after.weights, after.y[:, 0]) for m in ("linear", "constant")}
    assert choice.scored == after.n == 1
    assert choice.errors == pytest.approx(by_hand, rel=1e-4)  # GP fits agree to optimiser tolerance
    assert choice.mean == min(by_hand, key=by_hand.get), by_hand
    assert {r.origin for r in search.plans.load("round_2")} == {f"bayes_opt (mean {choice.mean})"}

    finish(search.plans.load("round_2"))
    report = MixtureSearch(config).run().report.read_text()
    assert "(of linear, constant: squared forecast error" in report and "over 2 forecast mixtures" in report


def test_a_single_mean_keeps_the_plain_origin(tmp_path: Path) -> None:
    config = _config(tmp_path, ["constant"])
    MixtureSearch(config).run()
    finish(MixtureSearch(config).plans.load("seeds"))
    MixtureSearch(config).run()
    assert {r.origin for r in MixtureSearch(config).plans.load("round_1")} == {"bayes_opt"}
    search = MixtureSearch(config)
    assert search.fit_surrogate(search.table()).mean_choice.scored == 0


@pytest.mark.parametrize("means", [[], ["peak", "peak"], ["quadratic"]])
def test_bad_candidate_means_are_named(means: list[str]) -> None:
    with pytest.raises(ValueError, match="gp.means"):
        GPOptions(means=means)
