"""``BaseScoreRecorder``: the base model's scores, from one ``main.py validate`` run without training.

The mixture search (:mod:`predictors.search`) adds it to its ``validate`` run of the base model.

``RunRecordCallback`` writes records at the end of ``fit`` and ``test``; a ``validate`` run leaves
none. The search needs the base model's In-/Out-Score once, measured exactly as its runs are
(same config, same evaluation stage ``val``), so this callback records them. The record goes to
its own directory (``search_dir/base``), never among the training runs' records: its weights are
the config's default mixture, and mistaking it for a trained run would corrupt the GP's data.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from callbacks.run_record import scores_from_metrics
from predictors.records import RunRecord, write_record


class BaseScoreRecorder(Callback):
    """Writes the scores of a ``validate`` run as a run record with ``steps == 0``.

    Args:
        dirpath: directory of the base model's record.
        run_id: the record's id (file name).
    """

    def __init__(self, dirpath: str, run_id: str = "base") -> None:
        self.dirpath = dirpath
        self.run_id = run_id
        self._started = time.time()
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Records the validation scores, only when the whole run is ``validate`` (not a fit's evaluation)."""
        if trainer.state.fn != "validate":
            return
        scores, in_score, out_score = scores_from_metrics(dict(trainer.callback_metrics), "val")
        weights = getattr(trainer.datamodule, "weights", None) or {}
        record = RunRecord(
            weights={k: float(v) for k, v in weights.items()},
            scores=scores,
            in_score=in_score,
            out_score=out_score,
            steps=int(trainer.global_step),
            config={"search": {"stage": "base", "origin": "base model, no training"}},
            stage="val",
            run_id=self.run_id,
            started_at=self._started_at,
            duration_s=time.time() - self._started,
        )
        write_record(record, self.dirpath)
