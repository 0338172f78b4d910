"""``PredictorSummary``: what the mixture predictor found, printed after ``fit`` and ``predict``.

After ``fit``: the data, the chosen GP, its held-out accuracy, whether it can rank the mixtures at all
(:func:`predictors.validation.ranking_verdict`), the best trained mixture and the files written. After
``predict``: the verdict again, the best proposals with the command that trains each, and the proposal
files.
"""

from __future__ import annotations

import math
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from predictors.proposals import console_lines, weights_snippet


def _fmt(metrics: dict[str, float], key: str, digits: int = 4) -> str:
    value = metrics.get(key, math.nan)
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


class PredictorSummary(Callback):
    """Prints a short summary of a ``GPPredictor``'s ``fit`` and ``predict``.

    Args:
        top: proposals printed after ``predict``.
        base_config: the ``main.py`` config named in the printed commands.
    """

    def __init__(self, top: int = 5, base_config: str = "configs/mix.yaml") -> None:
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        self.top, self.base_config = top, base_config
        self.printed: list[str] = []

    def _say(self, lines: list[str]) -> None:
        self.printed = lines
        print("\n".join(lines), flush=True)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Prints the fit: data, model, held-out accuracy, verdict, best trained mixture, files."""
        table, surrogates = getattr(pl_module, "table", None), getattr(pl_module, "surrogates", [])
        if table is None or not surrogates:
            return
        source = getattr(trainer.datamodule, "record_dir", "the records")
        s = surrogates[0]
        target = table.targets[0]
        lines = [
            f"Mixture predictor: a GP on {table.n} mixtures from {source} (target {target}; kernel "
            f"{s.model.kernel_name}, mean {s.mean}, warp {s.warp}, lengthscale prior {s.prior})."
        ]
        for name, result in getattr(pl_module, "validation_results", {}).items():
            m = result.get("metrics", {})
            held = f"  {name}: leave-one-out Spearman {_fmt(m, 'loo_spearman', 2)}, MAE {_fmt(m, 'loo_mae')}"
            if "kfold_mae" in m:
                held += (
                    f"; k-fold Spearman {_fmt(m, 'kfold_spearman', 2)}, MAE {_fmt(m, 'kfold_mae')}, "
                    f"95% coverage {_fmt(m, 'kfold_coverage95', 2)}"
                )
            lines.append(held)
        verdict = getattr(pl_module, "verdict", None)
        if verdict is not None:
            lines.append(f"  {verdict.sentence}")
        y = table.y[:, 0]
        best = int(y.argmax() if pl_module.hparams.maximize else y.argmin())
        best_weights = {d: round(float(w), 4) for d, w in zip(table.domains, table.weights[best], strict=False)}
        lines.append(f"  best trained mixture: {target} {float(y[best]):.4f} at {weights_snippet(best_weights)}")
        path = pl_module.resolved_checkpoint_path()
        if path is not None:
            lines.append(f"  saved: {path}")
        if trainer.logger is not None and getattr(trainer.logger, "log_dir", None):
            lines.append(f"  TensorBoard: tensorboard --logdir {trainer.logger.log_dir}")
        lines.append("  next: python main.py predict with the same --config and options")
        self._say(lines)

    @rank_zero_only
    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Prints the verdict, the best proposals with their commands, and the proposal files."""
        proposals = getattr(pl_module, "proposals", [])
        table = getattr(pl_module, "table", None)
        if table is None:
            return
        left_out = getattr(pl_module, "left_out_trained", 0)
        lines = [
            f"Mixture predictor: {len(proposals)} proposal(s) ranked by predicted {table.targets[0]}"
            + (f" ({left_out} already-trained mixture(s) left out)" if left_out else "")
            + ":"
        ]
        verdict = getattr(pl_module, "verdict", None)
        if verdict is not None:
            lines.append(f"  {verdict.sentence}")
        lines += console_lines(proposals, self.top, self.base_config)
        written = [str(p) for c in trainer.callbacks for p in getattr(c, "written", []) if isinstance(p, Path)]
        if written:
            lines.append(f"  written: {', '.join(written)}")
        self._say(lines)
