"""Figures of the mixture optimiser (matplotlib, headless), drawn from data, never from a module.

Used by the predictor's callback (``callbacks.PredictorFigures``, to TensorBoard) and by the mixture
search's report (PNG files and TensorBoard):

- :func:`predicted_vs_actual`: held-out predictions (LOO, k-fold) against the runs, 95% intervals;
- :func:`simplex_slice`: the posterior mean while two domains vary over their triangle and the others
  keep their proportions in the best observed mixture;
- :func:`scores_figure`, :func:`weights_figure`, :func:`comparison_figure`: the search's runs, its
  chosen mixture, and that mixture against uniform and the base model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and TensorBoard, never to a screen
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

from predictors.run_table import RunTable  # noqa: E402
from predictors.strategies.base import Surrogate  # noqa: E402
from predictors.validation import Z95  # noqa: E402


def predicted_vs_actual(result: Mapping[str, Tensor], target: str) -> Figure:
    """Held-out predictions against the observed ``target`` with 95% intervals.

    Args:
        result: ``actual`` (``n``) and any of ``loo_mean``/``loo_std``, ``kfold_mean``/``kfold_std``.
        target: the target's name (axis labels).
    """
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    actual = result["actual"].numpy()
    lo, hi = float(actual.min()), float(actual.max())
    for key, colour in (("loo", "tab:blue"), ("kfold", "tab:orange")):
        if f"{key}_mean" in result:
            mean, std = result[f"{key}_mean"].numpy(), result[f"{key}_std"].numpy()
            ax.errorbar(actual, mean, yerr=Z95 * std, fmt="o", ms=3, alpha=0.7, color=colour, label=key)
            lo, hi = min(lo, float(mean.min())), max(hi, float(mean.max()))
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
    rest = (
        rest / rest.sum()
        if rest.sum() > 0
        else torch.full((d,), 1.0 / max(d - 2, 1), dtype=base.dtype).index_fill(0, torch.tensor([i, j]), 0)
    )
    ticks = torch.linspace(0, 1, steps, dtype=torch.float64)
    wi, wj = torch.meshgrid(ticks, ticks, indexing="ij")
    keep = (wi + wj) <= 1 + 1e-9
    wi, wj = wi[keep], wj[keep]
    mixtures = (1 - wi - wj).clamp_min(0).unsqueeze(-1) * rest
    mixtures[:, i], mixtures[:, j] = wi, wj
    return wi, wj, mixtures


def simplex_slice(
    surrogate: Surrogate, table: RunTable, target_index: int = 0, domains: tuple[int, int] | None = None
) -> Figure:
    """Posterior mean over a two-domain slice through the best observed mixture.

    Args:
        surrogate: the fitted model of target ``target_index``.
        table: its runs.
        target_index: the target column.
        domains: the slice's two domain indices; None takes the two largest weights of the best run.
    """
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
    ax.set(
        xlabel=f"w[{table.domains[i]}]", ylabel=f"w[{table.domains[j]}]", title="simplex slice (others in proportion)"
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def scores_figure(
    labels: Sequence[str], in_scores: Sequence[float], out_scores: Sequence[float], target: str
) -> Figure:
    """Out-Score and In-Score of every run (one bar pair per label), in the order given."""
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(labels) + 1.5))
    y = range(len(labels))
    ax.barh([i + 0.2 for i in y], list(out_scores), height=0.4, label="Out-Score")
    ax.barh([i - 0.2 for i in y], list(in_scores), height=0.4, label="In-Score")
    ax.set_yticks(list(y), list(labels), fontsize=7)
    ax.set(xlabel="score", title=f"every run, sorted by {target}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def weights_figure(weights: Mapping[str, float]) -> Figure:
    """A mixture's weights against uniform."""
    domains = list(weights)
    fig, ax = plt.subplots(figsize=(1.0 * len(domains) + 2, 3))
    ax.bar(domains, [weights[d] for d in domains])
    ax.axhline(1 / len(domains), color="k", ls="--", lw=1, label="uniform")
    ax.set(ylabel="weight", title="chosen mixture")
    ax.legend()
    fig.tight_layout()
    return fig


def comparison_figure(rows: Mapping[str, tuple[float, float]]) -> Figure:
    """In-/Out-Score of named mixtures (e.g. recommended, uniform, base model)."""
    names = list(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [rows[n][0] for n in names], width=0.4, label="In-Score")
    ax.bar([x + 0.2 for x in xs], [rows[n][1] for n in names], width=0.4, label="Out-Score")
    ax.set_xticks(list(xs), names)
    ax.set(ylabel="score", title="recommended vs uniform vs base model")
    ax.legend()
    fig.tight_layout()
    return fig
