"""Log how the mixture is actually sampled: cumulative draws and shares per domain, weights, skipped samples."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from callbacks.samples import crossed


class MixtureStats(Callback):
    """Logs what the mixture sampler drew, the only producer of the ``data/`` keys.

    - ``data/count/<domain>``: training prompts drawn so far (cumulative, all ranks together), every
      ``every_n_steps`` optimiser steps and at the end of training;
    - ``data/share/<domain>``: each count over their sum; it converges to the mixture weights;
    - ``data/weight/<domain>``: the configured (normalised) weight, once at the start;
    - ``data/skipped/<domain>``: bad samples skipped while loading (``on_bad_sample: skip``), once at the start.

    Count and share are logged for the domains with a positive weight (the others are never drawn). With
    ``stop: first_exhausted`` training ends when the first drawn domain runs out.

    Args:
        every_n_steps: logging interval in optimiser steps.
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._last_logged = 0

    @staticmethod
    def _log(trainer: Trainer, metrics: dict[str, float]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def _log_counts(self, trainer: Trainer) -> None:
        dm = trainer.datamodule
        if not hasattr(dm, "drawn_counts"):
            return
        weights = getattr(dm, "weights", None) or {}
        counts = {d: n for d, n in dm.drawn_counts.items() if weights.get(d, 1.0) > 0}
        total = sum(counts.values())
        metrics = {f"data/count/{d}": float(n) for d, n in counts.items()}
        if total:
            metrics.update({f"data/share/{d}": n / total for d, n in counts.items()})
        self._log(trainer, metrics)
        self._last_logged = trainer.global_step

    @rank_zero_only
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        dm = trainer.datamodule
        metrics = {}
        if hasattr(dm, "weights"):
            metrics.update({f"data/weight/{d}": float(w) for d, w in dm.weights.items()})
        if hasattr(dm, "skipped"):
            metrics.update({f"data/skipped/{d}": float(n) for d, n in dm.skipped.items()})
        self._log(trainer, metrics)
        self._log_counts(trainer)  # 0 on a fresh run; the restored counts on a resumed one

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # A batch may take several optimiser steps: log whenever a multiple of every_n_steps was crossed.
        if crossed(trainer.global_step, self._last_logged, self.every_n_steps):
            self._log_counts(trainer)

    @rank_zero_only
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step != self._last_logged:
            self._log_counts(trainer)
