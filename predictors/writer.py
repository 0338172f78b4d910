"""Writes ranked mixture proposals as Markdown and YAML, each ready for ``--data.weights``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


def _key(name: str) -> str:
    # Domain names with YAML-significant characters are quoted (JSON strings are valid YAML).
    return name if _PLAIN_KEY.fullmatch(name) else json.dumps(name)


def weights_snippet(weights: dict[str, float]) -> str:
    """The one-line YAML flow mapping to paste after ``--data.weights``."""
    return "{" + ", ".join(f"{_key(k)}: {v:.4g}" for k, v in weights.items()) + "}"


def render_markdown(proposals: Sequence[dict[str, Any]], maximize: bool = True) -> str:
    """A Markdown report: a ranked table, then one ``--data.weights`` snippet per mixture."""
    if not proposals:
        return "# Proposed mixtures\n\nNo proposals.\n"
    targets = list(proposals[0]["mean"])
    domains = list(proposals[0]["weights"])
    order = "highest" if maximize else "lowest"
    lines = [
        "# Proposed mixtures",
        "",
        f"Ranked by predicted `{targets[0]}` ({order} first); mean ± std of the GP posterior.",
        "",
        "| rank | strategies | " + " | ".join(domains) + " | " + " | ".join(targets) + " |",
        "|---|---|" + "---|" * (len(domains) + len(targets)),
    ]
    for rank, p in enumerate(proposals, 1):
        ws = " | ".join(f"{p['weights'][d]:.3f}" for d in domains)
        ys = " | ".join(f"{p['mean'][t]:.4f} ± {p['std'][t]:.4f}" for t in targets)
        lines.append(f"| {rank} | {', '.join(p['strategies'])} | {ws} | {ys} |")
    lines += ["", "## Ready to run", ""]
    for rank, p in enumerate(proposals, 1):
        lines += [f"{rank}. `python main.py fit --config configs/mix.yaml --data.weights '{weights_snippet(p['weights'])}'`"]
    return "\n".join(lines) + "\n"


def render_yaml(proposals: Sequence[dict[str, Any]]) -> str:
    """A YAML list of proposals (rank, strategies, weights, mean, std); readable by any YAML parser."""
    lines = []
    for rank, p in enumerate(proposals, 1):
        lines.append(f"- rank: {rank}")
        lines.append(f"  strategies: [{', '.join(p['strategies'])}]")
        lines.append(f"  weights: {weights_snippet(p['weights'])}")
        lines.append("  mean: {" + ", ".join(f"{_key(k)}: {v:.6g}" for k, v in p["mean"].items()) + "}")
        lines.append("  std: {" + ", ".join(f"{_key(k)}: {v:.6g}" for k, v in p["std"].items()) + "}")
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class MixtureProposalWriter(BasePredictionWriter):
    """Writes ``predict`` output of :class:`~predictors.module.GPPredictor` to ``<name>.md`` and ``<name>.yaml``.

    Args:
        output_dir: directory of the files; relative paths are under ``trainer.default_root_dir``.
        name: file stem.
        top_k: keep the best ``top_k`` proposals (None keeps all).
    """

    def __init__(self, output_dir: str = ".", name: str = "proposals", top_k: int | None = 20) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir, self.name, self.top_k = output_dir, name, top_k
        self.written: list[Path] = []

    def write_on_epoch_end(self, trainer: Trainer, pl_module: LightningModule, predictions: Sequence[Any], batch_indices: Sequence[Any]) -> None:
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
        md, yml = directory / f"{self.name}.md", directory / f"{self.name}.yaml"
        _atomic_write(md, render_markdown(proposals, maximize))
        _atomic_write(yml, render_yaml(proposals))
        self.written = [md, yml]
