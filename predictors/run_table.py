"""From run records to the tensors a mixture predictor fits: the :class:`RunTable`.

Rules for imperfect input (each is a documented choice, not an accident):

- Failed runs (``status == "failed"``) are left out and counted.
- All records must share one domain set; a directory mixing domain sets is an error that
  lists each set with an example file, because silently padding missing domains with zero
  weight would change what the runs mean.
- Weights summing to within ``WEIGHT_SUM_TOLERANCE`` of 1 are renormalised (rounding in
  printed configs); further off, the record is malformed and was already skipped on reading.
- A record whose target is missing or NaN is skipped for the table (warning with its run id).
- Duplicate mixtures (equal after rounding to ``1e-6``) are averaged; their spread gives the
  observation noise: the pooled within-mixture variance ``s^2`` over all replicated
  mixtures, and each mixture's noise is ``s^2 / count`` (the variance of its mean).
  Without any replicate, ``noise`` is None and the model learns a homoscedastic noise.
- Runs come in stages (:func:`stage_index`); the table keeps each run's stage and outcome
  (:class:`StagedRuns`), so the runs of one stage can be told from those before it, a repeated mixture
  included (:meth:`RunTable.stage_split`).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from predictors.records import RunRecord

_ROUND = 6


def record_value(record: RunRecord, target: str) -> float:
    """The value of ``target`` in ``record``: ``in_score``, ``out_score`` or a benchmark name.

    Returns NaN when the record lacks it.
    """
    if target == "in_score":
        value = record.in_score
    elif target == "out_score":
        value = record.out_score
    else:
        value = record.scores.get(target)
    return math.nan if value is None else float(value)


@dataclass
class StagedRuns:
    """The runs behind a :class:`RunTable`, one row per run, in the order they were given.

    Attributes:
        row: ``r`` index of each run's mixture in the table.
        y: ``r x t`` each run's targets.
        stage: ``r`` each run's stage (0 first).
    """

    row: Tensor
    y: Tensor
    stage: Tensor


@dataclass
class RunTable:
    """Unique mixtures and their averaged outcomes; what predictors and strategies consume.

    Attributes:
        domains: domain names, the column order of ``weights`` (length ``d``).
        targets: target names, the column order of ``y`` (length ``t``).
        weights: ``n x d`` mixtures, rows on the simplex, float64.
        y: ``n x t`` mean target per mixture.
        counts: ``n`` number of runs averaged into each row.
        noise: ``n x t`` variance of each row's mean, or None without replicates.
        in_score: ``n`` mean In-Score per mixture (NaN where unknown); used by heuristics.
        out_score: ``n`` mean Out-Score per mixture (NaN where unknown).
        runs: the runs with their stages, or None when the runs are not ordered; later stages are
            forecast from earlier ones (:mod:`predictors.mean_selection`).
        noise_dof: degrees of freedom of the pooled noise (runs minus mixtures, over the replicated ones).
    """

    domains: list[str]
    targets: list[str]
    weights: Tensor
    y: Tensor
    counts: Tensor
    noise: Tensor | None
    in_score: Tensor
    out_score: Tensor
    runs: StagedRuns | None = None
    noise_dof: int = 0

    @property
    def n(self) -> int:
        """Number of unique mixtures."""
        return self.weights.shape[0]

    @property
    def d(self) -> int:
        """Number of domains."""
        return self.weights.shape[1]

    @classmethod
    def from_arrays(
        cls,
        domains: Sequence[str],
        weights: Tensor,
        y: Tensor,
        targets: Sequence[str] = ("target",),
        in_score: Tensor | None = None,
        out_score: Tensor | None = None,
        stage: Sequence[int] | Tensor | None = None,
    ) -> RunTable:
        """A table from raw arrays (one run per row), with duplicates merged by the module rule.

        Args:
            domains: ``d`` domain names.
            weights: ``n x d`` mixtures.
            y: ``n`` or ``n x t`` targets.
            targets: ``t`` target names.
            in_score: optional ``n`` In-Scores.
            out_score: optional ``n`` Out-Scores.
            stage: optional ``n`` stage of each run (0 first).
        """
        w = torch.as_tensor(weights, dtype=torch.float64)
        yy = torch.as_tensor(y, dtype=torch.float64)
        yy = yy.unsqueeze(-1) if yy.ndim == 1 else yy
        nan = torch.full((w.shape[0],), math.nan, dtype=torch.float64)
        ins = nan if in_score is None else torch.as_tensor(in_score, dtype=torch.float64)
        outs = nan if out_score is None else torch.as_tensor(out_score, dtype=torch.float64)
        stages = None if stage is None else torch.as_tensor(stage, dtype=torch.long).reshape(-1)
        return _merge(list(domains), list(targets), w, yy, ins, outs, stages)

    def replicate_sd(self) -> Tensor | None:
        """The run-to-run sd of each target (``t``), pooled within the replicated mixtures, or None without any.

        Its degrees of freedom are ``noise_dof``.
        """
        return None if self.noise is None else (self.noise[0] * self.counts[0]).sqrt()

    def stages(self) -> list[int]:
        """The stages of the runs, in order (empty when the runs are not ordered)."""
        return [] if self.runs is None else sorted(set(self.runs.stage.tolist()))

    def stage_split(self, stage: int) -> tuple[RunTable, RunTable]:
        """The table of the runs before ``stage`` and the table of the runs of ``stage`` alone.

        Raises:
            ValueError: the runs are not ordered.
        """
        if self.runs is None:
            raise ValueError("this table's runs have no stages")
        r = self.runs
        nan = torch.full((r.row.shape[0],), math.nan, dtype=torch.float64)
        parts = []
        for keep in (r.stage < stage, r.stage == stage):
            parts.append(
                _merge(
                    self.domains,
                    self.targets,
                    self.weights[r.row[keep]],
                    r.y[keep],
                    nan[keep],
                    nan[keep],
                    r.stage[keep],
                )
            )
        return parts[0], parts[1]

    def subset(self, rows: Tensor) -> RunTable:
        """The mixtures selected by ``rows`` (a boolean mask or indices), with their noise and their runs."""
        pick = torch.arange(self.n)[torch.as_tensor(rows)]
        runs = None
        if self.runs is not None:
            new_index = torch.full((self.n,), -1, dtype=torch.long)
            new_index[pick] = torch.arange(pick.shape[0])
            keep = new_index[self.runs.row] >= 0
            runs = StagedRuns(new_index[self.runs.row[keep]], self.runs.y[keep], self.runs.stage[keep])
        return RunTable(
            domains=list(self.domains),
            targets=list(self.targets),
            weights=self.weights[pick],
            y=self.y[pick],
            counts=self.counts[pick],
            noise=None if self.noise is None else self.noise[pick],
            in_score=self.in_score[pick],
            out_score=self.out_score[pick],
            runs=runs,
            noise_dof=self.noise_dof,
        )


def _check_rows(domains: list[str], targets: list[str], w: Tensor, y: Tensor) -> Tensor:
    if w.ndim != 2 or w.shape[1] != len(domains):
        raise ValueError(f"weights must be n x {len(domains)} (one column per domain), got {tuple(w.shape)}")
    if y.shape != (w.shape[0], len(targets)):
        raise ValueError(f"targets must be {w.shape[0]} x {len(targets)}, got {tuple(y.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    sums = w.sum(-1)
    bad = ((sums - 1).abs() > 1e-2).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"weights of row(s) {bad[:10]} sum to {sums[bad[:10]].tolist()}, not 1")
    if not torch.isfinite(y).all():
        raise ValueError("targets contain NaN or inf; drop those runs first")
    return w / sums.unsqueeze(-1)


def _merge(
    domains: list[str], targets: list[str], w: Tensor, y: Tensor, ins: Tensor, outs: Tensor, stage: Tensor | None = None
) -> RunTable:
    w = _check_rows(domains, targets, w, y)
    groups: dict[tuple[float, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(w.tolist()):
        groups[tuple(round(v, _ROUND) for v in row)].append(i)
    order = list(groups.values())
    idx_first = [g[0] for g in order]
    runs = None
    if stage is not None:
        row = torch.empty(w.shape[0], dtype=torch.long)
        for k, g in enumerate(order):
            row[g] = k
        runs = StagedRuns(row, y.clone(), stage.clone())
    counts = torch.tensor([len(g) for g in order], dtype=torch.float64)
    y_mean = torch.stack([y[g].mean(0) for g in order])
    resid_ss = sum((y[g] - y[g].mean(0)).pow(2).sum(0) for g in order if len(g) > 1)
    dof = sum(len(g) - 1 for g in order)
    noise = None
    if dof > 0:
        pooled = resid_ss / dof  # t
        noise = pooled.unsqueeze(0) / counts.unsqueeze(-1)

    def nanmean(v: Tensor, g: list[int]) -> Tensor:
        vals = v[g][~torch.isnan(v[g])]
        return vals.mean() if vals.numel() else torch.tensor(math.nan, dtype=torch.float64)

    return RunTable(
        domains=domains,
        targets=targets,
        weights=w[idx_first].clone(),
        y=y_mean,
        counts=counts,
        noise=noise,
        in_score=torch.stack([nanmean(ins, g) for g in order]),
        out_score=torch.stack([nanmean(outs, g) for g in order]),
        runs=runs,
        noise_dof=dof,
    )


_SEARCH_STAGE_ORDER = {"seeds": 0, "heuristics": 1}


def _search_stage(record: RunRecord) -> str | None:
    search = record.config.get("search") if isinstance(record.config, dict) else None
    stage = search.get("stage") if isinstance(search, dict) else None
    return str(stage) if stage is not None else None


def _stage_rank(name: str | None) -> int:
    if name is None:
        return 0
    if name.startswith("round_") and name[6:].isdigit():
        return 1 + int(name[6:]) + 1
    return _SEARCH_STAGE_ORDER.get(name, 10**6)


def stage_index(records: Sequence[RunRecord]) -> list[int]:
    """The stage of each record, 0 first, for forecasting later runs from earlier ones.

    The records of one mixture-search stage (``config.search.stage``: ``seeds``, ``heuristics``,
    ``round_1``, ...) form one stage; a record from anywhere else (a plain ``main.py fit``) is a stage
    of its own. Stages are ordered by their first finish time, ties by the search's stage order.
    """
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        name = _search_stage(r)
        groups.setdefault(f"search:{name}" if name is not None else f"run:{i}", []).append(i)

    def key(item: tuple[str, list[int]]) -> tuple[str, int, str]:
        label, members = item
        first = min(records[i].finished_at or "" for i in members)
        return first, _stage_rank(_search_stage(records[members[0]])), label

    index = [0] * len(records)
    for k, (_, members) in enumerate(sorted(groups.items(), key=key)):
        for i in members:
            index[i] = k
    return index


def table_from_records(
    records: Sequence[RunRecord], targets: Sequence[str], domains: Sequence[str] | None = None
) -> RunTable:
    """Builds a :class:`RunTable` from records by the module's rules.

    Args:
        records: well-formed records (see :func:`predictors.records.read_records`).
        targets: one or more of ``out_score``, ``in_score`` or benchmark names.
        domains: the column order of the weights (the same domains as the records'); None sorts them by name.

    Raises:
        ValueError: mixed domain sets, domains that are not the records', or no usable record.
    """
    if not targets:
        raise ValueError("at least one target is needed")
    ok = [r for r in records if r.status == "ok"]
    domain_sets: dict[tuple[str, ...], str] = {}
    for r in ok:
        domain_sets.setdefault(tuple(sorted(r.weights)), r.run_id)
    if len(domain_sets) > 1:
        listing = "; ".join(f"{list(k)} (e.g. run {v})" for k, v in domain_sets.items())
        raise ValueError(f"records mix {len(domain_sets)} different domain sets, use one directory per set: {listing}")
    if not ok:
        raise ValueError(f"no successful run among {len(records)} record(s)")
    if domains is not None and sorted(domains) != sorted(ok[0].weights):
        raise ValueError(f"the records cover domains {sorted(ok[0].weights)}, not {sorted(domains)}")
    columns = list(domains) if domains is not None else sorted(ok[0].weights)
    stages = stage_index(ok)
    rows, ys, ins, outs, kept_stages, dropped = [], [], [], [], [], []
    for r, stage in zip(ok, stages, strict=False):
        values = [record_value(r, t) for t in targets]
        if not all(math.isfinite(v) for v in values):
            dropped.append(r.run_id)
            continue
        rows.append([r.weights[k] for k in columns])
        ys.append(values)
        ins.append(record_value(r, "in_score"))
        outs.append(record_value(r, "out_score"))
        kept_stages.append(stage)
    if dropped:
        warnings.warn(
            f"skipped {len(dropped)} run(s) without a finite value for {list(targets)}: {dropped}", stacklevel=2
        )
    if not rows:
        raise ValueError(f"no run has a finite value for targets {list(targets)}")
    return _merge(
        columns,
        list(targets),
        torch.tensor(rows, dtype=torch.float64),
        torch.tensor(ys, dtype=torch.float64),
        torch.tensor(ins, dtype=torch.float64),
        torch.tensor(outs, dtype=torch.float64),
        torch.tensor(kept_stages, dtype=torch.long),
    )
