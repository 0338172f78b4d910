"""In-Score / Out-Score: averages of benchmark scores weighted by benchmark size (../shared/PAPER.md §4)."""

from __future__ import annotations

import math

import pytest

from lightning_modules.evaluation import BenchmarkAccumulator, weighted_scores


def test_weighted_scores_match_a_hand_computed_example() -> None:
    scores = {"lisa": 0.40, "sat": 0.70, "sqa": 0.90, "chart": 0.20, "mmmu": 0.50}
    sizes = {"lisa": 100, "sat": 300, "sqa": 600, "chart": 250, "mmmu": 750}
    roles = {"lisa": "in", "sat": "in", "sqa": "in", "chart": "out", "mmmu": "out"}
    got = weighted_scores(scores, sizes, roles)
    # In:  (0.40*100 + 0.70*300 + 0.90*600) / 1000 = (40 + 210 + 540) / 1000 = 0.79
    # Out: (0.20*250 + 0.50*750) / 1000 = (50 + 375) / 1000 = 0.425
    assert got == pytest.approx({"in_score": 0.79, "out_score": 0.425}, abs=1e-12)
    # Not the plain mean of benchmark scores (0.6667 and 0.35): size matters.
    assert not math.isclose(got["in_score"], (0.40 + 0.70 + 0.90) / 3)


def test_weighted_scores_skip_empty_benchmarks_and_absent_roles() -> None:
    got = weighted_scores({"a": 1.0, "b": 0.0, "c": 0.3}, {"a": 3, "b": 0, "c": 7}, {"a": "in", "b": "in", "c": "in"})
    # b has no sample, so it weighs nothing: (1.0*3 + 0.3*7) / 10 = 0.51; no out benchmark, no out_score.
    assert got == pytest.approx({"in_score": 0.51})


def test_accumulator_pools_per_sample_scores_across_batches() -> None:
    acc = BenchmarkAccumulator(["lisa", "sat", "chart"], ["in", "in", "out"])
    acc.update(0, [1.0, 0.0])  # lisa batch 1
    acc.update(0, [0.5])  # lisa batch 2 (a short last batch)
    acc.update(1, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # sat
    acc.update(2, [0.25, 0.75])  # chart
    got = acc.compute()
    # lisa 1.5/3 = 0.5; sat 3/6 = 0.5; In = (1.5 + 3) / (3 + 6) = 0.5; chart 1/2 = 0.5
    assert got == pytest.approx({"lisa/score": 0.5, "sat/score": 0.5, "chart/score": 0.5,
                                 "in_score": 0.5, "out_score": 0.5})
    acc.update(0, [1.0, 1.0, 1.0])  # lisa now 4.5 / 6 = 0.75; In = (4.5 + 3) / 12 = 0.625
    got = acc.compute()
    assert got["lisa/score"] == pytest.approx(0.75) and got["in_score"] == pytest.approx(0.625)


def test_accumulator_reduce_sums_over_processes() -> None:
    acc = BenchmarkAccumulator(["a", "b"], ["in", "out"])
    acc.update(0, [1.0])
    acc.update(1, [0.0, 1.0])
    other = BenchmarkAccumulator(["a", "b"], ["in", "out"])  # what a second rank saw
    other.update(0, [0.0, 0.0, 0.0])
    other.update(1, [1.0, 1.0])
    parts = iter([other.sums, other.counts])  # compute() reduces the sums, then the counts
    got = acc.compute(reduce=lambda t: t + next(parts))
    # a: (1 + 0) / (1 + 3) = 0.25; b: (1 + 2) / (2 + 2) = 0.75
    assert got == pytest.approx({"a/score": 0.25, "b/score": 0.75, "in_score": 0.25, "out_score": 0.75})


def test_accumulator_refuses_mismatched_roles() -> None:
    with pytest.raises(ValueError, match="same length"):
        BenchmarkAccumulator(["a", "b"], ["in"])
