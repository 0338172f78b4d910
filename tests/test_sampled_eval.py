"""benchmarks/sampled_eval.py: a search's exported policies re-evaluated with sampling, as run records."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from sampled_eval import average, find_policy, main  # noqa: E402

from predictors.records import RunRecord, read_records, write_record  # noqa: E402

WEIGHTS = {"objects": 0.5, "referring": 0.5, "geometry": 0.0, "spatial": 0.0, "science": 0.0}


def _search_dir(tmp_path: Path, with_policy: bool = True) -> Path:
    """A search directory with one finished run whose exported policy is the shipped base."""
    search = tmp_path / "search"
    write_record(RunRecord(weights=WEIGHTS, scores={"chart": 0.5}, in_score=0.5, out_score=0.5, steps=300, seed=43,
                           stage="val", run_id="m-1-r0"), search / "records")
    if with_policy:
        shutil.copytree(ROOT / "assets" / "tiny-base", search / "logs" / "m-1-r0" / "version_0" / "policy")
    # The main job's config with 8 questions per benchmark, so that each evaluation takes seconds.
    config = re.sub(r"eval_size: \d+", "eval_size: 8", (ROOT / "configs" / "mix.yaml").read_text())
    (tmp_path / "mix.yaml").write_text(config)
    (search / "search_config.json").write_text(json.dumps({"base_config": str(tmp_path / "mix.yaml")}))
    return search


def test_the_latest_exported_policy_of_a_run_is_found(tmp_path: Path) -> None:
    for version in (0, 2, 10):
        policy = tmp_path / "logs" / "r" / f"version_{version}" / "policy"
        policy.mkdir(parents=True)
        (policy / "config.json").write_text("{}")
    (tmp_path / "logs" / "r" / "version_11").mkdir()  # a run killed before its export
    assert find_policy(tmp_path, "r") == tmp_path / "logs" / "r" / "version_10" / "policy"
    assert find_policy(tmp_path, "other") is None


def test_the_average_keeps_the_runs_mixture_and_seed_and_means_every_shared_benchmark() -> None:
    run = RunRecord(weights=WEIGHTS, scores={"chart": 0.9}, in_score=0.9, out_score=0.9, steps=300, seed=44,
                    stage="val", run_id="m-2-r1", config={"search": {"stage": "seeds"}})
    evals = [RunRecord(weights={"a": 1.0}, scores={"chart": c, "spatial": s}, in_score=s, out_score=c, stage="val")
             for c, s in ((0.2, 0.5), (0.4, 0.7))]
    evals[1].scores["extra"] = 1.0  # a benchmark one evaluation lacks is left out, not averaged over one
    avg = average(run, evals, temperature=1.0)
    assert avg.weights == WEIGHTS and avg.seed == 44 and avg.steps == 300 and avg.run_id == "m-2-r1"
    assert avg.scores == pytest.approx({"chart": 0.3, "spatial": 0.6})
    assert avg.out_score == pytest.approx(0.3) and avg.in_score == pytest.approx(0.6)
    assert avg.config["search"] == {"stage": "seeds"} and avg.config["sampled_eval"]["samples"] == 2


def test_the_command_writes_one_sampled_record_per_run_and_resumes(tmp_path: Path, capsys) -> None:
    search = _search_dir(tmp_path)
    main([str(search), "--samples", "2", "--base"])
    evals = [read_records(search / "sampled" / "evals" / "m-1-r0" / f"s{s}").records[0] for s in (0, 1)]
    (record,) = read_records(search / "sampled" / "records").records
    assert record.weights == WEIGHTS and record.seed == 43
    assert record.out_score == pytest.approx((evals[0].out_score + evals[1].out_score) / 2)
    assert set(record.scores) >= {"chart", "counting", "position", "objects", "science"}
    out = capsys.readouterr().out
    assert "4 evaluation(s) to run" in out and "base model, sampled: In-Score" in out  # the run's 2 and the base's 2
    (base,) = read_records(search / "sampled" / "base").records
    assert base.steps == 0 and set(base.scores) == set(record.scores)
    main([str(search), "--samples", "2"])  # finished evaluations are kept
    assert "0 evaluation(s) to run" in capsys.readouterr().out
    main([str(search), "--samples", "1", "--out", "other"])  # another name: evaluated afresh, written apart
    assert "1 evaluation(s) to run" in capsys.readouterr().out
    assert len(read_records(search / "other" / "records").records) == 1
    assert read_records(search / "sampled" / "records").records[0].out_score == record.out_score


@pytest.mark.parametrize("out", ["records", "../elsewhere"])
def test_an_output_name_that_would_mix_with_the_search_is_refused(tmp_path: Path, out: str) -> None:
    with pytest.raises(SystemExit):
        main([str(_search_dir(tmp_path)), "--out", out])


def test_a_search_without_exported_policies_is_refused_with_how_to_keep_them(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="ExportPolicy kept"):
        main([str(_search_dir(tmp_path, with_policy=False))])
