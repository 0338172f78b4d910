"""Held-out accuracy of a mixture predictor, and whether it can rank mixtures at all.

LOO uses the GP's closed form at the fitted hyperparameters (cheap, slightly optimistic since the
hyperparameters saw every point); k-fold refits the whole model, selection included, on each
training fold. :func:`ranking_verdict` turns the held-out rank correlation into a plain sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from torch import Tensor

from predictors.run_table import RunTable

Z95 = 1.959963984540054
#: One-sided significance below which held-out predictions are said to rank the runs.
RANK_P_VALUE = 0.05


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


FitPredict = Callable[[RunTable, Tensor], tuple[Tensor, Tensor]]


def kfold_predictions(table: RunTable, fit_predict: FitPredict, folds: int = 5, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Out-of-fold ``(mean, std)`` for each of the ``n`` mixtures of ``table``.

    Args:
        table: the runs.
        fit_predict: ``(training runs, m x d held-out mixtures) -> (mean, std)``, each ``m``.
        folds: number of folds, clipped to ``n``.
        seed: shuffling seed.

    Raises:
        ValueError: fewer than 2 folds possible.
    """
    n = table.n
    k = min(folds, n)
    if k < 2:
        raise ValueError(f"k-fold needs at least 2 points and folds, got n={n}, folds={folds}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    mean = torch.empty(n, dtype=torch.float64)
    std = torch.empty(n, dtype=torch.float64)
    for test in perm.tensor_split(k):
        train = torch.ones(n, dtype=torch.bool)
        train[test] = False
        mean[test], std[test] = fit_predict(table.subset(train), table.weights[test])
    return mean, std


@dataclass(frozen=True)
class RankingVerdict:
    """Whether held-out predictions rank the runs better than chance.

    Attributes:
        can_rank: the one-sided p-value of the held-out Spearman correlation is below :data:`RANK_P_VALUE`.
        spearman: the held-out Spearman correlation (NaN when undefined).
        p_value: its one-sided p-value (1 when undefined).
        n: mixtures.
        method: which held-out predictions (``k-fold`` or ``leave-one-out``).
        sentence: the verdict in words.
    """

    can_rank: bool
    spearman: float
    p_value: float
    n: int
    method: str
    sentence: str


def ranking_verdict(pred: Tensor, actual: Tensor, method: str) -> RankingVerdict:
    """Says plainly whether the held-out predictions ``pred`` of ``actual`` (each ``n``) rank the runs.

    The test is one-sided (positive correlation) at :data:`RANK_P_VALUE`; with 5 runs even a perfect
    ranking only reaches p = 0.008, with 11 runs rho must exceed about 0.54.
    """
    p, a = pred.detach().double().cpu().numpy(), actual.detach().double().cpu().numpy()
    n = len(a)
    rho, p_value = float("nan"), 1.0
    if n >= 3 and np.ptp(a) > 0 and np.ptp(p) > 0:
        result = spearmanr(p, a, alternative="greater")
        rho, p_value = float(result.statistic), float(result.pvalue)
    can_rank = p_value < RANK_P_VALUE
    figures = f"{method} Spearman {rho:.2f} over {n} mixtures, one-sided p = {p_value:.2f}"
    if can_rank:
        sentence = f"The GP ranks held-out runs better than chance ({figures})."
    else:
        sentence = (
            f"The GP cannot rank these mixtures: its held-out predictions do not order the runs better than chance "
            f"({figures}). Treat its proposals as exploration, not as a ranking, and train more mixtures."
        )
    return RankingVerdict(can_rank, rho, p_value, n, method, sentence)
