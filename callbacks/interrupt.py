"""A checkpoint written when a run is interrupted, inside that run's own directory."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import OnExceptionCheckpoint


class RunInterruptCheckpoint(OnExceptionCheckpoint):
    """Saves ``<run dir>/checkpoints/<filename>.ckpt`` when fit stops on an exception or a signal (SIGTERM, Ctrl-C).

    Lightning's ``OnExceptionCheckpoint`` with a fixed ``dirpath`` shares one file between every run started from
    the same config, and ``trainer.fit`` resumes from that file whenever it exists: the next run, even with another
    mixture or learning rate, would silently continue the killed one. Here the default directory is the run's own
    version directory, resolved at setup (after Lightning has chosen what to resume from), so a new run always
    starts fresh and the interrupted one is resumed only on request::

        python main.py fit --config configs/mix.yaml --ckpt_path runs/mix/version_3/checkpoints/interrupted.ckpt

    Args:
        dirpath: directory of the checkpoint; None (default) is ``<trainer.log_dir>/checkpoints``.
        filename: file name without the ``.ckpt`` extension.
    """

    def __init__(self, dirpath: str | None = None, filename: str = "interrupted") -> None:
        super().__init__(dirpath=dirpath or "", filename=filename)  # "" = resolved at setup

    @property
    def ckpt_path(self) -> str:
        # Empty until setup: Lightning's resume lookup (which runs before setup) skips empty candidates.
        return super().ckpt_path if self.dirpath else ""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not self.dirpath:
            self.dirpath = os.path.join(trainer.log_dir or trainer.default_root_dir, "checkpoints")

    def on_exception(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.dirpath:  # an exception before setup has nothing worth saving
            super().on_exception(trainer, *args, **kwargs)
