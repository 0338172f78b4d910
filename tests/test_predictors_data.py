"""Run records to RunTable: bad input gets a clear error or the documented rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from predictors.comparability import NotComparableError, check_comparable
from predictors.datamodule import RunRecordDataModule
from predictors.records import RunRecord, write_record
from predictors.run_table import RunTable, stage_index, table_from_records


def rec(w: dict[str, float], out: float, **kw) -> RunRecord:
    return RunRecord(weights=w, out_score=out, scores={"mmmu": out}, **kw)


def test_duplicates_are_averaged_and_their_spread_is_the_noise() -> None:
    records = [rec({"a": 0.5, "b": 0.5}, 0.4), rec({"a": 0.5, "b": 0.5}, 0.6), rec({"a": 1.0, "b": 0.0}, 0.3)]
    t = table_from_records(records, ["out_score"])
    assert t.n == 2 and t.counts.tolist() == [2.0, 1.0]
    assert torch.allclose(t.y[:, 0], torch.tensor([0.5, 0.3], dtype=torch.float64))
    pooled = 0.02  # ((0.1)^2 + (0.1)^2) / 1 degree of freedom
    assert torch.allclose(t.noise[:, 0], torch.tensor([pooled / 2, pooled], dtype=torch.float64))


def test_no_replicates_means_learned_noise_and_targets_are_selectable() -> None:
    records = [rec({"a": 0.2, "b": 0.8}, 0.4, in_score=0.1), rec({"a": 0.9, "b": 0.1}, 0.6, in_score=0.2)]
    t = table_from_records(records, ["in_score", "mmmu"])
    assert t.noise is None and t.targets == ["in_score", "mmmu"]
    assert t.y.tolist() == [[0.1, 0.4], [0.2, 0.6]]


def test_mixed_domain_sets_are_an_error_naming_both() -> None:
    with pytest.raises(ValueError, match=r"2 different domain sets.*\['a', 'b'\].*\['a', 'c'\]"):
        table_from_records([rec({"a": 0.5, "b": 0.5}, 0.1), rec({"a": 0.5, "c": 0.5}, 0.2)], ["out_score"])


def test_nan_targets_are_skipped_with_a_warning() -> None:
    records = [rec({"a": 0.5, "b": 0.5}, math.nan, run_id="nan-run"), rec({"a": 1.0, "b": 0.0}, 0.3)]
    with pytest.warns(UserWarning, match="nan-run"):
        t = table_from_records(records, ["out_score"])
    assert t.n == 1


def test_weights_rules() -> None:
    with pytest.raises(ValueError, match="sums to 0.8"):
        rec({"a": 0.4, "b": 0.4}, 0.1)
    nearly = table_from_records([rec({"a": 0.333, "b": 0.666}, 0.1)], ["out_score"])  # rounding: renormalised
    assert math.isclose(float(nearly.weights.sum()), 1.0)
    with pytest.raises(ValueError, match="sum to"):
        RunTable.from_arrays(["a", "b"], torch.tensor([[0.2, 0.2]]), torch.tensor([1.0]))


def test_failed_runs_are_left_out(tmp_path: Path) -> None:
    for i, w in enumerate([0.1, 0.5, 0.9]):
        write_record(rec({"a": w, "b": 1 - w}, 0.1 * i), tmp_path)
    write_record(RunRecord(weights={"a": 0.3, "b": 0.7}, status="failed", error="RuntimeError: OOM"), tmp_path)
    dm = RunRecordDataModule(tmp_path, target="out_score", min_records=3)
    dm.setup("fit")
    assert dm.table.n == 3
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, RunTable) and batch.n == 3


def test_too_few_records_is_a_clear_error_naming_the_seed_runs(tmp_path: Path) -> None:
    write_record(rec({"a": 0.5, "b": 0.5}, 0.1), tmp_path)
    write_record(rec({"a": 0.5, "b": 0.5}, 0.2), tmp_path)  # a duplicate: still one mixture
    with pytest.raises(ValueError, match="1 unique usable mixture.*--stop_after seeds"):
        RunRecordDataModule(tmp_path, min_records=3).setup("fit")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunRecordDataModule(tmp_path / "missing").setup("fit")


A, B, C = {"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}, {"a": 0.5, "b": 0.5}


@pytest.mark.parametrize(
    "second, refused",
    [
        (dict(stage="test"), "evaluation stage"),  # test scores next to validation scores
        (dict(scores={"chartqa": 0.3}), "benchmarks"),  # another evaluation set
        (dict(config={"base_model": "Qwen/Qwen2-VL-2B-Instruct"}), "base model"),  # another base model
    ],
)
def test_records_of_another_kind_of_run_are_refused_unless_allowed(second: dict, refused: str) -> None:
    first = RunRecord(
        weights=A, scores={"mmmu": 0.2}, out_score=0.2, stage="val", run_id="first", config={"base_model": "tiny"}
    )
    other = RunRecord(
        **{
            **dict(
                weights=B,
                scores={"mmmu": 0.3},
                out_score=0.3,
                stage="val",
                run_id="second",
                config={"base_model": "tiny"},
            ),
            **second,
        }
    )
    with pytest.raises(NotComparableError, match=rf"differ in {refused}.*e\.g\. second.*allow_mixed"):
        check_comparable([first, other], "runs/records")
    (message,) = check_comparable([first, other], "runs/records", allow_mixed=True)
    assert "pooling runs of different kinds" in message


def test_different_step_counts_are_a_warning_naming_both(tmp_path: Path) -> None:
    # Under first_exhausted a single-domain run ends early: shorter runs are pooled, with a word.
    write_record(rec(A, 0.1, steps=256, run_id="short"), tmp_path)
    write_record(rec(B, 0.2, steps=300, run_id="long"), tmp_path)
    write_record(rec(C, 0.3, steps=300), tmp_path)
    with pytest.warns(UserWarning, match=r"differ in steps.*steps 256: 1 run\(s\), e.g. short.*steps 300: 2 run\(s\)"):
        RunRecordDataModule(tmp_path).setup("fit")


def test_stages_follow_the_search_stages_then_finish_time() -> None:
    def staged(w: dict, stage: str | None, finished: str) -> RunRecord:
        config = {} if stage is None else {"search": {"stage": stage}}
        return rec(w, 0.1, config=config, finished_at=finished)

    records = [
        staged(C, "round_1", "2026-01-01T10:00:00+00:00"),
        staged(A, "seeds", "2026-01-01T09:00:00+00:00"),
        staged(B, "seeds", "2026-01-01T10:00:00+00:00"),  # a retried seed run, finished late: still a seed
        staged(C, None, "2026-01-01T08:00:00+00:00"),  # a plain main.py run, before the search
        staged(A, None, "2026-01-01T11:00:00+00:00"),
    ]
    assert stage_index(records) == [2, 1, 1, 0, 3]
    # Ties (records written within one second) follow the search's own order.
    tied = [staged(A, "round_1", "2026-01-01T09:00:00+00:00"), staged(B, "seeds", "2026-01-01T09:00:00+00:00")]
    assert stage_index(tied) == [1, 0]
    # The table keeps each run's stage: a mixture run again later is part of that later stage too.
    table = table_from_records(records, ["out_score"], domains=["b", "a"])
    assert table.domains == ["b", "a"] and table.n == 3 and table.stages() == [0, 1, 2, 3]
    before, during = table.stage_split(3)
    assert before.n == 3 and during.n == 1 and during.weights.tolist() == [[0.0, 1.0]]  # A again, alone
    assert table.subset(torch.tensor([False, True, True])).stages() == [1, 3]
