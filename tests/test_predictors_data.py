"""Run records to RunTable: bad input gets a clear error or the documented rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from predictors.datamodule import RunRecordDataModule
from predictors.records import RunRecord, write_record
from predictors.table import RunTable, table_from_records


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


def test_too_few_records_is_a_clear_error(tmp_path: Path) -> None:
    write_record(rec({"a": 0.5, "b": 0.5}, 0.1), tmp_path)
    write_record(rec({"a": 0.5, "b": 0.5}, 0.2), tmp_path)  # a duplicate: still one mixture
    with pytest.raises(ValueError, match="1 unique usable mixture"):
        RunRecordDataModule(tmp_path, min_records=3).setup("fit")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunRecordDataModule(tmp_path / "missing").setup("fit")
