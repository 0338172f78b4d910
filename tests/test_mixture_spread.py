"""benchmarks/mixture_spread.py: mixtures grouped, named and compared with the replicate spread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mixture_spread import group, kind, label, main, mixture_key, summarise  # noqa: E402

from predictors.records import RunRecord, write_record  # noqa: E402

DOMAINS = ("a", "b", "c")


def _record(weights: dict[str, float], in_score: float, out_score: float, seed: int) -> RunRecord:
    total = sum(weights.values())
    return RunRecord(weights={d: w / total for d, w in weights.items()}, scores={"x": in_score, "y": out_score},
                     in_score=in_score, out_score=out_score, steps=10, seed=seed, stage="val")


def test_mixtures_are_named_by_their_design() -> None:
    assert label(mixture_key({"a": 2, "b": 2, "c": 2})) == "uniform"
    assert label(mixture_key({"a": 0, "b": 1, "c": 0})) == "only b"
    assert label(mixture_key({"a": 1, "b": 0, "c": 1})) == "without b"
    assert kind(mixture_key({"a": 0.5, "b": 0.3, "c": 0.2})) == "other"


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
    for r in records:
        write_record(r, tmp_path)
    main([str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| uniform | 3 | 0.500 | 0.400 |" in printed and "Span over seed design: In 30.0 sd" in printed


def test_one_run_of_the_replicated_mixture_is_refused() -> None:
    with pytest.raises(SystemExit, match="need >= 2 runs of the 'uniform' mixture"):
        summarise(group([_record({"a": 1, "b": 1, "c": 1}, 0.5, 0.4, 0)]), "uniform")
