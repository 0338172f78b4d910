"""Validation figures for the mixture predictor, logged to TensorBoard.

- predicted vs actual (LOO and k-fold, with 95% intervals), one figure per target;
- a simplex slice: the posterior mean while two domains vary over their triangle and the
  others keep their proportions in the best observed mixture.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures go to TensorBoard, never to a screen
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

from predictors.validation import Z95  # noqa: E402


def predicted_vs_actual(result: dict[str, Tensor], target: str) -> Figure:
    """Scatter of held-out predictions against the observed ``target`` with 95% intervals."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    actual = result["actual"].numpy()
    for key, colour in (("loo", "tab:blue"), ("kfold", "tab:orange")):
        if f"{key}_mean" in result:
            mean, std = result[f"{key}_mean"].numpy(), result[f"{key}_std"].numpy()
            ax.errorbar(actual, mean, yerr=Z95 * std, fmt="o", ms=3, alpha=0.7, color=colour, label=key)
    lo, hi = float(actual.min()), float(actual.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=f"actual {target}", ylabel=f"predicted {target}", title="held-out predictions")
    ax.legend()
    fig.tight_layout()
    return fig


def slice_grid(base: Tensor, i: int, j: int, steps: int = 41) -> tuple[Tensor, Tensor, Tensor]:
    """Mixtures on the ``(w_i, w_j)`` triangle; other domains keep ``base``'s proportions.

    Returns:
        ``(wi, wj, mixtures)``: grid coordinates (``g``) and ``g x d`` mixtures.
    """
    d = base.shape[0]
    rest = base.clone()
    rest[[i, j]] = 0
    rest = rest / rest.sum() if rest.sum() > 0 else torch.full((d,), 1.0 / max(d - 2, 1), dtype=base.dtype).index_fill(0, torch.tensor([i, j]), 0)
    ticks = torch.linspace(0, 1, steps, dtype=torch.float64)
    wi, wj = torch.meshgrid(ticks, ticks, indexing="ij")
    keep = (wi + wj) <= 1 + 1e-9
    wi, wj = wi[keep], wj[keep]
    mixtures = (1 - wi - wj).clamp_min(0).unsqueeze(-1) * rest
    mixtures[:, i], mixtures[:, j] = wi, wj
    return wi, wj, mixtures


def simplex_slice(pl_module: Any, target_index: int = 0, domains: tuple[int, int] | None = None) -> Figure:
    """Posterior mean over a two-domain slice through the best observed mixture."""
    table = pl_module.table
    surrogate = pl_module.surrogates[target_index]
    y = table.y[:, target_index]
    best = int(torch.argmax(y if surrogate.maximize else -y))
    base = table.weights[best]
    i, j = domains if domains is not None else torch.argsort(base, descending=True)[:2].tolist()
    wi, wj, mixtures = slice_grid(base, i, j)
    mean, _ = surrogate.predict(mixtures)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    art = ax.tricontourf(wi.numpy(), wj.numpy(), mean.numpy(), levels=20)
    fig.colorbar(art, ax=ax, label=f"predicted {table.targets[target_index]}")
    ax.plot([float(base[i])], [float(base[j])], "r*", ms=12, label="best observed")
    ax.set(xlabel=f"w[{table.domains[i]}]", ylabel=f"w[{table.domains[j]}]", title="simplex slice (others in proportion)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


class PredictorFigures(Callback):
    """Logs predicted-vs-actual and simplex-slice figures after each validation of a ``GPPredictor``.

    Args:
        slice_domains: the two domains of the slice; None takes the two largest weights of the best run.
    """

    def __init__(self, slice_domains: list[str] | None = None) -> None:
        if slice_domains is not None and len(slice_domains) != 2:
            raise ValueError(f"slice_domains must name exactly two domains, got {slice_domains}")
        self.slice_domains = slice_domains

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draws and logs the figures (skipped without a fitted model or a figure-capable logger)."""
        results = getattr(pl_module, "validation_results", None)
        experiment = getattr(trainer.logger, "experiment", None) if trainer.logger else None
        if not results or not hasattr(experiment, "add_figure"):
            return
        pair = None
        if self.slice_domains is not None:
            missing = [d for d in self.slice_domains if d not in pl_module.table.domains]
            if missing:
                raise ValueError(f"slice_domains {missing} are not among {pl_module.table.domains}")
            pair = tuple(pl_module.table.domains.index(d) for d in self.slice_domains)
        for k, (target, result) in enumerate(results.items()):
            experiment.add_figure(f"predictor/{target}/predicted_vs_actual", predicted_vs_actual(result, target), trainer.global_step)
            if pl_module.table.d >= 3:
                experiment.add_figure(f"predictor/{target}/simplex_slice", simplex_slice(pl_module, k, pair), trainer.global_step)
