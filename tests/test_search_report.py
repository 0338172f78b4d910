"""The search report's GP lines: a flat (signal-free) fit is said in words, not printed as certainty."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from predictors.gp import GPOptions, GPSurrogate
from predictors.search.report import _FLAT_SIGNAL_TO_NOISE, _gp_lines
from predictors.search.summary import GPFindings
from predictors.strategies.base import seed_mixtures
from predictors.validation import RankingVerdict

_SEARCH = SimpleNamespace(target="out_score", noise_floor=0.01, means=["constant"])


def _findings(sd: float, signal_sd: float) -> GPFindings:
    verdict = RankingVerdict(can_rank=False, spearman=0.1, p_value=0.4, n=17, method="leave-one-out",
                             sentence="The GP cannot rank these mixtures.")
    return GPFindings(
        n=17, loo={"actual": torch.zeros(17)}, loo_rmse=0.05, target_sd=0.05, verdict=verdict,
        at_best=(0.6, sd), vs_uniform=(0.0, sd, 0.5), argmax={"a": 0.5, "b": 0.5}, argmax_prediction=(0.6, sd),
        kernel="matern52", mean="constant", warp="none", prior="1.0", mean_choice=None, noise_measured=True,
        noise_sd=0.05, signal_sd=signal_sd,
    )


def test_a_flat_gp_is_reported_as_ranking_nothing() -> None:
    text = "\n".join(_gp_lines(_SEARCH, _findings(1e-7, signal_sd=1e-4)))
    assert "The GP is flat" in text and "ranks none" in text
    assert "± 0.0000" not in text and "P(recommended > uniform)" not in text


def test_a_gp_with_signal_reports_its_posterior() -> None:
    text = "\n".join(_gp_lines(_SEARCH, _findings(0.02, signal_sd=0.04)))
    assert "0.6000 ± 0.0200" in text and "P(recommended > uniform) = 0.50" in text
    assert "flat" not in text


def test_signal_sd_separates_a_structured_fit_from_a_flat_one() -> None:
    """On runs that differ only by noise the fitted kernel's amplitude collapses; on a trend it does not."""
    x = seed_mixtures(5)
    options = GPOptions(priors=[0.3], warps=["none"], noise_floor=0.01)
    trend = GPSurrogate.fit(x, 0.2 + 0.4 * x[:, 0] + 0.2 * x[:, 1] ** 2, options=options)
    assert trend.signal_sd() > 2 * trend.noise_sd()
    same = GPSurrogate.fit(x, torch.full((11,), 0.5, dtype=torch.float64) + 1e-9 * torch.arange(11), options=options)
    assert same.signal_sd() < _FLAT_SIGNAL_TO_NOISE * same.noise_sd()


def test_noise_sd_with_replicates_counts_the_measured_noise() -> None:
    """With replicates the fit's noise is mostly the fixed, measured part; the reported sd must include it."""
    x = seed_mixtures(5)
    y = 0.5 + 0.02 * torch.sin(torch.arange(11, dtype=torch.float64))
    measured = torch.full((11,), 0.05**2, dtype=torch.float64)  # each mixture's variance, target units
    gp = GPSurrogate.fit(x, y, measured, options=GPOptions(priors=[0.3], warps=["none"], noise_floor=0.01))
    assert 0.05 * (1 - 1e-3) <= gp.noise_sd() < 0.1
