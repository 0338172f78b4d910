"""benchmarks/mixture_spread.py: mixtures grouped, named and compared with the replicate spread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mixture_spread import group, main, summarise  # noqa: E402

from predictors.records import RunRecord, write_record  # noqa: E402
from predictors.search.summary import design_role, mixture_label  # noqa: E402

DOMAINS = ("a", "b", "c")


def _record(weights: dict[str, float], in_score: float, out_score: float, seed: int) -> RunRecord:
    total = sum(weights.values())
    return RunRecord(weights={d: w / total for d, w in weights.items()}, scores={"x": in_score, "y": out_score},
                     in_score=in_score, out_score=out_score, steps=10, seed=seed, stage="val")


def test_mixtures_are_named_by_their_design() -> None:
    assert mixture_label({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == "uniform"
    assert mixture_label({"a": 0, "b": 1, "c": 0}) == "only b"
    assert mixture_label({"a": 0.5, "b": 0, "c": 0.5}) == "without b"
    assert design_role({"a": 0.5, "b": 0.3, "c": 0.2}) == "other"
    assert mixture_label({"c": 0.2, "a": 0.5, "b": 0.3}) == "a 0.50, b 0.30, c 0.20"


def test_spans_are_in_replicate_standard_deviations(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [_record({"a": 1, "b": 1, "c": 1}, 0.50 + d, 0.40 - d, seed) for seed, d in enumerate((-0.01, 0, 0.01))]
    records += [_record({"a": 1, "b": 0, "c": 0}, 0.30, 0.20, 0), _record({"a": 0, "b": 1, "c": 1}, 0.60, 0.50, 0)]
    summary = summarise(group(records), "uniform")
    assert summary["replicates"] == 3
    assert summary["replicate_sd"]["in"] == pytest.approx(0.01)
    assert summary["span_seed_design"]["in"] == pytest.approx(30.0)  # (0.60 - 0.30) / 0.01
    assert summary["span_seed_design"]["out"] == pytest.approx(30.0)
    assert summary["best_exclude_one"] == "without a" and summary["best_single"] == "only a"
    assert summary["exclude_one_minus_single_out_sd"] == pytest.approx(30.0)
    assert summary["vs_replicated"] == []  # no other mixture has two runs
    for r in records:
        write_record(r, tmp_path)
    main([str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| uniform | 3 | 0.500 | 0.400 |" in printed and "Span over seed design: In 30.0 sd" in printed


def test_one_run_of_the_replicated_mixture_is_refused() -> None:
    with pytest.raises(SystemExit, match="need >= 2 runs of the 'uniform' mixture"):
        summarise(group([_record({"a": 1, "b": 1, "c": 1}, 0.5, 0.4, 0)]), "uniform")


def test_a_replicated_mixture_is_compared_with_the_reference_in_standard_errors() -> None:
    records = [_record({"a": 1, "b": 1, "c": 1}, 0.50 + d, 0.40 + d, seed) for seed, d in enumerate((-0.01, 0, 0.01))]
    records += [_record({"a": 0, "b": 1, "c": 0}, 0.50, 0.45 + d, seed) for seed, d in enumerate((-0.01, 0.01))]
    results = group(records)
    assert [m.label for m in results] == ["only b", "uniform"] and results[0].runs == 2
    (v,) = summarise(results, "uniform")["vs_replicated"]
    assert v["mixture"] == "only b" and v["out_sd"] == pytest.approx(5.0)  # 0.05 / 0.01
    assert v["out_se"] == pytest.approx(0.05 / (0.01 * (1 / 2 + 1 / 3) ** 0.5))


def test_records_of_two_worlds_are_refused() -> None:
    with pytest.raises(SystemExit, match="mix domain sets"):
        group([_record({"a": 1, "b": 1, "c": 1}, 0.5, 0.4, 0), _record({"a": 1, "d": 1}, 0.5, 0.4, 0)])


def test_a_rerun_with_the_same_seed_counts_once(capsys: pytest.CaptureFixture) -> None:
    uniform = {"a": 1, "b": 1, "c": 1}
    records = [_record(uniform, 0.5, 0.4, 0), _record(uniform, 0.52, 0.42, 1), _record(uniform, 0.52, 0.42, 1)]
    (m,) = group(records)
    assert m.runs == 2 and "skipping" in capsys.readouterr().err


def test_each_benchmarks_replicate_sd_is_reported_noisiest_first() -> None:
    # y (the Out benchmark here) moves three times as much as x from seed to seed.
    records = [_record({"a": 1, "b": 1, "c": 1}, 0.5 + d, 0.4 + 3 * d, seed) for seed, d in enumerate((-0.01, 0, 0.01))]
    summary = summarise(group(records), "uniform")
    assert list(summary["benchmark_sd"]) == ["y", "x"]
    assert summary["benchmark_sd"]["y"] == pytest.approx(0.03) and summary["benchmark_sd"]["x"] == pytest.approx(0.01)
