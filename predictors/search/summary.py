"""What a mixture search found, as data: the runs by mixture, the best one against uniform and the base
model, and what the final GP says about them. :mod:`predictors.search.report` renders it.

It answers "which mixture should I train on, and how sure are you?": the best evaluated mixture (highest
mean target over its runs; after the confirm stage, among the replicated mixtures only:
:mod:`predictors.search.replicates`), its In-/Out-Score against the uniform mixture and the base model, the GP's
posterior probability that it beats uniform, the GP's leave-one-out accuracy and whether that is enough
to rank mixtures, and the GP's own argmax (a prediction, not yet run).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from predictors.gp import GPSurrogate
from predictors.mean_selection import MeanChoice
from predictors.records import RunRecord
from predictors.run_table import RunTable
from predictors.strategies import ModelArgmax
from predictors.validation import RankingVerdict, ranking_verdict


@dataclass
class MixtureResult:
    """The successful runs of one mixture, averaged.

    Attributes:
        weights: the mixture (search domain order).
        runs: how many successful runs.
        target: mean target; in_score / out_score: means (NaN if unknown).
        members: the runs averaged.
        origin: what proposed it (first run's origin).
    """

    weights: dict[str, float]
    runs: int
    target: float
    in_score: float
    out_score: float
    members: list[RunRecord] = field(repr=False)
    origin: str

    @property
    def run_ids(self) -> list[str]:
        """The ids of the runs averaged."""
        return [r.run_id for r in self.members]

    @property
    def scores(self) -> dict[str, float]:
        """Each benchmark's mean over the runs that scored it, by benchmark name (sorted)."""
        names = sorted({b for r in self.members for b in r.scores})
        return {b: _mean([r.scores.get(b) for r in self.members]) for b in names}

    @property
    def design(self) -> str:
        """Its place in the seed design: see :func:`design_role`."""
        return design_role(self.weights)

    @property
    def label(self) -> str:
        """A short name: see :func:`mixture_label`."""
        return mixture_label(self.weights)


def design_role(weights: dict[str, float], tol: float = 1e-3) -> str:
    """``single``, ``exclude_one``, ``uniform`` or ``other``, from a mixture's non-zero weights.

    Args:
        weights: the mixture, every domain named (zeros included).
        tol: how far apart the non-zero weights may be and still count as equal.
    """
    used = [w for w in weights.values() if w > 0]
    if len(used) == 1:
        return "single"
    equal = max(used) - min(used) < tol
    if equal and len(used) == len(weights):
        return "uniform"
    if equal and len(used) == len(weights) - 1:
        return "exclude_one"
    return "other"


def mixture_label(weights: dict[str, float]) -> str:
    """``uniform``, ``only objects``, ``without geometry``, or the weights (domains sorted, 2 decimals)."""
    role = design_role(weights)
    if role == "uniform":
        return "uniform"
    if role == "single":
        return "only " + next(d for d, w in weights.items() if w > 0)
    if role == "exclude_one":
        return "without " + next(d for d, w in weights.items() if w == 0)
    return ", ".join(f"{d} {weights[d]:.2f}" for d in sorted(weights))


def _mean(values: Sequence[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def origin(record: RunRecord) -> str:
    """What proposed a run (``config.search.origin``; ``external`` for a run from elsewhere)."""
    search = record.config.get("search") if isinstance(record.config, dict) else None
    return str(search.get("origin", "?")) if isinstance(search, dict) else "external"


def group_by_mixture(records: Sequence[RunRecord], domains: Sequence[str], target: str) -> list[MixtureResult]:
    """Successful runs grouped by mixture (rounded to 1e-6), best mean target first."""
    groups: dict[tuple[float, ...], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.status == "ok":
            groups[tuple(round(r.weights[d], 6) for d in domains)].append(r)
    results = [
        MixtureResult(
            weights=dict(zip(domains, key, strict=False)),
            runs=len(rs),
            target=_mean([getattr(r, target) for r in rs]),
            in_score=_mean([r.in_score for r in rs]),
            out_score=_mean([r.out_score for r in rs]),
            members=list(rs),
            origin=origin(rs[0]),
        )
        for key, rs in groups.items()
    ]
    return sorted([m for m in results if math.isfinite(m.target)], key=lambda m: -m.target)


@dataclass
class GPFindings:
    """What the final GP says.

    Attributes:
        n: mixtures it was fitted on.
        loo: ``actual``, ``loo_mean``, ``loo_std`` (each ``n``, target units).
        loo_rmse: root mean squared leave-one-out error; target_sd: the targets' standard deviation.
        verdict: whether its leave-one-out predictions rank the runs.
        at_best: posterior ``(mean, sd)`` at the recommended mixture.
        vs_uniform: ``(mean, sd, P(recommended > uniform))`` of the difference, or None.
        argmax: the GP's predicted best mixture, with its posterior ``(mean, sd)``.
        kernel, mean, warp, prior: the model; mean_choice: how the mean was chosen.
        noise_measured: whether repeated mixtures measured the noise; noise_sd: the GP's noise sd.
        signal_sd: the kernel's prior sd at the runs (:meth:`predictors.gp.GPSurrogate.signal_sd`).
    """

    n: int
    loo: dict[str, torch.Tensor]
    loo_rmse: float
    target_sd: float
    verdict: RankingVerdict
    at_best: tuple[float, float]
    vs_uniform: tuple[float, float, float] | None
    argmax: dict[str, float]
    argmax_prediction: tuple[float, float]
    kernel: str
    mean: str
    warp: str
    prior: str
    mean_choice: MeanChoice | None
    noise_measured: bool
    noise_sd: float
    signal_sd: float


@dataclass
class SearchSummary:
    """A mixture search's results (the report's data).

    Attributes:
        search_dir: the search directory; base_config: the ``main.py`` config of its runs.
        target: the searched score; domains: the training domains; decimals: the mixtures' rounding.
        records: every training run's record; results: successful runs by mixture, best first.
        best: the recommended mixture (best mean target among those with ``min_runs`` runs);
            uniform: the uniform mixture's result, if run.
        min_runs: runs the recommendation needed (the confirm stage's ``runs``; 1 without that stage).
        replicate_sd: the target's run-to-run sd pooled over replicated mixtures, with its degrees of freedom.
        base: the base model's record, if evaluated; failed: failed runs.
        gp: what the final GP says, or None with ``gp_error`` saying why not.
        means: the candidate means configured; noise_floor: the GP's noise floor (sd).
    """

    search_dir: str
    base_config: str
    target: str
    domains: list[str]
    decimals: int
    records: list[RunRecord]
    results: list[MixtureResult]
    best: MixtureResult
    uniform: MixtureResult | None
    base: RunRecord | None
    failed: list[RunRecord]
    min_runs: int = 1
    replicate_sd: tuple[float, int] | None = None
    gp: GPFindings | None = None
    gp_error: str | None = None
    means: list[str] = field(default_factory=list)
    noise_floor: float | None = None


def gp_findings(
    surrogate: GPSurrogate, table: RunTable, best: MixtureResult, uniform: MixtureResult | None
) -> GPFindings:
    """What ``surrogate`` (fitted on ``table``) says about the best mixture, uniform and its own argmax."""
    domains = table.domains
    actual = table.y[:, 0]
    loo_mean, loo_std = surrogate.loo()
    at = torch.tensor([[best.weights[d] for d in domains]], dtype=torch.float64)
    mean, std = surrogate.predict(at)
    vs_uniform = None
    if uniform is not None and uniform is not best:
        vs_uniform = surrogate.difference(
            at[0], torch.tensor([uniform.weights[d] for d in domains], dtype=torch.float64)
        )
    argmax = ModelArgmax(num=1, pool_size=2048).propose(table, surrogate)[0]
    a_mean, a_std = surrogate.predict(argmax.unsqueeze(0))
    return GPFindings(
        n=table.n,
        loo={"actual": actual, "loo_mean": loo_mean, "loo_std": loo_std},
        loo_rmse=float((loo_mean - actual).pow(2).mean().sqrt()),
        target_sd=float(actual.std()) if table.n > 1 else math.nan,
        verdict=ranking_verdict(loo_mean, actual, "leave-one-out"),
        at_best=(float(mean[0]), float(std[0])),
        vs_uniform=vs_uniform,
        argmax=dict(zip(domains, argmax.tolist(), strict=False)),
        argmax_prediction=(float(a_mean[0]), float(a_std[0])),
        kernel=surrogate.model.kernel_name,
        mean=surrogate.mean,
        warp=surrogate.warp,
        prior=str(surrogate.prior),
        mean_choice=surrogate.mean_choice,
        noise_measured=table.noise is not None,
        noise_sd=surrogate.noise_sd(),
        signal_sd=surrogate.signal_sd(),
    )


def find_uniform(results: Sequence[MixtureResult]) -> MixtureResult | None:
    """The uniform mixture's result (every weight equal within 1e-3: :func:`design_role`), if it was run."""
    return next((m for m in results if m.design == "uniform"), None)
