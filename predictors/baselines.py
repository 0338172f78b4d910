"""Linear and quadratic baselines in Scheffé form, identifiable on the simplex.

On the simplex ``sum_i w_i = 1``, so an intercept plus a full linear term is collinear
(the paper's ``a + b.w + w^T C w`` has infinitely many least-squares solutions). The Scheffé
canonical polynomials drop the intercept and the squares instead:

- linear: ``f(w) = sum_i b_i w_i``  (``d`` coefficients; ``b_i`` is the score of domain ``i`` alone)
- quadratic: ``f(w) = sum_i b_i w_i + sum_{i<j} c_ij w_i w_j``  (``d + d(d-1)/2`` coefficients)

and span exactly the same functions on the simplex as the paper's forms. Coefficients come
from ridge-regularised least squares; ``ridge=None`` picks the penalty from a log grid by
closed-form leave-one-out error, which also makes the under-determined case (fewer runs
than coefficients) well posed. ``ridge=0`` is ordinary least squares (minimum-norm when
under-determined).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

_RIDGE_GRID = torch.logspace(-8, 2, 21, dtype=torch.float64)


def scheffe_features(weights: Tensor, degree: int) -> Tensor:
    """Scheffé design matrix: ``m x d`` mixtures to ``m x p`` features (``p = d`` or ``d + d(d-1)/2``)."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    if degree == 1:
        return w
    if degree == 2:
        pairs = list(itertools.combinations(range(w.shape[-1]), 2))
        if not pairs:
            return w
        i, j = zip(*pairs, strict=False)
        return torch.cat([w, w[:, list(i)] * w[:, list(j)]], dim=-1)
    raise ValueError(f"degree must be 1 or 2, got {degree}")


def _ridge_solve(phi: Tensor, y: Tensor, lam: float) -> Tensor:
    if lam == 0:
        return torch.linalg.lstsq(phi, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    p = phi.shape[-1]
    return torch.linalg.solve(phi.T @ phi + lam * torch.eye(p, dtype=phi.dtype), phi.T @ y)


def _loo_mse(phi: Tensor, y: Tensor, lam: float) -> float:
    # Hat matrix H = phi (phi^T phi + lam I)^-1 phi^T; LOO residual = r_i / (1 - H_ii).
    p = phi.shape[-1]
    hat = phi @ torch.linalg.solve(phi.T @ phi + lam * torch.eye(p, dtype=phi.dtype), phi.T)
    resid = y - hat @ y
    denom = (1 - hat.diagonal()).clamp_min(1e-9)
    return float(((resid / denom) ** 2).mean())


class ScheffePolynomial:
    """Scheffé polynomial regression of a score on mixture weights.

    Args:
        degree: 1 (linear) or 2 (quadratic with pairwise interactions).
        ridge: penalty on the coefficients; None chooses it by leave-one-out error.
        maximize: whether higher scores are better (used by strategies that take an argmax).
    """

    def __init__(self, degree: int = 2, ridge: float | None = None, maximize: bool = True) -> None:
        if degree not in (1, 2):
            raise ValueError(f"degree must be 1 or 2, got {degree}")
        if ridge is not None and ridge < 0:
            raise ValueError(f"ridge must be >= 0 or None, got {ridge}")
        self.degree = degree
        self.ridge = ridge
        self.maximize = maximize
        self.coef: Tensor | None = None
        self.ridge_used: float | None = None

    def fit(self, weights: Tensor, y: Tensor) -> ScheffePolynomial:
        """Fits on ``n x d`` mixtures and ``n`` scores.

        Raises:
            ValueError: shapes disagree or values are not finite.
        """
        w = torch.as_tensor(weights, dtype=torch.float64)
        yy = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if w.ndim != 2 or w.shape[0] != yy.shape[0] or w.shape[0] == 0:
            raise ValueError(f"weights must be n x d and y length n; got {tuple(w.shape)} and {tuple(yy.shape)}")
        if not (torch.isfinite(w).all() and torch.isfinite(yy).all()):
            raise ValueError("weights and scores must be finite")
        phi = scheffe_features(w, self.degree)
        if self.ridge is None:
            # Scale the grid by the feature energy so the penalty means the same for any d.
            energy = float((phi**2).sum() / phi.shape[-1]) or 1.0
            losses = [(_loo_mse(phi, yy, float(lam) * energy), float(lam) * energy) for lam in _RIDGE_GRID]
            lam = min(losses)[1]
        else:
            lam = self.ridge
        self.ridge_used = lam
        self.coef = _ridge_solve(phi, yy, lam)
        return self

    def predict(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Predicted score at ``m x d`` mixtures; the std is zero (no uncertainty model).

        Returns:
            ``(mean, std)``, each ``m``.
        """
        if self.coef is None:
            raise RuntimeError("fit() the model before predict()")
        mean = scheffe_features(torch.as_tensor(weights, dtype=torch.float64), self.degree) @ self.coef
        return mean, torch.zeros_like(mean)


def LinearScheffe(ridge: float | None = None, maximize: bool = True) -> ScheffePolynomial:  # noqa: N802
    """Linear baseline ``sum_i b_i w_i``."""
    return ScheffePolynomial(degree=1, ridge=ridge, maximize=maximize)


def QuadraticScheffe(ridge: float | None = None, maximize: bool = True) -> ScheffePolynomial:  # noqa: N802
    """The paper's quadratic in identifiable form ``sum_i b_i w_i + sum_{i<j} c_ij w_i w_j``."""
    return ScheffePolynomial(degree=2, ridge=ridge, maximize=maximize)
