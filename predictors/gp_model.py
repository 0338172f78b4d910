"""The mixture GP: BoTorch's ``SingleTaskGP`` on simplex weights, its warp and standardisation inside the model.

Use it through :class:`predictors.gp.GPSurrogate` (fitting, prior selection, predictions in target units);
build a :class:`MixtureGP` directly only to rebuild a saved one before ``load_state_dict``.

- Inputs are ``n x d`` mixtures. :class:`SimplexWarp`, a BoTorch ``InputTransform``, maps them into
  ``[0, 1]`` inside the model, so acquisition functions and predictions take raw mixtures.
- Targets go through BoTorch's ``Standardize`` outcome transform, whose location and scale are buffers
  of the model (saved in its state dict); posteriors come back in target units.
- Higher is better: a target to be minimised is negated before it reaches the model, because BoTorch's
  acquisition functions maximise.
- The kernel is a scaled Matérn or RBF with one lengthscale per domain (ARD), or linear (Bayesian
  linear regression: the Scheffé linear model with a learned ridge). Inputs live on the
  simplex, whose diameter is ``sqrt(2)`` whatever the number of domains, so lengthscale priors are
  stated in simplex units: a LogNormal with a given median (log-scale 1), BoTorch's dimension-scaled
  LogNormal (``dim_scaled``, median ``exp(sqrt(2)) * sqrt(d)``: about 9 at 5 domains, far smoother than
  the simplex), or the Gamma(3, 6) of BoTorch's Matérn kernel before 0.12 (``gamma``, mode 1/3, mean 1/2).

Everything is float64: mixtures differ by small weights, and the kernel matrices of near-duplicate
mixtures are ill-conditioned in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import ReversibleInputTransform
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, LinearKernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood, GaussianLikelihood, Likelihood
from gpytorch.means import ConstantMean, LinearMean, Mean
from gpytorch.priors import GammaPrior, LogNormalPrior, Prior
from torch import Tensor

from predictors.means import PeakMean

KernelName = Literal["rbf", "matern12", "matern32", "matern52", "linear"]
WarpName = Literal["none", "sqrt", "log"]
MeanName = Literal["constant", "linear", "peak"]
PriorSpec = float | Literal["dim_scaled", "gamma", "none"]
MEAN_NAMES: tuple[str, ...] = get_args(MeanName)
WARP_NAMES: tuple[str, ...] = get_args(WarpName)

#: Kernel builders by name: ``(d, lengthscale_prior) -> Kernel`` with one lengthscale per domain (ARD), scaled.
#: ``linear`` is Bayesian linear regression on the (warped) weights, the Scheffé linear model with a learned
#: ridge: it has no lengthscale (the prior is ignored).
KERNELS: dict[str, Callable[[int, Prior | None], Kernel]] = {
    "rbf": lambda d, p: ScaleKernel(RBFKernel(ard_num_dims=d, lengthscale_prior=p)),
    "matern12": lambda d, p: ScaleKernel(MaternKernel(nu=0.5, ard_num_dims=d, lengthscale_prior=p)),
    "matern32": lambda d, p: ScaleKernel(MaternKernel(nu=1.5, ard_num_dims=d, lengthscale_prior=p)),
    "matern52": lambda d, p: ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=d, lengthscale_prior=p)),
    "linear": lambda d, p: LinearKernel(),
}
#: Smallest noise variance in standardised units: it only keeps the kernel matrix invertible.
MIN_NOISE = 1e-6
_SQRT_EPS = 1e-4  # keeps the sqrt warp's gradient finite at w = 0 (acquisition optimisers need it)
_LOG_EPS = 1e-3  # weights below ~0.1% count as "absent" under the log warp


class SimplexWarp(ReversibleInputTransform):
    """Elementwise warp of ``... x d`` simplex weights into ``[0, 1]``: ``none``, ``sqrt`` or ``log``.

    ``sqrt`` and ``log`` stretch small weights: going from 0% to 1% of a domain usually changes a run
    more than going from 40% to 41%. The warp has no parameters; its name is part of the model's
    structure (saved next to the state dict).

    Args:
        kind: the warp.
    """

    def __init__(self, kind: WarpName = "none") -> None:
        super().__init__()
        if kind not in WARP_NAMES:
            raise ValueError(f"unknown warp {kind!r}; valid: {', '.join(WARP_NAMES)}")
        self.kind = kind
        self.reverse = False
        self.transform_on_train = self.transform_on_eval = self.transform_on_fantasize = True

    def _transform(self, X: Tensor) -> Tensor:  # noqa: N803 - BoTorch's argument name
        if self.kind == "sqrt":
            lo, hi = math.sqrt(_SQRT_EPS), math.sqrt(1 + _SQRT_EPS)
            return ((X.clamp_min(0) + _SQRT_EPS).sqrt() - lo) / (hi - lo)
        if self.kind == "log":
            return (torch.log(X.clamp_min(0) + _LOG_EPS) - math.log(_LOG_EPS)) / -math.log(_LOG_EPS)
        return X

    def _untransform(self, X: Tensor) -> Tensor:  # noqa: N803
        if self.kind == "sqrt":
            lo, hi = math.sqrt(_SQRT_EPS), math.sqrt(1 + _SQRT_EPS)
            return (X * (hi - lo) + lo) ** 2 - _SQRT_EPS
        if self.kind == "log":
            return torch.exp(X * -math.log(_LOG_EPS) + math.log(_LOG_EPS)) - _LOG_EPS
        return X

    def equals(self, other: object) -> bool:
        """Whether ``other`` is the same warp."""
        return isinstance(other, SimplexWarp) and other.kind == self.kind


def lengthscale_prior(spec: PriorSpec, d: int) -> Prior | None:
    """The lengthscale prior for ``spec`` at ``d`` domains (see the module docstring)."""
    if spec == "none":
        return None
    if spec == "dim_scaled":  # BoTorch's default since 0.12 (Hvarfner et al., 2024)
        return LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(d), scale=math.sqrt(3))
    if spec == "gamma":  # BoTorch's Matérn default before 0.12
        return GammaPrior(3.0, 6.0)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool) and spec > 0:
        return LogNormalPrior(loc=math.log(float(spec)), scale=1.0)
    raise ValueError(f"lengthscale prior must be a positive median, 'dim_scaled', 'gamma' or 'none', got {spec!r}")


def make_likelihood(noise: Tensor | None, floor: float = MIN_NOISE) -> Likelihood:
    """Learned homoscedastic noise, or fixed per-point ``n`` noise plus a learned extra term.

    Args:
        noise: fixed per-point variances (standardised units), or None to learn one.
        floor: the smallest noise variance (standardised units).
    """
    floor = max(float(floor), MIN_NOISE)
    if noise is None:
        return GaussianLikelihood(noise_prior=GammaPrior(1.1, 0.05), noise_constraint=GreaterThan(floor))
    return FixedNoiseGaussianLikelihood(noise=noise.clamp_min(floor), learn_additional_noise=True)


class MixtureGP(SingleTaskGP):
    """Exact GP of one higher-is-better target on ``n x d`` simplex weights.

    Args:
        train_x: ``n x d`` mixtures.
        train_y: ``n`` targets in their own units, higher is better.
        train_yvar: ``n`` variances of the targets (replicates), or None to learn one noise level.
        kernel: a name in :data:`KERNELS`.
        prior: lengthscale prior (see :func:`lengthscale_prior`).
        warp: input warp (see :class:`SimplexWarp`).
        mean: ``constant``, ``linear`` (linear in the warped weights) or ``peak``
            (:class:`predictors.means.PeakMean` on the raw weights).
        noise_floor: smallest observation-noise standard deviation, in target units (None: only a
            numerical floor).
    """

    def __init__(
        self,
        train_x: Tensor,
        train_y: Tensor,
        train_yvar: Tensor | None = None,
        kernel: KernelName = "matern52",
        prior: PriorSpec = 0.3,
        warp: WarpName = "none",
        mean: MeanName = "constant",
        noise_floor: float | None = None,
    ) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; valid: {sorted(KERNELS)}")
        if mean not in MEAN_NAMES:
            raise ValueError(f"unknown mean {mean!r}; valid: {', '.join(MEAN_NAMES)}")
        x = torch.as_tensor(train_x, dtype=torch.float64)
        y = torch.as_tensor(train_y, dtype=torch.float64).reshape(-1, 1)
        d = x.shape[-1]
        # The likelihood's floor is in standardised units, so the standardisation is learned first
        # (SingleTaskGP learns it again from the same targets: the same location and scale).
        standardize = Standardize(m=1)
        _, yvar = standardize(
            y, None if train_yvar is None else torch.as_tensor(train_yvar, dtype=torch.float64).reshape(-1, 1)
        )
        scale = float(standardize.stdvs.squeeze())
        floor = MIN_NOISE if not noise_floor else max((noise_floor / scale) ** 2, MIN_NOISE)
        warp_module = SimplexWarp(warp)
        mean_module: Mean
        if mean == "peak":
            mean_module = PeakMean(d, unwarp=warp_module.untransform)
        else:
            mean_module = LinearMean(d) if mean == "linear" else ConstantMean()
        super().__init__(
            x,
            y,
            likelihood=make_likelihood(None if yvar is None else yvar.reshape(-1), floor),
            covar_module=KERNELS[kernel](d, lengthscale_prior(prior, d)),
            mean_module=mean_module,
            outcome_transform=standardize,
            input_transform=warp_module,
        )
        self.kernel_name, self.prior_spec, self.warp_name, self.mean_name = kernel, prior, warp, mean
        self.noise_floor = noise_floor
        self.to(x)

    def structure(self) -> dict[str, object]:
        """What rebuilds this model (with the training data) before ``load_state_dict``."""
        return {
            "kernel": self.kernel_name,
            "prior": self.prior_spec,
            "warp": self.warp_name,
            "mean": self.mean_name,
            "noise_floor": self.noise_floor,
        }
