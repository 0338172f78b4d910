"""Gaussian-process surrogate of score(mixture) on the simplex.

The model is the canonical GPyTorch ``ExactGP`` (``mean_module``, ``covar_module``,
``forward -> MultivariateNormal``), mixed with BoTorch's ``GPyTorchModel`` so BoTorch
acquisition functions can use it directly. Everything runs in float64: mixtures differ
by small weights and the kernel matrices of near-duplicate mixtures are ill-conditioned
in float32.

Lengthscale priors. Inputs live on the simplex, whose diameter is sqrt(2) whatever the
number of domains. BoTorch's default dimension-scaled prior (LogNormal with median about
sqrt(2 d)) assumes functions far smoother than that: on 5-17 domains it pushes lengthscales
beyond the simplex's diameter, which switches domains off. We therefore fit the GP under a
few LogNormal priors (and input warps) (``median`` in simplex units, log-scale 1) and keep the one with the
best closed-form leave-one-out log predictive density (Rasmussen & Williams, 5.4.2), a
criterion that rewards calibrated held-out prediction rather than in-sample evidence.
The dimension-scaled prior stays in the default candidate set as ``"dim_scaled"`` so the
selection can still pick it when the data are that smooth.

Mean functions. ``constant`` (default), ``linear``, or ``peak``: a linear trend plus one
fitted Gaussian peak (:mod:`predictors.means`), which lets the GP extrapolate to a narrow
optimum that the seed runs only see on its flanks. Several candidates may be given; the LOO
selection then refits the peak without each held-out run, so its ``2d + 2`` parameters are
not scored in-sample. In a sequential search, :mod:`predictors.selection` chooses the mean
by forecast error of the proposed runs instead, which can validate the peak with few runs.

Noise floor. ``noise_floor`` (original units) bounds the observation noise from below; see
:class:`GPSurrogate`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models.gpytorch import GPyTorchModel
from gpytorch.constraints import GreaterThan
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood, GaussianLikelihood, Likelihood
from gpytorch.means import ConstantMean, LinearMean, Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.models import ExactGP
from gpytorch.priors import GammaPrior, LogNormalPrior, Prior
from torch import Tensor

from predictors.means import PeakMean, leave_one_out_means, prefit_peak

#: Kernel builders by name: ``(d, lengthscale_prior) -> Kernel`` with one lengthscale per domain (ARD).
KERNELS: dict[str, Callable[[int, Prior | None], Kernel]] = {
    "rbf": lambda d, p: RBFKernel(ard_num_dims=d, lengthscale_prior=p),
    "matern12": lambda d, p: MaternKernel(nu=0.5, ard_num_dims=d, lengthscale_prior=p),
    "matern32": lambda d, p: MaternKernel(nu=1.5, ard_num_dims=d, lengthscale_prior=p),
    "matern52": lambda d, p: MaternKernel(nu=2.5, ard_num_dims=d, lengthscale_prior=p),
}
KernelName = Literal["rbf", "matern12", "matern32", "matern52"]
WarpName = Literal["none", "sqrt", "log"]
MeanName = Literal["constant", "linear", "peak"]
MEAN_NAMES: tuple[str, ...] = get_args(MeanName)
PriorSpec = float | Literal["dim_scaled", "none"]
DEFAULT_PRIORS: tuple[PriorSpec, ...] = (0.1, 0.3, 1.0, "dim_scaled")
_LOG_EPS = 1e-3  # weights below ~0.1% count as "absent" under the log warp
_SQRT_EPS = 1e-4
DEFAULT_WARPS: tuple[str, ...] = ("none", "sqrt")
MIN_NOISE = 1e-6  # standardised units: only keeps the kernel matrix invertible


def warp_inputs(weights: Tensor, warp: str) -> Tensor:
    """Maps ``... x d`` simplex weights to model inputs, all in ``[0, 1]``.

    ``sqrt`` and ``log`` stretch small weights: going from 0% to 1% of a domain usually
    changes a run more than going from 40% to 41%.
    """
    if warp == "none":
        return weights
    if warp == "sqrt":
        # The offset keeps the gradient finite at w = 0 (acquisition optimisers need it).
        lo, hi = math.sqrt(_SQRT_EPS), math.sqrt(1 + _SQRT_EPS)
        return ((weights.clamp_min(0) + _SQRT_EPS).sqrt() - lo) / (hi - lo)
    if warp == "log":
        return (torch.log(weights.clamp_min(0) + _LOG_EPS) - math.log(_LOG_EPS)) / -math.log(_LOG_EPS)
    raise ValueError(f"unknown warp {warp!r}; valid: none, sqrt, log")


def lengthscale_prior(spec: PriorSpec, d: int) -> Prior | None:
    """The lengthscale prior for ``spec``: a LogNormal median, ``dim_scaled`` or ``none``."""
    if spec == "none":
        return None
    if spec == "dim_scaled":  # BoTorch's default since 0.12 (Hvarfner et al., 2024)
        return LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(d), scale=math.sqrt(3))
    if isinstance(spec, (int, float)) and not isinstance(spec, bool) and spec > 0:
        return LogNormalPrior(loc=math.log(float(spec)), scale=1.0)
    raise ValueError(f"lengthscale prior must be a positive median, 'dim_scaled' or 'none', got {spec!r}")


class MixtureGP(ExactGP, GPyTorchModel):
    """Exact GP on (optionally warped) simplex weights, one output.

    Args:
        train_x: ``n x d`` mixtures.
        train_y: ``n`` standardised targets (higher is better).
        likelihood: Gaussian likelihood (learned or fixed per-point noise).
        kernel: a name in :data:`KERNELS`.
        prior: lengthscale prior spec (see :func:`lengthscale_prior`).
        warp: input warp (see :func:`warp_inputs`).
        mean: ``constant``, ``linear`` (linear in the warped weights) or ``peak``
            (:class:`predictors.means.PeakMean` on the raw weights).
    """

    _num_outputs = 1

    def __init__(
        self,
        train_x: Tensor,
        train_y: Tensor,
        likelihood: Likelihood,
        kernel: KernelName = "matern52",
        prior: PriorSpec = 0.3,
        warp: WarpName = "none",
        mean: MeanName = "constant",
    ) -> None:
        super().__init__(train_x, train_y, likelihood)
        d = train_x.shape[-1]
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; valid: {sorted(KERNELS)}")
        if mean not in MEAN_NAMES:
            raise ValueError(f"unknown mean {mean!r}; valid: {', '.join(MEAN_NAMES)}")
        self.warp, self.mean_name = warp, mean
        self.mean_module: Mean = {"linear": LinearMean, "peak": PeakMean}[mean](d) if mean != "constant" else ConstantMean()
        self.covar_module = ScaleKernel(KERNELS[kernel](d, lengthscale_prior(prior, d)))
        self.to(train_x)

    def forward(self, x: Tensor) -> MultivariateNormal:
        """Prior at ``... x m x d`` mixtures: a ``MultivariateNormal`` over ``m`` points."""
        z = warp_inputs(x, self.warp)
        mean = self.mean_module(x if self.mean_name == "peak" else z)
        return MultivariateNormal(mean, self.covar_module(z))


def make_likelihood(noise: Tensor | None, floor: float = MIN_NOISE) -> Likelihood:
    """Learned homoscedastic noise, or fixed per-point ``n`` noise plus a learned extra term.

    Args:
        noise: fixed per-point variances (standardised units), or None to learn one.
        floor: the smallest noise variance (standardised units), see :class:`GPSurrogate`.
    """
    floor = max(float(floor), MIN_NOISE)
    if noise is None:
        return GaussianLikelihood(noise_prior=GammaPrior(1.1, 0.05), noise_constraint=GreaterThan(floor))
    return FixedNoiseGaussianLikelihood(noise=noise.clamp_min(floor), learn_additional_noise=True)


def loo_predictive(model: MixtureGP) -> tuple[Tensor, Tensor]:
    """Closed-form leave-one-out mean and variance at the training points (hyperparameters fixed).

    A ``peak`` mean carrying ``loo_mean_rows`` (row ``i``: the mean refitted without run ``i``,
    see :func:`predictors.means.leave_one_out_means`) is left out with its run too.

    Returns:
        ``(mean, var)``, each ``n``, in the model's (standardised) units.
    """
    x, y = model.train_inputs[0], model.train_targets
    model.train()
    with torch.no_grad():
        prior = model.likelihood(model(x), [x]) if isinstance(model.likelihood, FixedNoiseGaussianLikelihood) else model.likelihood(model(x))
        cov = prior.covariance_matrix
        resid = y - prior.mean
        chol = torch.linalg.cholesky(cov + 1e-9 * torch.eye(cov.shape[-1], dtype=cov.dtype))
        k_inv = torch.cholesky_inverse(chol)
        diag = k_inv.diagonal()
        rows = getattr(model, "loo_mean_rows", None)
        if rows is None:
            alpha = k_inv @ resid
        else:  # held-out run i gets the prior mean m_{-i}: residuals against it, then the same formula
            alpha = ((y.unsqueeze(0) - rows) @ k_inv).diagonal()
    model.eval()
    return y - alpha / diag, 1.0 / diag


def loo_log_density(model: MixtureGP) -> float:
    """Mean leave-one-out log predictive density of the training targets."""
    mu, var = loo_predictive(model)
    y = model.train_targets
    return float((-0.5 * torch.log(2 * math.pi * var) - 0.5 * (y - mu) ** 2 / var).mean())


def fit_mixture_gp(
    x: Tensor,
    y: Tensor,
    noise: Tensor | None = None,
    kernel: KernelName = "matern52",
    prior: PriorSpec = 0.3,
    warp: WarpName = "none",
    mean: MeanName = "constant",
    peak_init: tuple[Tensor, float, Tensor, float] | None = None,
    noise_floor: float = MIN_NOISE,
) -> MixtureGP:
    """Fits one GP by maximum a posteriori (BoTorch's L-BFGS-B fit of the marginal likelihood).

    Args:
        x: ``n x d`` mixtures, float64.
        y: ``n`` standardised targets.
        noise: ``n`` fixed noise variances in standardised units, or None to learn it.
        peak_init: starting ``(trend, height, center, width)`` of a ``peak`` mean
            (:func:`predictors.means.prefit_peak` of ``x, y`` when None).
        noise_floor: smallest noise variance, standardised units.
    """
    model = MixtureGP(x, y, make_likelihood(noise, noise_floor), kernel=kernel, prior=prior, warp=warp, mean=mean)
    if mean == "peak":
        # The peak is fitted once by multi-start least squares and then held fixed (a
        # two-stage, empirical-Bayes fit): the marginal likelihood is multi-modal in the
        # centre, and a joint fit from one start costs ~10x more without placing it better.
        model.mean_module.initialize_from(*(peak_init if peak_init is not None else prefit_peak(x, y)))
        model.mean_module.requires_grad_(False)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch retries on optimiser warnings; the LOO score judges the outcome
        fit_gpytorch_mll(mll)
    model.eval()
    return model


@dataclass
class GPSurrogate:
    """A fitted GP with its target standardisation, in original units.

    The inner model sees ``sign * (y - loc) / scale`` with ``sign = -1`` for targets to be
    minimised, so the model and every acquisition function treat higher as better.

    Attributes:
        model: the selected fitted :class:`MixtureGP`.
        loc: target mean used for standardising.
        scale: target standard deviation used for standardising.
        maximize: whether higher targets are better.
        selection: LOO log density of every (mean, warp, prior) tried.
        warp: the chosen input warp.
        prior: the chosen lengthscale prior spec.
        mean: the chosen mean function.
        noise_floor: the smallest observation-noise variance allowed, original units (None:
            only a numerical floor). Without repeated mixtures the GP cannot tell seed noise
            from signal and tends to interpolate the runs, learning a near-zero noise; its
            posterior is then certain at every evaluated mixture and comparisons between
            runs come out at P = 1.00. A floor from prior knowledge of run-to-run spread
            (e.g. a point of accuracy) keeps those probabilities honest. With replicates,
            the pooled per-mixture noise is clamped at the floor too.
    """

    model: MixtureGP
    loc: float
    scale: float
    maximize: bool = True
    selection: dict[str, float] = field(default_factory=dict)
    warp: str = "none"
    prior: PriorSpec = 0.3
    mean: MeanName = "constant"
    noise_floor: float | None = None

    @property
    def sign(self) -> float:
        return 1.0 if self.maximize else -1.0

    @classmethod
    def fit(
        cls,
        x: Tensor,
        y: Tensor,
        noise: Tensor | None = None,
        kernel: KernelName = "matern52",
        priors: Sequence[PriorSpec] = DEFAULT_PRIORS,
        warps: Sequence[WarpName] = DEFAULT_WARPS,
        mean: MeanName | Sequence[MeanName] = "constant",
        maximize: bool = True,
        noise_floor: float | None = None,
    ) -> GPSurrogate:
        """Standardises ``y``, fits one GP per (mean, warp, prior) and keeps the best by LOO log density.

        Args:
            x: ``n x d`` mixtures on the simplex.
            y: ``n`` targets in original units.
            noise: ``n`` variances of the targets (original units), or None.
            priors: lengthscale prior candidates.
            warps: input warp candidates (see :func:`warp_inputs`).
            mean: one mean function, or several candidates to select from.
            noise_floor: smallest observation-noise variance, original units (see the class).

        Raises:
            ValueError: fewer than 2 points, shapes that disagree, or a negative noise floor.
        """
        if noise_floor is not None and not noise_floor >= 0:
            raise ValueError(f"noise_floor must be a variance >= 0 (or None), got {noise_floor}")
        x = torch.as_tensor(x, dtype=torch.float64)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"x must be n x d and y length n; got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[0] < 2:
            raise ValueError(f"a GP needs at least 2 distinct mixtures, got {x.shape[0]}")
        means = [mean] if isinstance(mean, str) else list(mean)
        if not priors or not warps or not means:
            raise ValueError("priors, warps and means must each hold at least one candidate")
        loc = float(y.mean())
        scale = float(y.std()) if float(y.std()) > 0 else 1.0
        sign = 1.0 if maximize else -1.0
        ys = sign * (y - loc) / scale
        ns = None if noise is None else torch.as_tensor(noise, dtype=torch.float64).reshape(-1) / scale**2
        floor = MIN_NOISE if noise_floor is None else max(noise_floor / scale**2, MIN_NOISE)
        # One multi-start prefit of the peak serves every (warp, prior) candidate.
        peak_init = prefit_peak(x, ys) if "peak" in means else None
        peak_loo = leave_one_out_means(x, ys, peak_init) if peak_init is not None else None
        best: tuple[float, MixtureGP, str, PriorSpec, MeanName] | None = None
        selection: dict[str, float] = {}
        for m in means:
            for warp in warps:
                for spec in priors:
                    model = fit_mixture_gp(x, ys, ns, kernel=kernel, prior=spec, warp=warp, mean=m, peak_init=peak_init, noise_floor=floor)
                    if m == "peak":
                        model.loo_mean_rows = peak_loo
                    score = loo_log_density(model)
                    key = f"warp={warp},prior={spec}" if len(means) == 1 else f"mean={m},warp={warp},prior={spec}"
                    selection[key] = score
                    if best is None or (math.isfinite(score) and score > best[0]):
                        best = (score, model, warp, spec, m)
        assert best is not None
        return cls(best[1], loc, scale, maximize, selection, warp=best[2], prior=best[3], mean=best[4], noise_floor=noise_floor)

    def predict(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of the latent score at ``m x d`` mixtures.

        Returns:
            ``(mean, std)``, each ``m``, in original units (``std`` excludes observation noise).
        """
        w = torch.as_tensor(weights, dtype=torch.float64)
        self.model.eval()
        with torch.no_grad():
            post = self.model.posterior(w)
            mean = post.mean.squeeze(-1)
            std = post.variance.squeeze(-1).clamp_min(0).sqrt()
        return self.loc + self.sign * self.scale * mean, self.scale * std

    def loo(self) -> tuple[Tensor, Tensor]:
        """Leave-one-out ``(mean, std)`` at the training mixtures, original units."""
        mu, var = loo_predictive(self.model)
        return self.loc + self.sign * self.scale * mu, self.scale * var.sqrt()
