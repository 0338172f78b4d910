"""Run records: atomic under concurrent writers, malformed files reported, written by the callback."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from callbacks.run_record import RunRecordCallback
from predictors.records import RecordError, RunRecord, read_records, write_record

WRITERS, PER_WRITER = 8, 20


def _writer(args: tuple[str, int]) -> None:
    dirpath, k = args
    for i in range(PER_WRITER):
        w = (k + 1) / (WRITERS + 1)
        write_record(
            RunRecord(weights={"a": w, "b": 1 - w}, out_score=float(i), run_id=f"w{k}-{i}", config={"pad": "x" * 5000}),
            dirpath,
        )
        # Every writer also rewrites one shared record: a reader must see a whole version.
        write_record(
            RunRecord(weights={"a": w, "b": 1 - w}, out_score=float(k), run_id="shared", config={"pad": "y" * 5000}),
            dirpath,
        )


def test_concurrent_writers_lose_and_corrupt_nothing(tmp_path: Path) -> None:
    with mp.get_context("fork").Pool(WRITERS) as pool:
        pool.map(_writer, [(str(tmp_path), k) for k in range(WRITERS)])
    found = read_records(tmp_path, warn=False)
    assert found.skipped == []
    assert len(found.records) == WRITERS * PER_WRITER + 1
    assert {r.run_id for r in found.records} >= {f"w{k}-{i}" for k in range(WRITERS) for i in range(PER_WRITER)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "no temp file left behind"


def test_malformed_records_are_skipped_and_reported(tmp_path: Path) -> None:
    write_record(RunRecord(weights={"a": 1.0}, out_score=0.5, run_id="good"), tmp_path)
    (tmp_path / "truncated.json").write_text('{"weights": {"a": 1.0}, "out_')
    (tmp_path / "badsum.json").write_text(json.dumps({"weights": {"a": 0.3}, "out_score": 0.1}))
    (tmp_path / "extra.json").write_text(json.dumps({"weights": {"a": 1.0}, "surprise": 1}))
    with pytest.warns(UserWarning, match=r"skipped 3 malformed run record\(s\)") as caught:
        found = read_records(tmp_path)
    assert [r.run_id for r in found.records] == ["good"]
    reasons = {p.name: why for p, why in found.skipped}
    assert set(reasons) == {"truncated.json", "badsum.json", "extra.json"}
    assert "sums to 0.3" in reasons["badsum.json"] and "surprise" in reasons["extra.json"]
    assert "truncated.json" in str(caught[0].message)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"weights": {"a": -0.5, "b": 1.5}}, "weights.a"),  # negative weight
        ({"weights": {"a": 1.0}, "status": "meh"}, "status"),  # unknown status
        ({"weights": {"a": 1.0}, "steps": -1}, "steps"),  # negative steps
        ({"weights": {"a": 1.0}, "out_score": "high"}, "out_score"),  # a string score
    ],
)
def test_record_validation_names_the_field(bad: dict, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        RunRecord.from_dict(bad)


class _Data(LightningDataModule):
    weights = {"coco": 0.25, "sat": 0.75}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)

    val_dataloader = test_dataloader = train_dataloader


class _Module(LightningModule):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        if self.hparams.fail:
            raise RuntimeError("loss went NaN")
        return self.layer(batch[0]).pow(2).mean()

    def _eval(self, stage: str) -> None:
        self.log_dict(
            {
                f"{stage}/mmmu/score": 0.4,
                f"{stage}/lisa/score": 0.7,
                f"{stage}/in_score": 0.7,
                f"{stage}/out_score": 0.4,
            }
        )

    def validation_step(self, batch, batch_idx):
        self._eval("val")

    def test_step(self, batch, batch_idx):
        self._eval("test")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(tmp_path: Path, cb: RunRecordCallback) -> Trainer:
    return Trainer(
        max_steps=2,
        limit_val_batches=1,
        limit_test_batches=1,
        callbacks=[cb],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )


def test_callback_writes_record_after_fit_and_test(tmp_path: Path) -> None:
    cb = RunRecordCallback(tmp_path / "records", config={"note": "unit"})
    trainer = _trainer(tmp_path, cb)
    trainer.fit(_Module(), datamodule=_Data())
    (rec,) = read_records(tmp_path / "records").records
    assert rec.status == "ok" and rec.stage == "val" and rec.steps == 2
    assert rec.weights == {"coco": 0.25, "sat": 0.75}
    assert rec.scores == pytest.approx({"mmmu": 0.4, "lisa": 0.7}) and rec.out_score == pytest.approx(0.4)
    assert rec.config["note"] == "unit" and rec.config["model"] == {"fail": False}
    trainer.test(datamodule=_Data(), ckpt_path=None, model=trainer.lightning_module)
    (tested,) = read_records(tmp_path / "records").records  # same run id: one record, the test scores added
    assert tested.config["test"]["in_score"] == pytest.approx(0.7)
    assert tested.config["test"]["scores"] == pytest.approx({"mmmu": 0.4, "lisa": 0.7})
    # What the predictor learns from and the training time stay those of training.
    assert (tested.stage, tested.scores, tested.duration_s, tested.started_at) == (
        rec.stage,
        rec.scores,
        rec.duration_s,
        rec.started_at,
    )


def test_callback_records_failed_run_with_error(tmp_path: Path) -> None:
    cb = RunRecordCallback(tmp_path / "records")
    with pytest.raises(RuntimeError, match="loss went NaN"):
        _trainer(tmp_path, cb).fit(_Module(fail=True), datamodule=_Data())
    (rec,) = read_records(tmp_path / "records").records
    assert rec.status == "failed" and rec.error == "RuntimeError: loss went NaN"
    assert rec.weights == {"coco": 0.25, "sat": 0.75}


def test_a_failure_before_training_leaves_no_record(tmp_path: Path) -> None:
    class _BrokenData(_Data):
        def setup(self, stage: str) -> None:
            raise FileNotFoundError("no such dataset")

    with pytest.raises(FileNotFoundError):
        _trainer(tmp_path, RunRecordCallback(tmp_path / "records")).fit(_Module(), datamodule=_BrokenData())
    assert not (tmp_path / "records").exists()  # nothing was trained: nothing to learn from, nothing to clean up


def _fit_with_checkpoints(tmp_path: Path, cb: RunRecordCallback, max_steps: int, ckpt_path: Path | None = None) -> None:
    trainer = Trainer(
        max_steps=max_steps,
        limit_val_batches=1,
        callbacks=[cb, ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(_Module(), datamodule=_Data(), ckpt_path=ckpt_path)


def test_test_from_a_checkpoint_adds_its_scores_to_the_runs_record(tmp_path: Path) -> None:
    """`main.py test --ckpt_path` runs in a new process with a new callback: still one record per training run."""
    fit_cb = RunRecordCallback(tmp_path / "records")
    _fit_with_checkpoints(tmp_path, fit_cb, 2)
    (trained,) = read_records(tmp_path / "records").records
    test_cb = RunRecordCallback(tmp_path / "records")
    assert test_cb.run_id != fit_cb.run_id
    tester = Trainer(
        limit_test_batches=1,
        callbacks=[test_cb],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    tester.test(_Module(), datamodule=_Data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    (rec,) = read_records(tmp_path / "records").records
    assert rec.run_id == fit_cb.run_id and rec.stage == "val" and rec.steps == 2
    assert rec.duration_s == trained.duration_s and rec.finished_at == trained.finished_at  # training time kept
    assert rec.config["test"]["checkpoint"] == str(tmp_path / "ckpt" / "last.ckpt")
    assert rec.config["test"]["out_score"] == pytest.approx(0.4)


def test_a_test_without_a_training_record_writes_its_own(tmp_path: Path) -> None:
    tester = Trainer(
        limit_test_batches=1,
        callbacks=[RunRecordCallback(tmp_path / "records")],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    tester.test(_Module(), datamodule=_Data())  # e.g. the base model, no checkpoint
    (rec,) = read_records(tmp_path / "records").records
    assert rec.stage == "test" and rec.in_score == pytest.approx(0.7) and "test" not in rec.config


def test_a_resumed_run_keeps_its_record_start_and_training_time(tmp_path: Path) -> None:
    first = RunRecordCallback(tmp_path / "records")
    _fit_with_checkpoints(tmp_path, first, 2)
    (before,) = read_records(tmp_path / "records").records
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["run_record"]["train_seconds"]
    _fit_with_checkpoints(
        tmp_path, RunRecordCallback(tmp_path / "records"), 4, ckpt_path=tmp_path / "ckpt" / "last.ckpt"
    )
    (after,) = read_records(tmp_path / "records").records  # the resumed run replaced its own record
    assert after.run_id == first.run_id and after.steps == 4
    assert after.started_at == before.started_at
    assert 0 < saved <= before.duration_s  # the checkpoint carries the training time up to its step
    assert after.duration_s > saved  # ... and the resumed run adds its own


def test_a_data_module_without_weights_is_refused_before_training(tmp_path: Path) -> None:
    class _NoWeights(_Data):
        weights = None

    module = _Module(fail=True)  # training would raise "loss went NaN": the refusal must come first
    with pytest.raises(ValueError, match="datamodule.weights"):
        _trainer(tmp_path, RunRecordCallback(tmp_path / "records")).fit(module, datamodule=_NoWeights())
