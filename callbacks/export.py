"""Export the trained policy in Hugging Face format when fit ends."""

from __future__ import annotations

import os

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from lightning_modules.policy_utils import save_policy


class ExportPolicy(Callback):
    """Save the policy (and its processor) with ``save_pretrained`` at the end of fit.

    The export loads with ``AutoModelForImageTextToText.from_pretrained`` / ``AutoProcessor``;
    LoRA adapters are merged into the weights unless ``merge_lora`` is False.

    Args:
        dirpath: where to write; default ``<log_dir>/policy``.
        merge_lora: merge LoRA adapters into a plain model (the adapter is kept beside it).
    """

    def __init__(self, dirpath: str | None = None, merge_lora: bool = True) -> None:
        self.dirpath = dirpath
        self.merge_lora = merge_lora
        self.exported_to: str | None = None
        self._path: str | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # On every rank: under DDP trainer.log_dir broadcasts, so calling it from rank 0 alone deadlocks.
        self._path = self.dirpath or os.path.join(trainer.log_dir or trainer.default_root_dir, "policy")

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if getattr(pl_module, "model", None) is None:
            return
        path = self._path or self.dirpath or os.path.join(trainer.default_root_dir, "policy")
        save_policy(pl_module.model, pl_module.processor, path, merge_lora=self.merge_lora)
        self.exported_to = path
        rank_zero_info(f"Exported the trained policy to {path}")
