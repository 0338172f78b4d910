"""The search report: Markdown + PNG figures under ``search_dir``, also logged to TensorBoard.

It answers "which mixture should I train on, and how sure are you?": the best evaluated mixture
(highest mean target over its runs), its In-/Out-Score against the uniform mixture and the base
model, the GP's posterior probability that it beats uniform, the GP's leave-one-out accuracy,
and the GP's own argmax (a prediction, not yet run). Whatever the outcome, the report states
plainly where the best mixture stands against uniform.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and TensorBoard
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from predictors.gp import GPSurrogate  # noqa: E402
from predictors.records import RunRecord  # noqa: E402
from predictors.strategies import ModelArgmax  # noqa: E402

if TYPE_CHECKING:
    from predictors.search.driver import MixtureSearch


@dataclass
class MixtureResult:
    """The successful runs of one mixture, averaged.

    Attributes:
        weights: the mixture (search domain order).
        runs: how many successful runs.
        target: mean target; in_score / out_score: means (NaN if unknown).
        run_ids: the runs averaged.
        origin: what proposed it (first run's origin).
    """

    weights: dict[str, float]
    runs: int
    target: float
    in_score: float
    out_score: float
    run_ids: list[str]
    origin: str


def _mean(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _origin(record: RunRecord) -> str:
    search = record.config.get("search") if isinstance(record.config, dict) else None
    return str(search.get("origin", "?")) if isinstance(search, dict) else "external"


def group_by_mixture(records: list[RunRecord], domains: list[str], target: str) -> list[MixtureResult]:
    """Successful runs grouped by mixture (rounded to 1e-6), best mean target first."""
    groups: dict[tuple[float, ...], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.status == "ok":
            groups[tuple(round(r.weights[d], 6) for d in domains)].append(r)
    results = [
        MixtureResult(
            weights=dict(zip(domains, key)),
            runs=len(rs),
            target=_mean([getattr(r, target) for r in rs]),
            in_score=_mean([r.in_score for r in rs]),
            out_score=_mean([r.out_score for r in rs]),
            run_ids=[r.run_id for r in rs],
            origin=_origin(rs[0]),
        )
        for key, rs in groups.items()
    ]
    return sorted([m for m in results if math.isfinite(m.target)], key=lambda m: -m.target)


def _noise_sd(surrogate: GPSurrogate) -> float:
    """The GP's homoscedastic observation-noise sd in target units (the learned extra term with replicates)."""
    lik = surrogate.model.likelihood
    noise = lik.second_noise if hasattr(lik, "second_noise") else lik.noise
    return surrogate.scale * float(noise.detach().reshape(-1)[0]) ** 0.5


def prob_better(surrogate: GPSurrogate, a: dict[str, float], b: dict[str, float], domains: list[str]) -> tuple[float, float, float]:
    """GP posterior of ``f(a) - f(b)``: ``(mean, std, P(f(a) > f(b)))`` in target units (joint, so correlation counts)."""
    x = torch.tensor([[a[d] for d in domains], [b[d] for d in domains]], dtype=torch.float64)
    with torch.no_grad():
        post = surrogate.model.posterior(x)
        mean = post.mean.squeeze(-1)
        cov = post.mvn.covariance_matrix
    diff_mean = surrogate.sign * surrogate.scale * float(mean[0] - mean[1])
    diff_var = surrogate.scale**2 * float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    std = math.sqrt(max(diff_var, 0.0))
    prob = 0.5 * (1 + math.erf(diff_mean / (std * math.sqrt(2)))) if std > 0 else float(diff_mean > 0)
    return diff_mean, std, prob


# ------------------------------------------------------------------ figures
def scores_figure(records: list[RunRecord], target: str) -> Figure:
    """Out-Score and In-Score of every successful run, sorted by the target."""
    ok = sorted([r for r in records if r.status == "ok"], key=lambda r: getattr(r, target) or -math.inf)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(ok) + 1.5))
    y = range(len(ok))
    ax.barh([i + 0.2 for i in y], [r.out_score or 0 for r in ok], height=0.4, label="Out-Score")
    ax.barh([i - 0.2 for i in y], [r.in_score or 0 for r in ok], height=0.4, label="In-Score")
    ax.set_yticks(list(y), [f"{r.run_id} ({_origin(r)})" for r in ok], fontsize=7)
    ax.set(xlabel="score", title=f"every run, sorted by {target}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def loo_figure(surrogate: GPSurrogate, actual: torch.Tensor, target: str) -> Figure:
    """Leave-one-out predictions of the final GP against the observed target (95% intervals)."""
    mean, std = surrogate.loo()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.errorbar(actual.numpy(), mean.numpy(), yerr=1.96 * std.numpy(), fmt="o", ms=4)
    lo, hi = float(torch.minimum(actual.min(), mean.min())), float(torch.maximum(actual.max(), mean.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=f"actual {target}", ylabel=f"LOO predicted {target}", title="final GP, leave-one-out")
    fig.tight_layout()
    return fig


def weights_figure(best: MixtureResult, domains: list[str]) -> Figure:
    """The chosen mixture's weights against uniform."""
    fig, ax = plt.subplots(figsize=(1.0 * len(domains) + 2, 3))
    ax.bar(domains, [best.weights[d] for d in domains])
    ax.axhline(1 / len(domains), color="k", ls="--", lw=1, label="uniform")
    ax.set(ylabel="weight", title="chosen mixture")
    ax.legend()
    fig.tight_layout()
    return fig


def comparison_figure(rows: dict[str, tuple[float, float]]) -> Figure:
    """In-/Out-Score of the best mixture, uniform and the base model (missing ones are left out)."""
    names = list(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [rows[n][0] for n in names], width=0.4, label="In-Score")
    ax.bar([x + 0.2 for x in xs], [rows[n][1] for n in names], width=0.4, label="Out-Score")
    ax.set_xticks(list(xs), names)
    ax.set(ylabel="score", title="best found vs uniform vs base model")
    ax.legend()
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ report
def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _mix(weights: dict[str, float], decimals: int = 3) -> str:
    return ", ".join(f"{k}: {v:.{decimals}f}" for k, v in weights.items())


def verdict(best: MixtureResult, uniform: MixtureResult | None, target: str) -> str:
    """One plain sentence: where the best found mixture stands against uniform."""
    if uniform is None:
        return f"The uniform mixture has no successful run, so the best mixture cannot be compared with it on {target}."
    if best is uniform:
        return f"No mixture beat uniform: the uniform mixture itself has the best {target} ({_fmt(uniform.target)})."
    diff = best.target - uniform.target
    runs = f"({best.runs} vs {uniform.runs} run(s); a difference between single runs is noisy)"
    if diff <= 0:
        return f"No mixture beat uniform: the best found ties with uniform on {target} ({_fmt(best.target)}) {runs}."
    return f"The best found mixture beats uniform on {target}: {_fmt(best.target)} against {_fmt(uniform.target)}, +{diff:.4f} {runs}."


def write_report(search: MixtureSearch) -> Path:
    """Writes ``report.md`` and ``figures/*.png`` under the search directory and logs them to TensorBoard."""
    config, domains, target = search.config, search.domains, search.config.target
    records = search.records()
    results = group_by_mixture(records, domains, target)
    if not results:
        raise RuntimeError(f"no successful run in {str(search.records_dir)!r}; nothing to report")
    best = results[0]
    uniform_w = {d: round(1 / len(domains), 6) for d in domains}
    uniform = next((m for m in results if all(abs(m.weights[d] - uniform_w[d]) < 1e-3 for d in domains)), None)
    base = search.base_record()
    failed = [r for r in records if r.status == "failed"]
    figures: dict[str, Figure] = {"scores": scores_figure(records, target), "weights": weights_figure(best, domains)}
    compare = {"best": (best.in_score, best.out_score)}
    if uniform is not None:
        compare["uniform"] = (uniform.in_score, uniform.out_score)
    if base is not None and base.status == "ok":
        compare["base model"] = (base.in_score or math.nan, base.out_score or math.nan)
    figures["comparison"] = comparison_figure(compare)

    lines = [f"# Mixture search report ({search.dir})", "", "## Answer", "", verdict(best, uniform, target), ""]
    # The weights exactly as run (to the search's decimals): rounded for display, 0.0004 would print as 0.000.
    exact = _mix(best.weights, config.decimals)
    lines += [f"**Recommended mixture** (best evaluated {target}): `{exact}`", ""]
    lines += ["```", f"python main.py fit --config {config.base_config} --data.init_args.weights '{{{exact}}}'", "```", ""]
    gp_lines: list[str] = []
    try:
        table = search.table()
        choice = search.choose_mean()
        surrogate = search.fit_surrogate(table, choice.mean)
    except Exception as err:  # noqa: BLE001 - the report must still come out; say why the GP is missing
        gp_lines = [f"The GP could not be fitted: {err}", ""]
    else:
        figures["loo"] = loo_figure(surrogate, table.y[:, 0], target)
        loo_mean, _ = surrogate.loo()
        rmse = float((loo_mean - table.y[:, 0]).pow(2).mean().sqrt())
        mean, std = surrogate.predict(torch.tensor([[best.weights[d] for d in domains]], dtype=torch.float64))
        gp_lines += [
            f"- GP posterior {target} at the recommended mixture: {float(mean[0]):.4f} ± {float(std[0]):.4f} (1 sd).",
            f"- GP leave-one-out RMSE over {table.n} mixtures: {rmse:.4f} (the target's spread: sd {float(table.y[:, 0].std()):.4f}).",
        ]
        if uniform is not None and best is not uniform:
            d_mean, d_std, prob = prob_better(surrogate, best.weights, uniform.weights, domains)
            gp_lines.append(f"- GP: {target}(recommended) - {target}(uniform) = {d_mean:+.4f} ± {d_std:.4f}; P(recommended > uniform) = {prob:.2f}.")
        argmax = ModelArgmax(num=1, pool_size=2048).propose(table, surrogate)[0]
        a_mean, a_std = surrogate.predict(argmax.unsqueeze(0))
        gp_lines += [
            f"- GP argmax (predicted, not run): `{_mix(dict(zip(domains, argmax.tolist())))}` "
            f"with {target} {float(a_mean[0]):.4f} ± {float(a_std[0]):.4f}; run it to confirm.",
            f"- GP: kernel {config.gp.kernel}, mean {choice.mean}"
            + (f" (of {', '.join(config.gp.means)}: squared forecast error "
               + ", ".join(f"{m} {e:.4g}" for m, e in choice.errors.items()) + f" over {choice.scored} forecast mixtures)"
               if len(config.gp.means) > 1 else "")
            + f", chosen warp {surrogate.warp}, lengthscale prior {surrogate.prior}; "
            + (
                f"seed noise from repeated mixtures (floor sd {config.gp.noise_floor})."
                if table.noise is not None
                else f"no mixture repeated, so seed noise is assumed, not measured: GP noise sd {_noise_sd(surrogate):.4f} "
                f"(floor {config.gp.noise_floor})."
            ),
            "",
        ]
    lines += ["## How sure", "", *gp_lines]
    lines += ["## Best found vs uniform vs base model", "", "| | In-Score | Out-Score | runs |", "|---|---|---|---|"]
    lines.append(f"| best found | {_fmt(best.in_score)} | {_fmt(best.out_score)} | {best.runs} |")
    lines.append(f"| uniform | {_fmt(uniform.in_score) if uniform else 'n/a'} | {_fmt(uniform.out_score) if uniform else 'n/a'} | {uniform.runs if uniform else 0} |")
    base_note = "not evaluated" if base is None else ("failed: " + (base.error or "").splitlines()[0] if base.status == "failed" else "1 (no training)")
    base_ok = base is not None and base.status == "ok"
    lines.append(f"| base model | {_fmt(base.in_score) if base_ok else 'n/a'} | {_fmt(base.out_score) if base_ok else 'n/a'} | {base_note} |")
    lines += ["", "![comparison](figures/comparison.png)", "", "![weights](figures/weights.png)", ""]
    lines += [f"## Every mixture ({len(results)} mixtures, {sum(m.runs for m in results)} successful runs, {len(failed)} failed)", ""]
    lines += ["| rank | " + " | ".join(domains) + f" | {target} | In-Score | Out-Score | runs | proposed by |", "|" + "---|" * (len(domains) + 6)]
    for i, m in enumerate(results, 1):
        cells = [f"{m.weights[d]:.3f}" for d in domains]
        lines.append(f"| {i} | " + " | ".join(cells) + f" | {_fmt(m.target)} | {_fmt(m.in_score)} | {_fmt(m.out_score)} | {m.runs} | {m.origin} |")
    lines += ["", "![scores](figures/scores.png)", ""]
    if "loo" in figures:
        lines += ["![loo](figures/loo.png)", ""]
    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- `{r.run_id}` ({_mix(r.weights)}): {(r.error or '').splitlines()[0]}" for r in failed]
        lines.append("")
    text = "\n".join(lines)

    fig_dir = search.dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(log_dir=str(search.dir / "tensorboard"))
    step = len(records)
    try:
        for name, fig in figures.items():
            fig.savefig(fig_dir / f"{name}.png", dpi=110)
            writer.add_figure(f"search/{name}", fig, global_step=step, close=True)
        writer.add_text("search/report", text, global_step=step)
    finally:
        writer.close()
    path = search.dir / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
