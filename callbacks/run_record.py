"""``RunRecordCallback``: every training run leaves one run record for the mixture optimiser.

The record (schema in :mod:`predictors.records`) holds the mixture (``trainer.datamodule.weights``),
the per-benchmark scores and In-/Out-Score from ``trainer.callback_metrics`` (keys
``<stage>/<benchmark>/score``, ``<stage>/in_score``, ``<stage>/out_score``), steps, seed,
config, checkpoint path and times. It is written atomically at the end of ``fit`` (validation
scores) and again at the end of ``test`` (test scores replace them; same run id, same file),
and on an exception as ``status: failed`` with the error.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from predictors.records import RunRecord, new_run_id, write_record


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
    return scores, None if in_score is None else _to_float(in_score), None if out_score is None else _to_float(out_score)


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
        self._started: float | None = None
        self._started_at: str | None = None
        self._restored_steps = 0
        self.last_path: str | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Stores the run id, so a resumed run or a test from this checkpoint replaces this run's record."""
        checkpoint[_CHECKPOINT_KEY] = {"run_id": self.run_id}

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Takes the run id (and, for a test, the step count) of the run that saved ``checkpoint``."""
        saved = checkpoint.get(_CHECKPOINT_KEY)
        if saved:
            self.run_id = str(saved["run_id"])
            self._restored_steps = int(checkpoint.get("global_step", 0))

    def _start(self) -> None:
        if self._started is None:
            self._started = time.time()
            self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Notes the start time; a data module without mixture weights is refused before any training."""
        datamodule = getattr(trainer, "datamodule", None)
        if getattr(datamodule, "weights", None) is None:
            raise ValueError("RunRecordCallback needs trainer.datamodule.weights (the mixture of this run)")
        self._start()

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Notes the start time (for a test-only run)."""
        self._start()

    def _record(self, trainer: Trainer, pl_module: LightningModule, stage: str, error: BaseException | None) -> RunRecord:
        datamodule = getattr(trainer, "datamodule", None)
        weights = getattr(datamodule, "weights", None)
        if weights is None and error is None:
            raise ValueError("RunRecordCallback needs trainer.datamodule.weights (the mixture of this run)")
        scores, in_score, out_score = scores_from_metrics(dict(trainer.callback_metrics), stage)
        config = {"model": _jsonable(dict(getattr(pl_module, "hparams", {}))), **_jsonable(self.config)}
        if datamodule is not None and getattr(datamodule, "hparams", None):
            config["data"] = _jsonable(dict(datamodule.hparams))
        # The first checkpoint callback that keeps paths: an exception-only one (RunInterruptCheckpoint) has none.
        ckpt = next((c for c in trainer.checkpoint_callbacks if hasattr(c, "best_model_path")), None)
        ckpt_path = (ckpt.best_model_path or ckpt.last_model_path or None) if ckpt is not None else None
        seed = os.environ.get("PL_GLOBAL_SEED")
        now = time.time()
        return RunRecord(
            weights={k: float(v) for k, v in (weights or {}).items()},
            scores=scores,
            in_score=in_score,
            out_score=out_score,
            steps=int(trainer.global_step) or self._restored_steps,  # a test-only process does not restore the step
            seed=int(seed) if seed is not None and seed.lstrip("-").isdigit() else None,
            config=config,
            checkpoint=ckpt_path,
            status="failed" if error is not None else "ok",
            error=None if error is None else f"{type(error).__name__}: {error}",
            stage=stage,
            run_id=self.run_id,
            started_at=self._started_at,
            duration_s=None if self._started is None else now - self._started,
        )

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Writes the record with validation scores."""
        self.last_path = str(write_record(self._record(trainer, pl_module, "val", None), self.dirpath))

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Writes the record with test scores (replacing the fit-time record of this run)."""
        self.last_path = str(write_record(self._record(trainer, pl_module, "test", None), self.dirpath))

    @rank_zero_only
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Writes a ``failed`` record naming the error; never raises over the original exception."""
        stage = "test" if trainer.testing else "val"
        try:
            self.last_path = str(write_record(self._record(trainer, pl_module, stage, exception), self.dirpath))
        except Exception as err:  # noqa: BLE001 - the run's own exception must surface, not ours
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(f"could not write the failed-run record: {err}")
