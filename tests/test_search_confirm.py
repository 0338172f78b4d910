"""The confirm stage: the leading mixtures are replicated, and a lucky single run is not what gets recommended.

Runs are not trained: each planned run's record is written with a score chosen per mixture and seed, the way
a finished job would leave it (see tests/test_search_units.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_search import ROOT, mini_search_config

from predictors.records import RunRecord, write_record
from predictors.search import ConfirmOptions, MixtureSearch
from predictors.search.__main__ import parse_config
from predictors.search.plan import PlannedRun
from predictors.search.replicates import lead, replicate_sd
from predictors.search.summary import group_by_mixture

# Out-Score by mixture and repeat: geometry alone wins its first run by luck and regresses when rerun;
# science alone is the better mixture on average; uniform is the yardstick.
SCORES = {
    "geometry": [0.90, 0.30, 0.30],
    "science": [0.50, 0.60, 0.55],
    "uniform": [0.40, 0.42, 0.38],
}


def _name(weights: dict[str, float]) -> str:
    return "uniform" if weights["geometry"] == weights["science"] else max(weights, key=weights.get)


def finish(runs: list[PlannedRun]) -> None:
    for run in runs:
        score = SCORES[_name(run.weights)][run.repeat]
        record = RunRecord(weights=run.weights, scores={"chart": score}, in_score=score, out_score=score, steps=2,
                           stage="val", run_id=run.run_id, seed=42 + run.repeat,
                           config={"search": {"stage": run.stage, "origin": run.origin}})  # fmt: skip
        write_record(record, run.record_dir)


def _search(tmp_path: Path, top: int) -> MixtureSearch:
    config = mini_search_config(tmp_path, launcher="slurm", rounds=0, confirm=ConfirmOptions(top=top, runs=3))
    return MixtureSearch(config)


def test_confirm_replicates_the_leaders_and_uniform_then_recommends_the_best_mean(tmp_path: Path) -> None:
    search = _search(tmp_path, top=2)
    assert search.planner.stage_names() == ["seeds", "confirm"]
    search.run()
    finish(search.plans.load("seeds"))
    assert _search(tmp_path, top=2).run().script.name == "confirm.sbatch"
    plan = _search(tmp_path, top=2).plans.load("confirm")
    # The two leaders (geometry 0.90, science 0.50) and uniform, each brought to 3 runs with new seeds.
    assert sorted((_name(r.weights), r.repeat) for r in plan) == [
        (name, k) for name in ("geometry", "science", "uniform") for k in (1, 2)
    ]
    finish(plan)
    done = _search(tmp_path, top=2).run()
    report = done.report.read_text()
    summary = _search(tmp_path, top=2).summarize()
    assert _name(summary.best.weights) == "science" and summary.best.runs == 3 and summary.min_runs == 3
    assert "best mean out_score of the mixtures with 3+ runs" in report and "science: 1.0000" in report
    # Geometry's spread inflates the pooled sd, so science's lead of 0.15 over uniform is within the noise.
    assert "+0.1500 (+0.7 replicate sd, +0.9 standard errors; 3 vs 3 runs, sd 0.2024; within seed noise)" in report


def test_without_confirm_the_lucky_single_run_is_recommended(tmp_path: Path) -> None:
    search = _search(tmp_path, top=0)
    assert search.planner.stage_names() == ["seeds"]
    search.run()
    finish(search.plans.load("seeds"))
    _search(tmp_path, top=0).run()
    summary = _search(tmp_path, top=0).summarize()
    assert _name(summary.best.weights) == "geometry" and summary.min_runs == 1


def test_confirm_plans_only_the_runs_a_mixture_lacks(tmp_path: Path) -> None:
    config = mini_search_config(tmp_path, launcher="slurm", rounds=0, repeats=2, confirm=ConfirmOptions(top=1, runs=3))
    MixtureSearch(config).run()
    finish(MixtureSearch(config).plans.load("seeds"))
    MixtureSearch(config).run()
    plan = MixtureSearch(config).plans.load("confirm")
    # After two seeds geometry leads (mean 0.60); it and uniform need one run each.
    assert sorted((_name(r.weights), r.repeat) for r in plan) == [("geometry", 2), ("uniform", 2)]


def test_replicate_sd_pools_within_mixtures_and_lead_counts_both_sides() -> None:
    records = [
        RunRecord(weights={"a": w, "b": 1 - w}, out_score=s, run_id=f"r{i}")
        for i, (w, s) in enumerate([(1.0, 0.5), (1.0, 0.7), (0.0, 0.2), (0.0, 0.4), (0.0, 0.3), (0.5, 0.9)])
    ]
    results = group_by_mixture(records, ["a", "b"], "out_score")
    sd, dof = replicate_sd(results, "out_score")
    # Squares 0.02 (a alone) + 0.02 (b alone) over 1 + 2 degrees of freedom; the single run adds nothing.
    assert dof == 3 and sd == pytest.approx((0.04 / 3) ** 0.5)
    a_alone, b_alone = (next(m for m in results if m.weights["a"] == w) for w in (1.0, 0.0))
    gap = lead(a_alone, b_alone, "out_score", sd)
    assert gap.diff == pytest.approx(0.3) and gap.in_sd == pytest.approx(0.3 / sd)
    assert gap.in_se == pytest.approx(0.3 / (sd * (1 / 2 + 1 / 3) ** 0.5))
    assert replicate_sd(results[:1], "out_score") is None  # the single run only


@pytest.mark.parametrize("options, message", [({"top": -1}, "confirm.top"), ({"top": 2, "runs": 1}, "confirm.runs")])
def test_bad_confirm_options_are_named(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mini_search_config(tmp_path, confirm=ConfirmOptions(**options))


def test_the_shipped_search_confirms_before_it_recommends() -> None:
    config = parse_config(["--config", str(ROOT / "configs" / "search.yaml")])
    assert config.confirm.top >= 2 and config.confirm.runs >= 3
    assert MixtureSearch(config).planner.stage_names()[-1] == "confirm"
    # --stop_after seeds (the predictor's records) stops before it.
    stopped = MixtureSearch(parse_config(["--config", str(ROOT / "configs" / "search.yaml"), "--stop_after", "seeds"]))
    assert stopped.planner.stage_names() == ["seeds"] and stopped.planner.min_runs() == 1
