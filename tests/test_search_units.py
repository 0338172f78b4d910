"""The mixture search without training: Slurm hand-off and continuation, bad input, the executor, the CLI.

Runs here are not trained: records are written the way finished jobs would leave them (with a
known score surface), which exercises planning, resuming, the GP rounds and the report in seconds.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from test_search import ROOT, mini_search_config
from torch.utils.data import DataLoader, TensorDataset

from callbacks.base_score import BaseScoreRecorder
from predictors.records import RunRecord, read_records, write_record
from predictors.search import MixtureSearch, SearchError, SimplexError, StrategySpec, make_run_id
from predictors.search.__main__ import parse_config
from predictors.search.execute import execute_run, read_run_record
from predictors.search.plan import PlannedRun, round_mixture


def fake_score(w: dict[str, float]) -> float:
    return 0.2 + 0.3 * w["science"] - 0.2 * w["science"] ** 2  # best at science = 0.75


def finish(runs: list[PlannedRun]) -> None:
    """Writes the records the scheduled jobs would have written."""
    for run in runs:
        score = 0.1 if run.kind == "validate" else fake_score(run.weights)
        weights = run.weights or {"geometry": 0.5, "science": 0.5}
        search = {"stage": run.stage, "origin": run.origin}
        record = RunRecord(weights=weights, scores={"chart": score}, in_score=score + 0.1, out_score=score, steps=2,
                           stage="val", run_id=run.run_id, config={"search": search})  # fmt: skip
        write_record(record, run.record_dir)


def test_slurm_writes_a_job_array_then_continues_from_records(tmp_path: Path) -> None:
    config = mini_search_config(tmp_path, launcher="slurm", base_eval=True, max_parallel=3, run_timeout_s=600)
    first = MixtureSearch(config).run()
    assert first.status == "waiting" and first.script == tmp_path / "search" / "slurm" / "seeds.sbatch"
    script = first.script.read_text()
    assert "#SBATCH --array=0-3%3" in script and "#SBATCH --time=04:00:00" in script
    lines = [line for line in script.splitlines() if line.lstrip()[:2] in {"0)", "1)", "2)", "3)"}]
    assert len(lines) == 4 and all("predictors.search.execute" in line and "--timeout_s 600" in line for line in lines)
    assert sorted(first.launched) == sorted(line.split("--run_id ")[1].split()[0] for line in lines)

    seeds = MixtureSearch(config).plans.load("seeds")
    assert "validate" in seeds[0].command and all("fit" in r.command for r in seeds[1:])
    again = MixtureSearch(config).run()  # nothing finished yet: the same runs, handed off again
    assert again.status == "waiting" and sorted(again.launched) == sorted(first.launched)

    finish(seeds)
    second = MixtureSearch(config).run()
    assert second.status == "waiting" and second.script.name == "round_1.sbatch" and len(second.launched) == 1
    finish(MixtureSearch(config).plans.load("round_1"))
    done = MixtureSearch(config).run()
    assert done.status == "done" and done.launched == []
    report = done.report.read_text()
    assert "| base model | 0.2000 | 0.1000 |" in report and "P(recommended > uniform)" in report


def test_stop_after_seeds_reports_on_the_seed_runs_and_plans_nothing_more(tmp_path: Path) -> None:
    config = mini_search_config(tmp_path, launcher="slurm", stop_after="seeds", rounds=2)
    assert MixtureSearch(config).planner.stage_names() == ["seeds"]
    assert MixtureSearch(config).run().status == "waiting"
    finish(MixtureSearch(config).plans.load("seeds"))
    done = MixtureSearch(config).run()
    assert done.status == "done" and done.launched == []
    assert sorted(p.stem for p in (tmp_path / "search" / "plan").glob("*.json")) == ["seeds"]
    assert "Recommended mixture" in done.report.read_text()
    # Rerun without it: the search continues with its rounds from the same records.
    assert MixtureSearch(mini_search_config(tmp_path, launcher="slurm", rounds=2)).run().script.name == "round_1.sbatch"


def test_record_directory_of_another_domain_set_is_refused(tmp_path: Path) -> None:
    config = mini_search_config(tmp_path)
    write_record(
        RunRecord(weights={"coco": 0.5, "sat": 0.5}, out_score=0.3, run_id="other"), Path(config.search_dir) / "records"
    )
    with pytest.raises(SearchError, match=r"\['coco', 'sat'\].*\['geometry', 'science'\]"):
        MixtureSearch(config).run()


@pytest.mark.parametrize(
    "mixture, message",
    [
        ({"geometry": 0.7, "science": 0.5}, "sum to 1.2"),  # off the simplex's plane
        ({"geometry": 1.2, "science": -0.2}, "negative"),  # on the plane, outside the simplex
        ({"geometry": 1.0}, "missing"),  # a domain left out
        ({"geometry": 0.5, "science": 0.5, "coco": 0.0}, "unknown"),  # a domain the search does not have
    ],
)
def test_mixtures_outside_the_simplex_are_refused(tmp_path: Path, mixture: dict[str, float], message: str) -> None:
    with pytest.raises(SimplexError, match=message):
        MixtureSearch(mini_search_config(tmp_path, extra_mixtures=[mixture])).planner.plan_stage("seeds")


@pytest.mark.parametrize(
    "heuristic, message",
    [
        ({"name": "alpha_credt"}, "unknown strategy 'alpha_credt'; valid names: .*alpha_credit"),  # a misspelt name
        ({"name": "alpha_credit", "options": {"alpah": 0.5}}, "unknown option.*'alpah'"),  # a misspelt option
        ({"name": "model_argmax"}, "needs a surrogate"),  # not a heuristic: it needs the GP
    ],
)
def test_bad_heuristics_stop_the_search_before_any_run(tmp_path: Path, heuristic: dict, message: str) -> None:
    config = mini_search_config(tmp_path, heuristics=[StrategySpec(**heuristic)])
    with pytest.raises(SearchError, match=message):
        MixtureSearch(config)


def test_proposals_outside_the_simplex_are_refused(tmp_path: Path) -> None:
    search = MixtureSearch(mini_search_config(tmp_path))
    with pytest.raises(SimplexError, match="proposed by bad_strategy.*outside the simplex"):
        search.planner.proposals_to_runs(torch.tensor([[1.3, -0.3]]), "round_1", "bad_strategy", set())


def test_run_ids_are_stable_and_repeated_proposals_get_a_new_repeat(tmp_path: Path) -> None:
    domains = ["geometry", "science"]
    w = round_mixture({"geometry": 1 / 3, "science": 2 / 3}, domains, 4)
    assert w == {"geometry": 0.3333, "science": 0.6667}
    assert make_run_id(w, domains, 0, 4) == make_run_id(dict(reversed(list(w.items()))), domains, 0, 4)
    assert make_run_id(w, domains, 0, 4) != make_run_id(w, domains, 1, 4)
    search = MixtureSearch(mini_search_config(tmp_path))
    taken: set[str] = set()
    rows = torch.tensor([[0.33333, 0.66667], [1 / 3, 2 / 3]])
    a, b = search.planner.proposals_to_runs(rows, "round_1", "test", taken)
    assert (a.repeat, b.repeat) == (0, 1) and a.weights == b.weights


def test_timeout_and_crash_become_failed_records(tmp_path: Path) -> None:
    def planned(name: str, code: str) -> PlannedRun:
        return PlannedRun(name, {"a": 0.5, "b": 0.5}, 0, "seeds", "test", command=[sys.executable, "-c", code],
                          record_dir=str(tmp_path / "records"), log_path=str(tmp_path / f"{name}.log"))  # fmt: skip

    slow = execute_run(planned("slow", "import time; print('started', flush=True); time.sleep(60)"), timeout_s=1.0)
    assert slow.status == "failed" and slow.error.startswith("timed out after 1 s") and "started" in slow.error
    crash = execute_run(planned("crash", "import sys; sys.exit('CUDA out of memory (pretend)')"))
    assert crash.status == "failed" and "exited with code 1" in crash.error and "out of memory (pretend)" in crash.error
    silent = execute_run(planned("silent", "pass"))
    assert silent.status == "failed" and "without an ok record" in silent.error
    assert {r.run_id for r in read_records(tmp_path / "records", warn=False).records} == {"slow", "crash", "silent"}
    assert read_run_record(planned("slow", "")).status == "failed"


class _Scored(LightningModule):
    """Logs fixed evaluation scores, as the VLM tasks do."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def validation_step(self, batch: list, batch_idx: int) -> None:
        self.log_dict({"val/geometry/score": 0.25, "val/chart/score": 0.5, "val/in_score": 0.25, "val/out_score": 0.5})


