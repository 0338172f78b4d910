"""A parametric "peak" mean for the mixture GP: a linear trend plus one isotropic Gaussian peak.

A stationary GP with a constant mean reverts to that constant away from the data, so its
posterior mean peaks at (or next to) the best evaluated mixture: when the seed runs only see
the flank of a narrow optimum, the GP cannot say where the top is and sequential BO creeps
towards it a few hundredths per run. A parametric peak extrapolates instead: the flank
heights of several runs pin down the centre, as in a response-surface fit. The mean is

    m(w) = b . w + h * exp(-|w - c|^2 / (2 s^2))

with ``b`` the Scheffé linear trend (no intercept: ``sum(w) = 1`` makes it collinear), height
``0 <= h <= MAX_HEIGHT_RATIO x`` the observed range of the targets, centre ``c`` (free in R^d: the fitted
peak may sit just off the simplex, the recommendation is clipped to it anyway) and width ``s`` in
``[MIN_WIDTH, MAX_WIDTH]``. A wide
peak is a concave isotropic quadratic, so the family also covers smooth interior optima; the
GP models whatever the peak does not explain. It acts on raw simplex weights (not on warped
inputs) so the width means the same on every warp.

The centre makes the marginal likelihood multi-modal, so :func:`prefit_peak` first fits the
mean alone by least squares from many starts (the best runs and Dirichlet draws) and the GP
fit starts from that solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from gpytorch.constraints import Interval, Positive
from gpytorch.means import Mean
from scipy.optimize import least_squares
from torch import Tensor

MIN_WIDTH = 0.03
MAX_WIDTH = 1.5
#: Largest peak height, in multiples of the observed range (max - min) of the targets. Unbounded, a narrow
#: peak fitted to noisy, nearly flat runs grows without limit: on 11 runs of pure noise the least-squares
#: height reached 40-9,000 observed standard deviations, and on the search benchmark's 11 seed runs 5,337,
#: forecasting the next runs thousands of standard deviations off. A top seen only on its flanks needs more
#: than the range, but not much more (2.3x in ``tests/test_predictors_means.py``'s flank case).
MAX_HEIGHT_RATIO = 4.0
#: Ridge weight on the trend in the least-squares prefit: with ~2d + 2 parameters and ~2d + 1
#: runs the problem is barely determined, and a small pull to zero keeps the trend tame.
_PREFIT_RIDGE = 1e-2


class PeakMean(Mean):
    """``m(w) = b . w + h exp(-|w - c|^2 / (2 s^2))`` on ``... x n x d`` simplex weights.

    Args:
        d: number of domains.
        unwarp: maps the model's (warped) inputs back to simplex weights, e.g.
            :meth:`predictors.gp_model.SimplexWarp.untransform`; None when the inputs are the weights.
    """

    def __init__(self, d: int, unwarp: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        if d < 1:
            raise ValueError(f"PeakMean needs d >= 1 domains, got {d}")
        self._unwarp = unwarp
        self.register_parameter("trend", torch.nn.Parameter(torch.zeros(d)))
        self.register_parameter("center", torch.nn.Parameter(torch.full((d,), 1.0 / d)))
        self.register_parameter("raw_height", torch.nn.Parameter(torch.zeros(())))
        self.register_parameter("raw_width", torch.nn.Parameter(torch.zeros(())))
        self.register_constraint("raw_height", Positive())
        self.register_constraint("raw_width", Interval(MIN_WIDTH, MAX_WIDTH))

    @property
    def height(self) -> Tensor:
        return self.raw_height_constraint.transform(self.raw_height)

    @property
    def width(self) -> Tensor:
        return self.raw_width_constraint.transform(self.raw_width)

    def initialize_from(self, trend: Tensor, height: float, center: Tensor, width: float) -> None:
        """Sets the parameters (e.g. to a :func:`prefit_peak` solution)."""
        with torch.no_grad():
            self.trend.copy_(trend)
            self.center.copy_(center)
            self.raw_height.copy_(
                self.raw_height_constraint.inverse_transform(torch.tensor(max(height, 1e-6)).to(self.raw_height))
            )
            w = min(max(width, MIN_WIDTH * 1.01), MAX_WIDTH * 0.99)
            self.raw_width.copy_(self.raw_width_constraint.inverse_transform(torch.tensor(w).to(self.raw_width)))

    def forward(self, x: Tensor) -> Tensor:
        """The mean at ``... x n x d`` model inputs."""
        if self._unwarp is not None:
            x = self._unwarp(x)
        sq = ((x - self.center) ** 2).sum(-1)
        return x @ self.trend + self.height * torch.exp(-sq / (2 * self.width**2))


def _projected_fit(
    w: np.ndarray, t: np.ndarray, centers: np.ndarray, widths: np.ndarray, max_height: float = math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``(trend, height)`` for each of ``K`` ``(center, width)`` pairs, by ridge least squares.

    Given the centre and width the mean is linear in the trend and the height (variable
    projection), so every candidate costs one small solve. A negative height is refitted as
    trend only (a dip is not a peak); a height above ``max_height`` is held there and the trend
    refitted to what the peak leaves (the constrained optimum: the problem is convex in both).

    Returns:
        ``(coef, sse)``: ``K x (d + 1)`` trend and height, ``K`` penalised residual sums of squares.
    """
    n, d = w.shape
    bump = np.exp(-((w[None] - centers[:, None]) ** 2).sum(-1) / (2 * widths[:, None] ** 2))  # K x n
    design = np.concatenate([np.broadcast_to(w, (len(centers), n, d)), bump[..., None]], axis=-1)  # K x n x (d+1)
    ridge = np.diag(np.r_[np.full(d, _PREFIT_RIDGE), 1e-9])
    gram = design.transpose(0, 2, 1) @ design + ridge
    coef = np.linalg.solve(gram, (design.transpose(0, 2, 1) @ t)[..., None])[..., 0]
    trend_only = np.linalg.solve(w.T @ w + ridge[:d, :d], w.T @ t)
    negative = coef[:, d] < 0
    coef[negative] = np.r_[trend_only, 0.0]
    high = coef[:, d] > max_height
    if high.any():
        rest = t - max_height * bump[high]  # k x n
        coef[high, :d] = np.linalg.solve(w.T @ w + ridge[:d, :d], w.T @ rest.T).T
        coef[high, d] = max_height
    resid = (design @ coef[..., None])[..., 0] - t
    sse = (resid**2).sum(-1) + _PREFIT_RIDGE * (coef[:, :d] ** 2).sum(-1)
    return coef, sse


