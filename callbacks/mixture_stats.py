"""Log how the mixture is actually sampled: cumulative draws and shares per domain, skipped samples."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from callbacks.samples import crossed


class MixtureStats(Callback):
    """Logs ``data/drawn/<domain>``, ``data/share/<domain>`` (cumulative, all ranks) and ``data/skipped/<domain>``.

    The shares converge to the mixture weights ``w``; with ``stop: first_exhausted`` the run ends
    when the first domain runs out.

    Args:
        every_n_steps: logging interval in optimiser steps.
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._last_logged = 0

    @rank_zero_only
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        dm = trainer.datamodule
        if trainer.logger is not None and hasattr(dm, "skipped"):
            trainer.logger.log_metrics({f"data/skipped/{d}": float(n) for d, n in dm.skipped.items()}, step=trainer.global_step)
        if trainer.logger is not None and hasattr(dm, "weights"):
            trainer.logger.log_metrics({f"data/weight/{d}": float(w) for d, w in dm.weights.items()}, step=trainer.global_step)

    @rank_zero_only
    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        dm = trainer.datamodule
        step = trainer.global_step
        if trainer.logger is None or not hasattr(dm, "drawn_counts") or not crossed(step, self._last_logged, self.every_n_steps):
            return
        self._last_logged = step
        counts = dm.drawn_counts
        total = sum(counts.values()) or 1
        metrics = {f"data/drawn/{d}": float(n) for d, n in counts.items()}
        metrics.update({f"data/share/{d}": n / total for d, n in counts.items()})
        trainer.logger.log_metrics(metrics, step=trainer.global_step)
