"""The search report's GP lines: a flat (signal-free) fit is said in words, not printed as certainty."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from predictors.search.report import _gp_lines
from predictors.search.summary import GPFindings
from predictors.validation import RankingVerdict

_SEARCH = SimpleNamespace(target="out_score", noise_floor=0.01, means=["constant"])


def _findings(sd: float) -> GPFindings:
    verdict = RankingVerdict(can_rank=False, spearman=0.1, p_value=0.4, n=17, method="leave-one-out",
                             sentence="The GP cannot rank these mixtures.")
    return GPFindings(
        n=17, loo={"actual": torch.zeros(17)}, loo_rmse=0.05, target_sd=0.05, verdict=verdict,
        at_best=(0.6, sd), vs_uniform=(0.0, sd, 0.5), argmax={"a": 0.5, "b": 0.5}, argmax_prediction=(0.6, sd),
        kernel="matern52", mean="constant", warp="none", prior="1.0", mean_choice=None, noise_measured=True,
        noise_sd=0.05,
    )


def test_a_flat_gp_is_reported_as_ranking_nothing() -> None:
    text = "\n".join(_gp_lines(_SEARCH, _findings(1e-7)))
    assert "The GP is flat" in text and "ranks none" in text
    assert "± 0.0000" not in text and "P(recommended > uniform)" not in text


def test_a_gp_with_signal_reports_its_posterior() -> None:
    text = "\n".join(_gp_lines(_SEARCH, _findings(0.02)))
    assert "0.6000 ± 0.0200" in text and "P(recommended > uniform) = 0.50" in text
    assert "flat" not in text