def prefit_peak(
    x: Tensor, y: Tensor, num_random: int = 4096, num_refine: int = 4, seed: int = 0, start: Tensor | None = None
) -> tuple[Tensor, float, Tensor, float]:
    """Least-squares fit of the peak mean alone: a dense multi-start, then local refinement.

    Every start (the runs themselves, Dirichlet draws, a few widths) is scored with its best
    trend and height (:func:`_projected_fit`); the ``num_refine`` best distinct starts are
    refined over centre and log-width with SciPy's least squares.

    Args:
        x: ``n x d`` mixtures.
        y: ``n`` standardised targets (higher is better); the height is at most ``MAX_HEIGHT_RATIO`` times
            their range.
        num_random: Dirichlet starting centres added to the runs.
        num_refine: starts refined locally.
        seed: seed of the random starts.
        start: an extra ``d`` starting centre (e.g. the fit on all runs, when refitting on fewer).

    Returns:
        ``(trend, height, center, width)``.
    """
    w, t = x.detach().cpu().double().numpy(), y.detach().cpu().double().numpy()
    d = w.shape[1]
    max_height = MAX_HEIGHT_RATIO * max(float(np.ptp(t)), 1e-12)
    rng = np.random.default_rng(seed)
    extra = [] if start is None else [start.detach().cpu().double().numpy().reshape(1, d)]
    base = np.concatenate([*extra, w, rng.dirichlet(np.ones(d), num_random)])
    grid = np.array([0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0])
    centers, widths = np.repeat(base, len(grid), axis=0), np.tile(grid, len(base))
    _, sse = _projected_fit(w, t, centers, widths, max_height)

    def residuals(p: np.ndarray) -> np.ndarray:
        coef, _ = _projected_fit(w, t, p[None, :d], np.exp(p[d:]), max_height)
        resid = w @ coef[0, :d] + coef[0, d] * np.exp(-((w - p[:d]) ** 2).sum(-1) / (2 * np.exp(2 * p[d]))) - t
        return np.r_[resid, math.sqrt(_PREFIT_RIDGE) * coef[0, :d]]

    lower = np.r_[np.full(d, -0.5), math.log(MIN_WIDTH)]
    upper = np.r_[np.full(d, 1.5), math.log(MAX_WIDTH)]
    best: tuple[float, np.ndarray] | None = None
    tried: list[np.ndarray] = []
    for i in np.argsort(sse):
        if len(tried) == num_refine:
            break
        if any(np.abs(centers[i] - c).sum() < 0.1 for c in tried):
            continue  # refine distinct basins only
        tried.append(centers[i])
        p0 = np.clip(np.r_[centers[i], math.log(widths[i])], lower + 1e-9, upper - 1e-9)
        fit = least_squares(residuals, p0, bounds=(lower, upper), max_nfev=100 * (d + 1))
        if best is None or fit.cost < best[0]:
            best = (float(fit.cost), fit.x)
    assert best is not None
    center, width = best[1][:d], float(np.exp(best[1][d]))
    coef, _ = _projected_fit(w, t, center[None], np.array([width]), max_height)
    return torch.from_numpy(coef[0, :d].copy()), float(coef[0, d]), torch.from_numpy(center.copy()), width


def peak_values(params: tuple[Tensor, float, Tensor, float], x: Tensor) -> Tensor:
    """The peak mean with ``params = (trend, height, center, width)`` at ``m x d`` mixtures."""
    trend, height, center, width = params
    return x @ trend + height * torch.exp(-((x - center) ** 2).sum(-1) / (2 * width**2))
