"""``MixtureProposalWriter``: the mixture predictor's ranked proposals, as Markdown and YAML files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from predictors.proposals import render_markdown, render_yaml


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class MixtureProposalWriter(BasePredictionWriter):
    """Writes ``predict`` output of :class:`predictors.GPPredictor` to ``<name>.md`` and ``<name>.yaml``.

    The Markdown file opens with the predictor's verdict on whether it can rank mixtures at all.

    Args:
        output_dir: directory of the files; relative paths are under ``trainer.default_root_dir``.
        name: file stem.
        top_k: keep the best ``top_k`` proposals (None keeps all).
        base_config: the ``main.py`` config named in the ready-to-run commands.
    """

    def __init__(
        self,
        output_dir: str = ".",
        name: str = "proposals",
        top_k: int | None = 20,
        base_config: str = "configs/mix.yaml",
    ) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir, self.name, self.top_k, self.base_config = output_dir, name, top_k, base_config
        self.written: list[Path] = []

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: LightningModule, predictions: Sequence[Any], batch_indices: Sequence[Any]
    ) -> None:
        """Flattens the per-batch proposal lists (one batch in practice) and writes both files."""
        if not trainer.is_global_zero:
            return
        flat: list[dict[str, Any]] = []
        for batch in predictions:
            flat.extend(batch)
        proposals = flat if self.top_k is None else flat[: self.top_k]
        directory = Path(self.output_dir)
        if not directory.is_absolute():
            directory = Path(trainer.default_root_dir) / directory
        directory.mkdir(parents=True, exist_ok=True)
        maximize = bool(getattr(pl_module.hparams, "maximize", True))
        verdict = getattr(getattr(pl_module, "verdict", None), "sentence", None)
        md, yml = directory / f"{self.name}.md", directory / f"{self.name}.yaml"
        _atomic_write(md, render_markdown(proposals, maximize, verdict, self.base_config))
        _atomic_write(yml, render_yaml(proposals))
        self.written = [md, yml]
