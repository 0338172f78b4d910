"""Model-based proposals: the argmax of a fitted surrogate's predicted score on the simplex.

:func:`best_predicted` is also the recommendation rule of noisy optimisation: after the last
evaluation, report the mixture with the best predicted (posterior-mean) score among the
evaluated mixtures and a dense candidate pool, polished on the simplex, rather than the best
noisy observation, which favours lucky draws.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from predictors.run_table import RunTable
from predictors.strategies.base import ProposalStrategy, Surrogate, dirichlet_pool, to_simplex
from predictors.strategies.registry import register_strategy


def top_k_diverse(pool: Tensor, value: Tensor, k: int, min_distance: float) -> Tensor:
    """Indices of the ``k`` best rows of ``pool`` (``m x d``) by ``value`` (``m``), at least
    ``min_distance`` apart in L1 so the picks are not copies of one peak."""
    order = torch.argsort(value, descending=True)
    chosen: list[int] = []
    for i in order.tolist():
        if all(float((pool[i] - pool[j]).abs().sum()) >= min_distance for j in chosen):
            chosen.append(i)
            if len(chosen) == k:
                break
    return torch.tensor(chosen, dtype=torch.long)


def polish(surrogate: Surrogate, start: Tensor, maximize: bool) -> Tensor:
    """Local SLSQP ascent of the surrogate mean from a ``d`` start, staying on the simplex."""
    sign = -1.0 if maximize else 1.0

    def objective(w: np.ndarray) -> float:
        mean, _ = surrogate.predict(torch.from_numpy(w).unsqueeze(0))
        return sign * float(mean[0])

    d = start.shape[-1]
    result = minimize(
        objective,
        start.numpy(),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * d,
        constraints=[{"type": "eq", "fun": lambda w: float(w.sum() - 1.0)}],
        options={"maxiter": 100, "ftol": 1e-9},
    )
    candidate = to_simplex(torch.from_numpy(result.x))
    return candidate if objective(candidate.numpy()) <= objective(start.numpy()) else start


def best_predicted(
    surrogate: Surrogate,
    evaluated: Tensor,
    pool_size: int = 2048,
    num_polish: int = 3,
    min_distance: float = 0.1,
    seed: int = 0,
) -> Tensor:
    """The mixture with the best predicted score among evaluated and candidate mixtures.

    Scores ``evaluated`` (``n x d``) plus a Dirichlet pool of ``pool_size`` (with the seed
    mixtures), polishes the ``num_polish`` best distinct picks with SLSQP on the simplex and
    returns the best of the polished ones.

    Returns:
        ``d`` mixture on the simplex.

    Raises:
        ValueError: ``evaluated`` is not ``n x d`` with ``n >= 1``, or ``num_polish < 0``.
    """
    if evaluated.ndim != 2 or evaluated.shape[0] < 1:
        raise ValueError(f"evaluated must be n x d with n >= 1, got shape {tuple(evaluated.shape)}")
    if num_polish < 0:
        raise ValueError(f"num_polish must be >= 0, got {num_polish}")
    pool = torch.cat([dirichlet_pool(evaluated.shape[1], pool_size, seed=seed), evaluated.double()])
    mean, _ = surrogate.predict(pool)
    value = mean if surrogate.maximize else -mean
    best = pool[int(value.argmax())]
    if num_polish == 0:
        return best
    picks = pool[top_k_diverse(pool, value, num_polish, min_distance)]
    polished = torch.stack([polish(surrogate, p, surrogate.maximize) for p in picks])
    pm, _ = surrogate.predict(polished)
    return polished[int((pm if surrogate.maximize else -pm).argmax())]


@register_strategy("model_argmax")
class ModelArgmax(ProposalStrategy):
    """Top mixtures of a fitted surrogate's predicted mean, over a dense pool then polished.

    Args:
        num: how many mixtures (distinct peaks of the prediction).
        pool_size: Dirichlet candidates scored before polishing (seed mixtures are added).
        concentration: Dirichlet concentration of the pool.
        min_distance: smallest L1 distance between two proposals.
        refine: polish each pick with SLSQP on the simplex.
        seed: pool seed.
    """

    needs_surrogate = True

    def __init__(
        self,
        num: int = 1,
        pool_size: int = 4096,
        concentration: float = 1.0,
        min_distance: float = 0.1,
        refine: bool = True,
        seed: int = 0,
    ) -> None:
        if num < 1 or pool_size < 1:
            raise ValueError(f"num and pool_size must be >= 1, got {num}, {pool_size}")
        self.num, self.pool_size, self.concentration = num, pool_size, concentration
        self.min_distance, self.refine, self.seed = min_distance, refine, seed

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """``k x d`` mixtures, best predicted first (``k <= num``)."""
        if surrogate is None:
            raise ValueError("model_argmax needs a fitted surrogate")
        pool = torch.cat([dirichlet_pool(table.d, self.pool_size, self.concentration, self.seed), table.weights])
        mean, _ = surrogate.predict(pool)
        value = mean if surrogate.maximize else -mean
        if not self.refine:
            return pool[top_k_diverse(pool, value, self.num, self.min_distance)]
        # Polishing sends picks near one peak to the same point: keep a polished pick only while it stays
        # min_distance from those kept, else its unpolished pick if that does, else go down the ranking.
        kept: list[Tensor] = []
        for raw in pool[top_k_diverse(pool, value, 4 * self.num, self.min_distance)]:
            for candidate in (polish(surrogate, raw, surrogate.maximize), raw):
                if all(float((candidate - k).abs().sum()) >= self.min_distance for k in kept):
                    kept.append(candidate)
                    break
            if len(kept) == self.num:
                break
        return torch.stack(kept)