class _Data(LightningDataModule):
    weights = {"geometry": 0.5, "science": 0.5}

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.zeros(2, 1)), batch_size=2)


def test_base_score_recorder_records_a_validate_run_only(tmp_path: Path) -> None:
    trainer = Trainer(
        callbacks=[BaseScoreRecorder(str(tmp_path))],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(_Scored(), datamodule=_Data())
    (record,) = read_records(tmp_path, warn=False).records
    assert record.run_id == "base" and record.steps == 0 and record.stage == "val"
    assert math.isclose(record.out_score, 0.5) and record.scores == {"geometry": 0.25, "chart": 0.5}


def test_search_yaml_parses_and_names_the_default_domains() -> None:
    config = parse_config(
        ["--config", str(ROOT / "configs" / "search.yaml"), "--base_config", str(ROOT / "configs" / "mix.yaml")]
    )
    assert config.rounds >= 1 and config.proposal.q >= 1 and config.heuristics
    search = MixtureSearch(config)
    assert search.domains == ["objects", "referring", "geometry", "spatial", "science"]
    assert len([r for r in search.planner.plan_stage("seeds") if r.kind == "fit"]) == 2 * 5 + 1
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        parse_config(["--config", str(ROOT / "configs" / "search.yaml"), "--rounds", "-1"])
    # 3 decimals would store the uniform seed of 3 domains as 0.334 / 0.333 / 0.333, too far from 1/3 to be found.
    with pytest.raises(ValueError, match=r"decimals must be in \[4, 8\]"):
        parse_config(["--config", str(ROOT / "configs" / "search.yaml"), "--decimals", "3"])
