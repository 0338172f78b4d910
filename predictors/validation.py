"""Held-out accuracy of a mixture predictor: Spearman, Pearson, MAE, 95%-interval coverage.

LOO uses the GP's closed form at the fitted hyperparameters (cheap, slightly optimistic
since the hyperparameters saw every point); k-fold refits the whole model, selection
included, on each training fold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from torch import Tensor

Z95 = 1.959963984540054


def regression_metrics(pred: Tensor, std: Tensor | None, actual: Tensor) -> dict[str, float]:
    """Spearman, Pearson, MAE and (with ``std``) 95%-interval coverage for ``n`` predictions.

    Correlations are NaN for fewer than 3 points or constant inputs.
    """
    p = pred.detach().double().cpu().numpy()
    a = actual.detach().double().cpu().numpy()
    out = {"mae": float(np.abs(p - a).mean())}
    enough = len(a) >= 3 and np.ptp(a) > 0 and np.ptp(p) > 0
    out["spearman"] = float(spearmanr(p, a).statistic) if enough else float("nan")
    out["pearson"] = float(pearsonr(p, a).statistic) if enough else float("nan")
    if std is not None:
        s = std.detach().double().cpu().numpy()
        out["coverage95"] = float((np.abs(p - a) <= Z95 * s).mean())
    return out


FitPredict = Callable[[Tensor, Tensor, Tensor | None, Tensor], tuple[Tensor, Tensor]]


def kfold_predictions(
    x: Tensor, y: Tensor, noise: Tensor | None, fit_predict: FitPredict, folds: int = 5, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Out-of-fold ``(mean, std)`` for each of ``n`` points.

    Args:
        x: ``n x d`` mixtures.
        y: ``n`` targets.
        noise: ``n`` noise variances or None.
        fit_predict: ``(x_train, y_train, noise_train, x_test) -> (mean, std)``.
        folds: number of folds, clipped to ``n``.
        seed: shuffling seed.

    Raises:
        ValueError: fewer than 2 folds possible.
    """
    n = x.shape[0]
    k = min(folds, n)
    if k < 2:
        raise ValueError(f"k-fold needs at least 2 points and folds, got n={n}, folds={folds}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    mean = torch.empty(n, dtype=torch.float64)
    std = torch.empty(n, dtype=torch.float64)
    for test in perm.tensor_split(k):
        train = torch.ones(n, dtype=torch.bool)
        train[test] = False
        m, s = fit_predict(x[train], y[train], None if noise is None else noise[train], x[test])
        mean[test], std[test] = m, s
    return mean, std
