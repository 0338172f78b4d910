"""``RunRecordCallback``: every training run leaves one run record for the mixture optimiser.

The record (schema in :mod:`predictors.records`) holds the mixture (``trainer.datamodule.weights``),
the per-benchmark scores and In-/Out-Score from ``trainer.callback_metrics`` (keys
``<stage>/<benchmark>/score``, ``<stage>/in_score``, ``<stage>/out_score``), steps, seed,
config, checkpoint path and times. It is written atomically at the end of ``fit`` with the
validation scores. A run that fails or is stopped (SIGTERM, Ctrl-C) after training began leaves
a ``failed`` record naming the error; a failure before the first training step leaves none (nothing
was trained, and the run can simply be started again).

The run id, start time and training time travel in every checkpoint, so a run resumed with
``--ckpt_path`` replaces its own record and keeps counting its training time. ``main.py test
--ckpt_path`` adds the test scores to that record under ``config.test`` (``scores``, ``in_score``,
``out_score``, ``checkpoint``, ``finished_at``) and keeps everything else: the validation scores the
predictor learns from, the stage, the training time. A test with no training record behind it (the
base model, or a record directory elsewhere) writes a record of its own with ``stage: test``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn

from predictors.records import RecordError, RunRecord, new_run_id, write_record


def _to_float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)  # classes, tensors, paths: kept readable, never re-executed


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scores_from_metrics(metrics: dict[str, Any], stage: str) -> tuple[dict[str, float], float | None, float | None]:
    """Per-benchmark scores, In-Score and Out-Score of ``stage`` from logged metrics."""
    prefix = f"{stage}/"
    scores = {}
    for key, value in metrics.items():
        if key.startswith(prefix) and key.endswith("/score"):
            name = key[len(prefix) : -len("/score")]
            if name and "/" not in name:
                scores[name] = _to_float(value)
    in_score = metrics.get(f"{stage}/in_score")
    out_score = metrics.get(f"{stage}/out_score")
    return (
        scores,
        None if in_score is None else _to_float(in_score),
        None if out_score is None else _to_float(out_score),
    )


def read_record(path: Path) -> RunRecord | None:
    """The record at ``path``, or None when there is none or it cannot be read."""
    try:
        return RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecordError):
        return None


_CHECKPOINT_KEY = "run_record"


class RunRecordCallback(Callback):
    """Writes this run's record to ``dirpath``.

    Args:
        dirpath: the shared record directory (one ``<run_id>.json`` per run).
        run_id: id of this run; a unique timestamped id by default.
        config: extra configuration to store (the module's and data module's hyperparameters
            are always stored).
    """

    def __init__(self, dirpath: str, run_id: str | None = None, config: dict[str, Any] | None = None) -> None:
        self.dirpath = dirpath
        self.run_id = run_id or new_run_id()
        self.config = dict(config or {})
        self.last_path: str | None = None
        self._started_at: str | None = None
        self._prior_seconds = 0.0  # training time of the run before this process (from the checkpoint)
        self._clock: float | None = None  # when this process started fitting or testing
        self._restored_steps = 0
        self._training = False

    def _seconds(self) -> float:
        return self._prior_seconds + (time.time() - self._clock if self._clock is not None else 0.0)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Stores the run id, start time and training time, so a resume or a test continues this run's record."""
        checkpoint[_CHECKPOINT_KEY] = {
            "run_id": self.run_id,
            "started_at": self._started_at,
            "train_seconds": self._seconds(),
        }

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Takes the run id, start time, training time and step count of the run that saved ``checkpoint``."""
        saved = checkpoint.get(_CHECKPOINT_KEY)
        if saved:
            self.run_id = str(saved["run_id"])
            self._started_at = saved.get("started_at") or self._started_at
            self._prior_seconds = float(saved.get("train_seconds") or 0.0)
            self._restored_steps = int(checkpoint.get("global_step", 0))

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Starts the clock; a data module without mixture weights is refused before any training."""
        if getattr(getattr(trainer, "datamodule", None), "weights", None) is None:
            raise ValueError("RunRecordCallback needs trainer.datamodule.weights (the mixture of this run)")
        self._clock = time.time()
        self._started_at = self._started_at or _now()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """From here on a failure is a failed run (before, nothing was trained)."""
        self._training = True

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Starts the clock of a test."""
        self._clock = time.time()

    def _record(
        self, trainer: Trainer, pl_module: LightningModule, stage: str, error: BaseException | None
    ) -> RunRecord:
        datamodule = getattr(trainer, "datamodule", None)
        weights = getattr(datamodule, "weights", None)
        if weights is None and error is None:
            raise ValueError("RunRecordCallback needs trainer.datamodule.weights (the mixture of this run)")
        scores, in_score, out_score = scores_from_metrics(dict(trainer.callback_metrics), stage)
        config = {"model": _jsonable(dict(getattr(pl_module, "hparams", {}))), **_jsonable(self.config)}
        if datamodule is not None and getattr(datamodule, "hparams", None):
            config["data"] = _jsonable(dict(datamodule.hparams))
        seed = os.environ.get("PL_GLOBAL_SEED")
        return RunRecord(
            weights={k: float(v) for k, v in (weights or {}).items()},
            scores=scores,
            in_score=in_score,
            out_score=out_score,
            steps=int(trainer.global_step) or self._restored_steps,  # a test does not restore the step counter
            seed=int(seed) if seed is not None and seed.lstrip("-").isdigit() else None,
            config=config,
            checkpoint=self._checkpoint_path(trainer),
            status="failed" if error is not None else "ok",
            error=None if error is None else f"{type(error).__name__}: {error}",
            stage=stage,
            run_id=self.run_id,
            started_at=self._started_at,
            duration_s=None if self._clock is None else self._seconds(),
        )

    @staticmethod
    def _checkpoint_path(trainer: Trainer) -> str | None:
        if trainer.testing:
            return trainer.ckpt_path
        # The first checkpoint callback that keeps paths: an exception-only one (RunInterruptCheckpoint) has none.
        ckpt = next((c for c in trainer.checkpoint_callbacks if hasattr(c, "best_model_path")), None)
        return (ckpt.best_model_path or ckpt.last_model_path or None) if ckpt is not None else None

    def _write(self, record: RunRecord) -> None:
        self.last_path = str(write_record(record, self.dirpath))
        rank_zero_info(f"Run record: {self.last_path}")

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Writes the record with validation scores."""
        self._write(self._record(trainer, pl_module, "val", None))

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Adds the test scores to this run's record (or writes a test record when the run has none)."""
        tested = self._record(trainer, pl_module, "test", None)
        existing = read_record(Path(self.dirpath) / f"{self.run_id}.json")
        if existing is None:
            self._write(tested)
            return
        existing.config["test"] = {
            "scores": tested.scores,
            "in_score": tested.in_score,
            "out_score": tested.out_score,
            "checkpoint": tested.checkpoint,
            "finished_at": tested.finished_at,
        }
        self._write(existing)

    @rank_zero_only
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Writes a ``failed`` record naming the error once training began; never raises over the original error."""
        if not self._training or trainer.testing:
            return  # a failed start trained nothing; a failed test leaves the training record as it is
        try:
            self._write(self._record(trainer, pl_module, "val", exception))
        except Exception as err:  # noqa: BLE001 - the run's own exception must surface, not ours
            rank_zero_warn(f"could not write the failed-run record: {err}")
