"""Fitting the mixture GP: one options object for every front-end, predictions in target units.

Both front-ends, :class:`predictors.gp_predictor.GPPredictor` (``main.py fit --config
configs/predictor.yaml``) and :class:`predictors.search.MixtureSearch`, call :func:`fit_gp` with a
:class:`GPOptions`:

1. the mean function, when several are listed, is the one whose forecasts of the runs of later stages
   held up best (:func:`predictors.mean_selection.choose_mean`);
2. for that mean, one :class:`~predictors.gp_model.MixtureGP` is fitted per (warp, lengthscale prior)
   candidate, plus one with a linear kernel per warp (``linear``: Bayesian linear regression, which is
   the Scheffé linear baseline with a learned ridge), by maximum a posteriori (BoTorch's
   ``fit_gpytorch_mll``), and the candidate whose held-out predictions have the smallest squared error is
   kept. The GP therefore falls back to the linear model where the runs are linear in the weights.

Held-out error, and how it is measured. With fewer than :data:`REFIT_BELOW` mixtures every candidate is
refitted on each of ``min(n, 5)`` folds and predicts the held-out runs (cross-validation). The closed-form
leave-one-out of a GP (Rasmussen & Williams, 5.4.2) holds the hyperparameters that saw every run fixed,
and on the paper's 2m + 1 seed runs that is badly optimistic: the five corners (each domain alone) are
far from every other run, and a lengthscale fitted with a corner in the data "knows" that corner. Scored
by the closed form, the smoothest, dimension-scaled prior won on every simulated seed design and
extrapolated like the linear baseline to held-out corners; refitted, each surface gets the prior that
predicts its held-out runs (``benchmarks/small_n.py``). From :data:`REFIT_BELOW` mixtures on, one run
moves the hyperparameters little and the closed form, exact for fixed hyperparameters, is used: it costs
one fit per candidate instead of six.

The standardisation of the target and the input warp are part of the model (BoTorch's ``Standardize``
and :class:`~predictors.gp_model.SimplexWarp`), saved in its state dict.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch
from botorch.fit import fit_gpytorch_mll
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from predictors.gp_model import (
    KERNELS,
    MEAN_NAMES,
    WARP_NAMES,
    KernelName,
    MeanName,
    MixtureGP,
    PriorSpec,
    WarpName,
    lengthscale_prior,
)
from predictors.mean_selection import MeanChoice, choose_mean
from predictors.means import prefit_peak
from predictors.run_table import RunTable

#: Lengthscale-prior candidates: a LogNormal with median 1 simplex unit (curved surfaces: the seed
#: designs of ``benchmarks/small_n.py``) and BoTorch's dimension-scaled prior (near-linear ones, RegMix).
#: A wider set (medians 0.1 and 0.3 too, with the sqrt and log warps) predicts small-n held-out runs better
#: on average but made the simulated sequential search worse on two of three surfaces (docs/BENCHMARKS.md).
DEFAULT_PRIORS: tuple[PriorSpec, ...] = (1.0, "dim_scaled")
#: Input-warp candidates.
DEFAULT_WARPS: tuple[WarpName, ...] = ("none",)
#: Below this many mixtures, candidates are scored by refitted cross-validation; from it on, by the closed form.
REFIT_BELOW = 50
#: Folds of the refitted cross-validation (leave-one-out below this many mixtures).
CV_FOLDS = 5


@dataclass
class GPOptions:
    """The mixture GP's settings, the same for ``GPPredictor`` (``configs/predictor.yaml``, ``model.gp``)
    and the mixture search (``configs/search.yaml``, ``gp``).

    Args:
        kernel: ``matern52``, ``matern32``, ``matern12`` or ``rbf``, always with one lengthscale per domain.
        priors: lengthscale-prior candidates: a LogNormal median in simplex units, ``dim_scaled``
            (BoTorch's default), ``gamma`` (Gamma(3, 6)) or ``none``; the one with the smallest held-out
            squared error is kept (see the module docstring).
        warps: input-warp candidates: ``none``, ``sqrt``, ``log``; chosen jointly with the prior.
        linear: also try a linear kernel (Bayesian linear regression on the warped weights) per warp.
        means: candidate mean functions: ``constant``, ``linear`` (in the warped weights) or ``peak`` (a
            linear trend plus one Gaussian bump, :mod:`predictors.means`). With more than one, the
            candidate whose forecasts of each later stage's runs (from the stages before it) had the
            smallest squared error is used; the first one until a later stage has been forecast.
        noise_floor: the smallest run-to-run **standard deviation** of the target the GP assumes, in
            target units (null: none). One run per mixture cannot separate seed noise from signal, so
            the GP would interpolate the runs and call a one-point difference certain (P = 1.00); 0.01
            is one point of a score in [0, 1], a conservative lower bound on the seed-to-seed spread of
            RL fine-tunes scored on a few hundred samples. Repeated mixtures measure the noise; the
            floor still bounds it.
    """

    kernel: KernelName = "matern52"
    priors: list[PriorSpec] = field(default_factory=lambda: list(DEFAULT_PRIORS))
    warps: list[WarpName] = field(default_factory=lambda: list(DEFAULT_WARPS))
    means: list[MeanName] = field(default_factory=lambda: ["constant"])
    noise_floor: float | None = 0.01
    linear: bool = True

    def __post_init__(self) -> None:
        if self.noise_floor is not None and not self.noise_floor >= 0:
            raise ValueError(f"gp.noise_floor must be a standard deviation >= 0 or null, got {self.noise_floor}")
        if not self.means or len(set(self.means)) != len(self.means) or any(m not in MEAN_NAMES for m in self.means):
            raise ValueError(f"gp.means must list distinct candidates from {MEAN_NAMES}, got {self.means}")
        if not self.warps or any(w not in WARP_NAMES for w in self.warps):
            raise ValueError(f"gp.warps must list candidates from {WARP_NAMES}, got {self.warps}")
        if not self.priors:
            raise ValueError("gp.priors must list at least one lengthscale prior")
        if self.kernel not in KERNELS or self.kernel == "linear":
            raise ValueError(
                f"gp.kernel must be one of {sorted(set(KERNELS) - {'linear'})} "
                f"(the linear one is `linear: true`), got {self.kernel!r}"
            )
        for spec in self.priors:
            lengthscale_prior(spec, 2)  # raises on a bad spec, naming it


def loo_predictive(model: MixtureGP) -> tuple[Tensor, Tensor]:
    """Closed-form leave-one-out mean and variance at the training points (hyperparameters fixed).

    Returns:
        ``(mean, var)``, each ``n``, in the model's standardised units.
    """
    model.train()  # the training inputs, warped by the forward pass
    x, y = model.train_inputs[0], model.train_targets
    with torch.no_grad():
        prior = model(x)
        prior = (
            model.likelihood(prior, [x])
            if isinstance(model.likelihood, FixedNoiseGaussianLikelihood)
            else model.likelihood(prior)
        )
        cov = prior.covariance_matrix
        chol = torch.linalg.cholesky(cov + 1e-9 * torch.eye(cov.shape[-1], dtype=cov.dtype))
        k_inv = torch.cholesky_inverse(chol)
        diag = k_inv.diagonal()
        alpha = k_inv @ (y - prior.mean)
    model.eval()
    return y - alpha / diag, 1.0 / diag


def _folds(n: int) -> list[Tensor]:
    """``min(n, CV_FOLDS)`` boolean test masks over ``n`` runs (a fixed shuffle: the same folds for every candidate)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    masks = []
    for test in perm.tensor_split(min(n, CV_FOLDS)):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[test] = True
        masks.append(mask)
    return masks


def _fit_map(model: MixtureGP) -> MixtureGP:
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch retries on optimiser warnings; the LOO score judges the outcome
        fit_gpytorch_mll(mll)
    model.eval()
    return model


@dataclass
class GPSurrogate:
    """A fitted :class:`MixtureGP` with predictions in target units and the evidence for its choice.

    Attributes:
        model: the selected fitted model (a BoTorch model: acquisition functions take it as it is).
        maximize: whether higher targets are better (the model sees the negated target otherwise).
        selection: held-out mean squared error (target units) of every candidate tried
            (``warp=...,prior=...`` or ``kernel=linear,warp=...``; NaN for a single candidate: nothing scored).
        mean_choice: how the mean was chosen (None when :meth:`fit` was given one mean directly).
    """

    model: MixtureGP
    maximize: bool = True
    selection: dict[str, float] = field(default_factory=dict)
    mean_choice: MeanChoice | None = None

    @property
    def sign(self) -> float:
        """+1 when maximising, -1 when minimising: model outputs times ``sign`` are in target units."""
        return 1.0 if self.maximize else -1.0

    @property
    def warp(self) -> str:
        """The chosen input warp."""
        return self.model.warp_name

    @property
    def prior(self) -> PriorSpec:
        """The chosen lengthscale prior."""
        return self.model.prior_spec

    @property
    def mean(self) -> MeanName:
        """The mean function."""
        return self.model.mean_name

    @classmethod
    def fit(
        cls,
        x: Tensor,
        y: Tensor,
        noise: Tensor | None = None,
        options: GPOptions | None = None,
        maximize: bool = True,
        mean: MeanName | None = None,
    ) -> GPSurrogate:
        """Fits one GP per candidate of ``options`` (warp x prior, and linear) with one mean; keeps the best predictor.

        Args:
            x: ``n x d`` mixtures on the simplex.
            y: ``n`` targets in their own units.
            noise: ``n`` variances of the targets (target units squared, e.g. from replicates), or None.
            options: the GP settings (defaults: :class:`GPOptions`).
            maximize: whether higher targets are better.
            mean: the mean function; None takes ``options.means[0]``.

        Raises:
            ValueError: fewer than 2 points or shapes that disagree.
        """
        options = options or GPOptions()
        x = torch.as_tensor(x, dtype=torch.float64)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"x must be n x d and y length n; got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[0] < 2:
            raise ValueError(f"a GP needs at least 2 distinct mixtures, got {x.shape[0]}")
        n = x.shape[0]
        mean = mean or options.means[0]
        signed = y if maximize else -y
        yvar = None if noise is None else torch.as_tensor(noise, dtype=torch.float64).reshape(-1)
        candidates: list[tuple[KernelName, WarpName, PriorSpec]] = [
            (options.kernel, w, p) for w in options.warps for p in options.priors
        ]
        candidates += [("linear", w, "none") for w in options.warps] if options.linear else []
        single = len(candidates) == 1  # nothing to choose: no held-out scoring
        folds = _folds(n) if n < REFIT_BELOW and not single else []
        peaks: dict[int, tuple[Tensor, float, Tensor, float]] = {}

        def build(rows: Tensor, kernel: KernelName, warp: WarpName, spec: PriorSpec, key: int) -> MixtureGP:
            model = MixtureGP(
                x[rows],
                signed[rows],
                None if yvar is None else yvar[rows],
                kernel,
                spec,
                warp,
                mean,
                options.noise_floor,
            )
            if mean == "peak":
                # Fitted by multi-start least squares (once per set of runs, shared by the candidates), then held
                # fixed: the marginal likelihood is multi-modal in the centre, and a joint fit from one start
                # costs ~10x more without placing it better.
                if key not in peaks:
                    start = None if key < 0 else peaks[-1][2]
                    peaks[key] = prefit_peak(
                        x[rows],
                        model.train_targets,
                        start=start,
                        **({} if key < 0 else {"num_random": 512, "num_refine": 2, "seed": key}),
                    )
                model.mean_module.initialize_from(*peaks[key])
                model.mean_module.requires_grad_(False)
            return _fit_map(model)

        everything = torch.arange(n)
        best: tuple[float, MixtureGP] | None = None
        selection: dict[str, float] = {}
        # Training inside inference mode (Lightning's validate / predict) needs autograd back.
        with torch.inference_mode(False), torch.enable_grad():
            for kernel, warp, spec in candidates:
                model = build(everything, kernel, warp, spec, -1)
                if single:
                    score = math.nan
                elif folds:
                    error = torch.zeros((), dtype=torch.float64)
                    for k, test in enumerate(folds):
                        held = build(everything[~test], kernel, warp, spec, k)
                        with torch.no_grad():
                            error += ((held.posterior(x[test]).mean.squeeze(-1) - signed[test]) ** 2).sum()
                    score = float(error) / n
                else:
                    mu, _ = loo_predictive(model)
                    loo_mean, _ = model.outcome_transform.untransform(mu.unsqueeze(-1))
                    score = float(((loo_mean.squeeze(-1) - signed) ** 2).mean())
                selection[f"kernel=linear,warp={warp}" if kernel == "linear" else f"warp={warp},prior={spec}"] = score
                if best is None or (math.isfinite(score) and (score < best[0] or not math.isfinite(best[0]))):
                    best = (score, model)
        assert best is not None
        return cls(best[1], maximize, selection)

    def predict(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of the latent score at ``m x d`` mixtures.

        Returns:
            ``(mean, std)``, each ``m``, in target units (``std`` excludes observation noise).
        """
        w = torch.as_tensor(weights, dtype=torch.float64)
        self.model.eval()
        with torch.no_grad():
            post = self.model.posterior(w)
            mean = post.mean.squeeze(-1)
            std = post.variance.squeeze(-1).clamp_min(0).sqrt()
        return self.sign * mean, std

    def loo(self) -> tuple[Tensor, Tensor]:
        """Leave-one-out ``(mean, std)`` at the training mixtures, target units (hyperparameters fixed)."""
        mu, var = loo_predictive(self.model)
        mean, var = self.model.outcome_transform.untransform(mu.unsqueeze(-1), var.unsqueeze(-1))
        return self.sign * mean.squeeze(-1), var.squeeze(-1).sqrt()

    def noise_sd(self) -> float:
        """The observation-noise sd of a training mixture's score, in target units.

        Without replicates, the learned homoscedastic noise; with them, the fixed per-mixture noise measured
        from the replicates (its mean over the mixtures) plus the learned extra term, which alone would
        understate the noise the fit assumes.
        """
        lik = self.model.likelihood
        if isinstance(lik, FixedNoiseGaussianLikelihood):
            var = float(lik.noise.detach().mean()) + float(lik.second_noise.detach().reshape(-1)[0])
        else:
            var = float(lik.noise.detach().reshape(-1)[0])
        return float(self.model.outcome_transform.stdvs.squeeze()) * var**0.5

    def signal_sd(self) -> float:
        """The kernel's prior sd of the latent score at the training mixtures (root mean square), target units.

        Next to :meth:`noise_sd` it says how much of the runs' differences the fit explains: a signal sd far
        below the noise sd is a flat fit that puts every difference down to noise.
        """
        x = self.model.train_inputs[0]
        with torch.no_grad():
            prior_var = self.model.covar_module(x).to_dense().diagonal(dim1=-2, dim2=-1)
        return float(self.model.outcome_transform.stdvs.squeeze()) * float(prior_var.clamp_min(0).mean()) ** 0.5

    def difference(self, a: Tensor, b: Tensor) -> tuple[float, float, float]:
        """Posterior of ``f(a) - f(b)`` for two ``d`` mixtures: ``(mean, std, P(f(a) > f(b)))`` in target units.

        Joint, so the correlation of the two predictions counts; "better" follows ``maximize``.
        """
        x = torch.stack([torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)])
        self.model.eval()
        with torch.no_grad():
            post = self.model.posterior(x)
            mean = post.mean.squeeze(-1)
            cov = post.mvn.covariance_matrix
        diff = self.sign * float(mean[0] - mean[1])
        std = math.sqrt(max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0))
        better = diff if self.maximize else -diff
        prob = 0.5 * (1 + math.erf(better / (std * math.sqrt(2)))) if std > 0 else float(better > 0)
        return diff, std, prob


def fit_gp(
    table: RunTable, options: GPOptions | None = None, maximize: bool = True, column: int = 0, cache: dict | None = None
) -> GPSurrogate:
    """The GP both front-ends use: the mean chosen by forecasts (:func:`choose_mean`), then :meth:`GPSurrogate.fit`.

    Args:
        table: the runs (``table.runs`` orders them in stages for the mean's forecasts).
        options: the GP settings.
        maximize: whether higher targets are better.
        column: which target column of ``table``.
        cache: forecast errors of earlier calls on a table that only grew since (see :func:`choose_mean`).

    Raises:
        ValueError: fewer than 2 mixtures.
    """
    options = options or GPOptions()

    def fit(t: RunTable, mean: MeanName) -> GPSurrogate:
        noise = None if t.noise is None else t.noise[:, column]
        return GPSurrogate.fit(t.weights, t.y[:, column], noise, options, maximize, mean)

    choice = choose_mean(table, options.means, fit, column=column, cache=cache)
    surrogate = fit(table, choice.mean)
    surrogate.mean_choice = choice
    return surrogate


def fit_all(table: RunTable, options: GPOptions | None = None, maximize: bool = True) -> list[GPSurrogate]:
    """One :func:`fit_gp` per target column of ``table``."""
    return [fit_gp(table, options, maximize, column=j) for j in range(len(table.targets))]
