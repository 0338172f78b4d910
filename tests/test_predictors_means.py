"""The peak mean, the choice of mean by forecasts of later stages, and the GP noise floor."""

from __future__ import annotations

import pytest
import torch

from predictors.gp import GPOptions, GPSurrogate, fit_gp
from predictors.gp_model import SimplexWarp
from predictors.mean_selection import choose_mean, forecast_error
from predictors.means import MAX_HEIGHT_RATIO, PeakMean, peak_values, prefit_peak
from predictors.run_table import RunTable
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


def test_peak_mean_forward_matches_its_formula_on_warped_inputs() -> None:
    trend, center = torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.2, 0.5, 0.3])
    x = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3]])
    expected = peak_values((trend, 2.0, center, 0.25), x)
    plain = PeakMean(3)
    plain.initialize_from(trend, 2.0, center, 0.25)
    assert torch.allclose(plain(x), expected, atol=1e-5)
    # Inside the model the inputs arrive warped; the peak is still a function of the weights.
    warp = SimplexWarp("sqrt")
    warped = PeakMean(3, unwarp=warp.untransform)
    warped.initialize_from(trend, 2.0, center, 0.25)
    assert torch.allclose(warped(warp.transform(x)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="d >= 1"):
        PeakMean(0)


def _staged(x: torch.Tensor, y: torch.Tensor, stage: list[int]) -> RunTable:
    return RunTable.from_arrays([f"d{i}" for i in range(x.shape[1])], x, y, stage=stage)


def test_first_mean_wins_until_a_later_stage_is_forecast_then_the_better_forecaster() -> None:
    trend = torch.tensor([1.0, 0.2, -0.5], dtype=torch.float64)
    x = dirichlet_pool(3, 8, concentration=8.0, seed=2)[:8]  # interior runs only
    options = GPOptions(priors=[0.3], warps=["none"], means=["constant", "linear"], noise_floor=None, linear=False)
    seeds_only = _staged(x, x @ trend, [0] * 8)
    assert fit_gp(seeds_only, options).mean == "constant"  # nothing forecast yet: the first candidate
    # A vertex is an extrapolation: the linear mean forecasts it, a constant mean reverts.
    x2 = torch.cat([x, torch.eye(3, dtype=torch.float64)[:1]])
    table = _staged(x2, x2 @ trend, [0] * 8 + [1])
    surrogate = fit_gp(table, options)
    choice = surrogate.mean_choice
    assert choice.scored == 1 and choice.errors["linear"] < choice.errors["constant"]
    assert surrogate.mean == choice.mean == "linear"
    # The errors are those of fits on stage 0 forecasting stage 1, by hand.
    before, _ = table.stage_split(1)
    by_hand = forecast_error(
        GPSurrogate.fit(before.weights, before.y[:, 0], options=options, mean="linear"), x2[8:], (x2 @ trend)[8:]
    )
    assert choice.errors["linear"] == pytest.approx(by_hand, rel=1e-6)
    # Unordered runs (no stages) cannot be forecast: the first candidate, nothing scored.
    unordered = RunTable.from_arrays(table.domains, x2, x2 @ trend)
    assert choose_mean(unordered, ["constant", "linear"], lambda t, m: None).scored == 0
    with pytest.raises(ValueError, match="at least one"):
        choose_mean(table, [], lambda t, m: None)


def test_noise_floor_is_a_standard_deviation_bounding_learned_and_replicate_noise() -> None:
    x = seed_mixtures(5)
    y = 0.30 + 0.01 * (torch.arange(11, dtype=torch.float64) % 3)  # runs a point or two apart
    options = GPOptions(priors=[0.3], warps=["none"], noise_floor=0.01, linear=False)
    gp = GPSurrogate.fit(x, y, options=options)
    assert gp.noise_sd() >= 0.01 * (1 - 1e-6)
    # Replicate noise below the floor (a lucky pair of seeds) is raised to it.
    tiny = torch.full((11,), 1e-8, dtype=torch.float64)
    fixed = GPSurrogate.fit(x, y, tiny, options=options)
    stdv = float(fixed.model.outcome_transform.stdvs.squeeze())
    assert float(fixed.model.likelihood.noise.detach().min()) * stdv**2 >= 0.01**2 * (1 - 1e-6)
    # The comparison the search reports stays a probability, not a certainty, for runs a point apart.
    _, _, prob = gp.difference(x[2], x[10])
    assert prob < 0.99
    with pytest.raises(ValueError, match="noise_floor"):
        GPOptions(noise_floor=-0.1)
