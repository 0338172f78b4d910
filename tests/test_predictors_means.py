"""The peak mean, its honest leave-one-out, prequential mean choice and the GP noise floor."""

from __future__ import annotations

import pytest
import torch

from predictors.gp import GPSurrogate, fit_mixture_gp, loo_predictive
from predictors.means import MAX_HEIGHT_RATIO, PeakMean, leave_one_out_means, peak_values, prefit_peak
from predictors.search.config import GPOptions
from predictors.search.report import prob_better
from predictors.selection import PrequentialMeanSelector
from predictors.strategies.base import dirichlet_pool, seed_mixtures


def _peak_surface(w: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    return 0.1 * w[..., 0] + torch.exp(-((w - center) ** 2).sum(-1) / (2 * 0.15**2))


def test_prefit_locates_a_peak_seen_only_on_its_flanks() -> None:
    center = torch.tensor([0.15, 0.35, 0.1, 0.25, 0.15], dtype=torch.float64)
    x = seed_mixtures(5)
    assert float((x - center).norm(dim=-1).min()) > 0.15  # no run near the top
    y = _peak_surface(x, center)
    params = prefit_peak(x, (y - y.mean()) / y.std())
    assert float((params[2] - center).norm()) < 0.03
    assert 0.1 < params[3] < 0.2


def test_prefit_on_noise_forecasts_no_spike() -> None:
    """Unbounded, the least-squares peak on 11 runs of pure noise was 40-9,000 sd tall: forecasts stay in range now."""
    x = seed_mixtures(5)
    pool = dirichlet_pool(5, 2048, seed=0)
    for seed in range(3):
        t = torch.randn(len(x), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        t = (t - t.mean()) / t.std()
        params = prefit_peak(x, t)
        spread = float(t.max() - t.min())
        assert 0 <= params[1] <= MAX_HEIGHT_RATIO * spread + 1e-9
        forecast = peak_values(params, pool)
        assert float(forecast.max()) < float(t.max()) + (MAX_HEIGHT_RATIO + 1) * spread


def test_peak_mean_forward_matches_its_formula() -> None:
    mean = PeakMean(3)
    trend, center = torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.2, 0.5, 0.3])
    mean.initialize_from(trend, 2.0, center, 0.25)
    x = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3]])
    expected = peak_values((trend, 2.0, center, 0.25), x)
    assert torch.allclose(mean(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="d >= 1"):
        PeakMean(0)


def test_leave_one_out_rows_equal_to_the_mean_reproduce_the_fixed_mean_formula() -> None:
    x = dirichlet_pool(4, 10, seed=1)
    y = torch.sin(3 * x[:, 0]) + x[:, 1]
    y = (y - y.mean()) / y.std()
    model = fit_mixture_gp(x, y, prior=0.3)
    plain_mu, plain_var = loo_predictive(model)
    with torch.no_grad():
        const = model.mean_module(x)
    model.loo_mean_rows = const.expand(x.shape[0], -1).clone()
    mu, var = loo_predictive(model)
    assert torch.allclose(mu, plain_mu, atol=1e-8) and torch.allclose(var, plain_var)


def test_leave_one_out_means_leave_the_run_out() -> None:
    center = torch.tensor([0.15, 0.35, 0.1, 0.25, 0.15], dtype=torch.float64)
    x = seed_mixtures(5)
    y = _peak_surface(x, center)
    full = prefit_peak(x, y)
    rows = leave_one_out_means(x, y, full, num_random=64)
    assert rows.shape == (11, 11)
    # Row i is fitted without run i, so it does not reproduce y_i as the full fit does.
    in_sample = (peak_values(full, x) - y).abs()
    held_out = (rows.diagonal() - y).abs()
    assert float(held_out.mean()) > float(in_sample.mean())


def test_prequential_selector_keeps_the_first_mean_until_a_forecast_is_scored_then_follows_errors() -> None:
    trend = torch.tensor([1.0, 0.2, -0.5, 0.4], dtype=torch.float64)
    x = dirichlet_pool(4, 10, concentration=8.0, seed=2)[:10]  # interior runs only
    selector = PrequentialMeanSelector(("constant", "linear"), priors=[0.3], warps=["none"])
    assert selector.fit(x, x @ trend).mean == "constant"
    # A vertex is an extrapolation: the linear mean forecasts it, a constant mean reverts.
    x2 = torch.cat([x, torch.eye(4, dtype=torch.float64)[:1]])
    surrogate = selector.fit(x2, x2 @ trend)
    assert selector.scored == 1 and selector.scores["linear"] < selector.scores["constant"]
    assert surrogate.mean == "linear" and selector.leader == "linear"
    with pytest.raises(ValueError, match="appended"):
        selector.fit(x, x @ trend)
    with pytest.raises(ValueError, match="at least one"):
        PrequentialMeanSelector(())


def test_noise_floor_bounds_learned_and_replicate_noise() -> None:
    x = seed_mixtures(5)
    y = 0.30 + 0.01 * (torch.arange(11, dtype=torch.float64) % 3)  # runs a point or two apart
    floor = 0.01**2
    gp = GPSurrogate.fit(x, y, priors=[0.3], warps=["none"], noise_floor=floor)
    assert float(gp.model.likelihood.noise.detach()) * gp.scale**2 >= floor * (1 - 1e-6)
    assert gp.noise_floor == floor
    # Replicate noise below the floor (a lucky pair of seeds) is raised to it.
    tiny = torch.full((11,), 1e-8, dtype=torch.float64)
    fixed = GPSurrogate.fit(x, y, tiny, priors=[0.3], warps=["none"], noise_floor=floor)
    assert float(fixed.model.likelihood.noise.min()) * fixed.scale**2 >= floor * (1 - 1e-6)
    # The comparison the search reports stays a probability, not a certainty, for runs a point apart.
    domains = [f"d{i}" for i in range(5)]
    _, _, prob = prob_better(gp, dict(zip(domains, x[2].tolist())), dict(zip(domains, x[10].tolist())), domains)
    assert prob < 0.99
    with pytest.raises(ValueError, match="noise_floor"):
        GPSurrogate.fit(x, y, noise_floor=-1.0)
    with pytest.raises(ValueError, match="noise_floor"):
        GPOptions(noise_floor=-0.1)
