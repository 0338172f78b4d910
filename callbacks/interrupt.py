"""A checkpoint written when a run is stopped early, inside that run's own directory."""

from __future__ import annotations

import os

import lightning.pytorch as pl
from lightning.pytorch import Callback
from lightning.pytorch.utilities import rank_zero_info


class RunInterruptCheckpoint(Callback):
    """Saves ``<run dir>/checkpoints/<filename>.ckpt`` when fit stops on an exception, Ctrl-C or SIGTERM.

    SIGTERM is what job schedulers (SLURM, Kubernetes) send before they kill a job: Lightning finishes the
    current training batch, then stops and this callback saves. SIGKILL (``kill -9``, the out-of-memory killer,
    a lost node) ends the process at once and nothing can be saved: resume from the last periodic checkpoint
    (``ModelCheckpoint``'s ``last.ckpt``) instead. Resume either one explicitly; the run continues in its own
    directory::

        python main.py fit --config configs/mix.yaml --ckpt_path runs/mix/version_3/checkpoints/interrupted.ckpt

    Nothing is saved when no optimiser step was taken since the run started (or since the checkpoint it resumed
    from): such a file would only repeat the starting point.

    A plain callback rather than Lightning's ``OnExceptionCheckpoint``: with that one in the Trainer, every
    ``fit`` without ``--ckpt_path`` looks for a checkpoint to resume from (``ckpt_path="last"``), so a new run
    could silently continue an old one, and a fresh run warns that there is none.

    Args:
        dirpath: directory of the checkpoint; None (default) is ``<trainer.log_dir>/checkpoints``.
        filename: file name without the ``.ckpt`` extension.
    """

    def __init__(self, dirpath: str | None = None, filename: str = "interrupted") -> None:
        self.dirpath = dirpath
        self.filename = filename
        self._start_step: int | None = None

    @property
    def ckpt_path(self) -> str | None:
        """Where the checkpoint goes (None until setup resolves the run directory)."""
        return os.path.join(self.dirpath, self.filename + ".ckpt") if self.dirpath else None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # On every rank: under DDP trainer.log_dir broadcasts.
        if not self.dirpath:
            self.dirpath = os.path.join(trainer.log_dir or trainer.default_root_dir, "checkpoints")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start_step = trainer.global_step  # after a resume: the restored step

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.ckpt_path is None or self._start_step is None or trainer.global_step <= self._start_step:
            return
        # On every rank (saving is a collective under DDP); a full checkpoint, to resume from.
        trainer.save_checkpoint(self.ckpt_path, weights_only=False)
        rank_zero_info(f"Stopped at step {trainer.global_step}; to continue: --ckpt_path {self.ckpt_path}")
