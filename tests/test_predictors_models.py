"""The GP recovers a smooth function on the simplex; the Scheffé baselines recover their coefficients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from predictors.baselines import LinearScheffe, QuadraticScheffe, scheffe_features
from predictors.gp import GPOptions, GPSurrogate
from predictors.gp_model import SimplexWarp, lengthscale_prior
from predictors.strategies.base import seed_mixtures


def smooth(w: torch.Tensor) -> torch.Tensor:
    return torch.sin(3 * w[:, 0]) + w[:, 1] ** 2 - w[:, 0] * w[:, 2]


def dirichlet(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).dirichlet(np.ones(d), size=n))


def test_gp_recovers_smooth_function_on_held_out_mixtures() -> None:
    x, x_test = dirichlet(40, 3, 0), dirichlet(200, 3, 1)
    gp = GPSurrogate.fit(x, smooth(x), options=GPOptions(priors=[0.3, 1.0], warps=["none"], noise_floor=None))
    mean, std = gp.predict(x_test)
    truth = smooth(x_test)
    span = float(truth.max() - truth.min())
    rmse = float((mean - truth).pow(2).mean().sqrt())
    assert rmse < 0.03 * span, f"held-out RMSE {rmse:.4f} vs range {span:.3f}"
    assert float((std > 0).float().mean()) == 1.0
    assert set(gp.selection) == {"warp=none,prior=0.3", "warp=none,prior=1.0", "kernel=linear,warp=none"}
    assert gp.model.kernel_name == "matern52", "a curved surface is not linear"


def test_selection_by_refitted_held_out_error_follows_the_surface_on_the_seed_design() -> None:
    # The paper's 11 seed runs at 5 domains. Scored by the closed-form LOO, the smoothest prior won on every
    # such surface; refitted on each fold, a linear surface gets the linear kernel and a curved one a Matérn.
    x = seed_mixtures(5)
    linear = x @ torch.tensor([0.2, 0.5, 0.3, 0.8, 0.4], dtype=torch.float64)
    centre = torch.tensor([0.3, 0.1, 0.2, 0.25, 0.15], dtype=torch.float64)
    curved = -((x - centre) ** 2).sum(-1) * 4
    assert GPSurrogate.fit(x, linear).model.kernel_name == "linear"
    fitted = GPSurrogate.fit(x, curved)
    assert fitted.model.kernel_name == "matern52" and fitted.prior != "dim_scaled", fitted.selection


def test_gp_minimise_mode_predicts_in_original_units() -> None:
    x = dirichlet(25, 3, 2)
    y = 5.0 - smooth(x)  # a loss
    gp = GPSurrogate.fit(
        x, y, options=GPOptions(priors=[1.0], warps=["none"], noise_floor=None, linear=False), maximize=False
    )
    mean, _ = gp.predict(x)
    assert torch.allclose(mean, y, atol=0.05)
    loo_mean, loo_std = gp.loo()
    assert loo_mean.shape == (25,) and bool((loo_std > 0).all())


def test_gp_refuses_too_few_points() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        GPSurrogate.fit(torch.tensor([[0.5, 0.5]]), torch.tensor([1.0]))


def test_dim_scaled_prior_is_far_smoother_than_the_simplex() -> None:
    # The documented reason for prior selection: BoTorch's default median exceeds the diameter sqrt(2).
    prior = lengthscale_prior("dim_scaled", 5)
    assert math.exp(float(prior.loc)) > 2 * math.sqrt(2)
    with pytest.raises(ValueError, match="positive median"):
        lengthscale_prior(-1.0, 5)


def test_warps_map_simplex_into_unit_interval_and_back() -> None:
    w = dirichlet(50, 4, 3)
    for kind in ("none", "sqrt", "log"):
        warp = SimplexWarp(kind)
        z = warp.transform(w)
        assert float(z.min()) >= 0 and float(z.max()) <= 1
        assert torch.allclose(warp.untransform(z), w, atol=1e-9), "the peak mean reads weights back from warped inputs"
    with pytest.raises(ValueError, match="unknown warp"):
        SimplexWarp("cube")


def test_quadratic_recovers_its_generating_coefficients() -> None:
    d = 4
    x = dirichlet(60, d, 4)
    coef = torch.tensor([0.3, -0.2, 0.5, 0.1, 1.0, -0.7, 0.4, 0.2, -1.1, 0.6], dtype=torch.float64)
    y = scheffe_features(x, 2) @ coef
    model = QuadraticScheffe(ridge=0.0).fit(x, y)
    assert torch.allclose(model.coef, coef, atol=1e-8)
    mean, std = model.predict(x[:5])
    assert torch.allclose(mean, y[:5], atol=1e-8) and bool((std == 0).all())


def test_linear_recovers_pure_domain_scores_and_auto_ridge_is_finite() -> None:
    x = dirichlet(30, 3, 5)
    y = x @ torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(
        LinearScheffe(ridge=0.0).fit(x, y).coef, torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64), atol=1e-10
    )
    auto = QuadraticScheffe().fit(x[:8], y[:8])  # 8 runs, 6 coefficients: the penalty is picked by LOO
    assert auto.ridge_used is not None and auto.ridge_used > 0
    assert bool(torch.isfinite(auto.predict(x)[0]).all())
    with pytest.raises(ValueError, match="degree"):
        scheffe_features(x, 3)
