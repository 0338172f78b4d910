"""A training progress bar that counts optimiser steps towards ``max_steps``.

Lightning's bar counts batches of an epoch. A mixture stream is one open-ended epoch bounded by
``max_steps``, so it reads ``Epoch 0/-2`` (``max_epochs: -1``), and after a resume from step 51 of
300 it counts the restored batches against the remaining 249 (``300/249``). This bar shows
``Training 52/300`` instead, without the logger version (``v_num``) that Rich prints as ``0.000``.
``main.py`` uses it by default when Rich is installed and the config names no progress bar.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    """``RichProgressBar`` whose training bar is ``global_step / max_steps`` (batches without ``max_steps``)."""

    @property
    def total_train_batches(self) -> int | float:
        max_steps = self.trainer.max_steps
        return max_steps if max_steps is not None and max_steps > 0 else super().total_train_batches

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{'Training':{len(self.validation_description)}}"  # padded like Lightning's, against flicker

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.max_steps is None or trainer.max_steps <= 0:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()  # a resume mid-epoch starts without a bar
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)  # the run directory is printed at the end of fit
        return items
