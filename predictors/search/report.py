"""Renderings of a :class:`~predictors.search.summary.SearchSummary`: Markdown, PNG figures, TensorBoard.

Whatever the outcome, the report first states plainly where the best mixture stands against uniform,
then gives the command that trains it, how sure the GP is, and every run.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter

from predictors.figures import comparison_figure, predicted_vs_actual, scores_figure, weights_figure
from predictors.search.replicates import lead
from predictors.search.summary import GPFindings, MixtureResult, SearchSummary, origin


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _mix(weights: dict[str, float], decimals: int = 3) -> str:
    return ", ".join(f"{k}: {v:.{decimals}f}" for k, v in weights.items())


def verdict(best: MixtureResult, uniform: MixtureResult | None, target: str, sd: float | None = None) -> str:
    """One plain sentence: where the recommended mixture stands against uniform.

    Args:
        best: the recommended mixture; uniform: the uniform mixture's result, if run.
        target: the searched score.
        sd: the target's replicate sd; with it, and two or more runs on each side, the lead is said in sds and
            standard errors instead of being called noisy.
    """
    if uniform is None:
        return f"The uniform mixture has no successful run, so the best mixture cannot be compared with it on {target}."
    if best is uniform:
        return f"No mixture beat uniform: the uniform mixture itself has the best {target} ({_fmt(uniform.target)})."
    diff = best.target - uniform.target
    if sd is not None and sd > 0 and min(best.runs, uniform.runs) >= 2:
        gap = lead(best, uniform, "target", sd)
        # Two standard errors: a lead smaller than that is one a reshuffle of seeds could undo.
        doubt = "; within seed noise" if gap.in_se < 2 else ""
        runs = (
            f"({gap.in_sd:+.1f} replicate sd, {gap.in_se:+.1f} standard errors; "
            f"{best.runs} vs {uniform.runs} runs, sd {sd:.4f}{doubt})"
        )
    else:
        runs = f"({best.runs} vs {uniform.runs} run(s); a difference between single runs is noisy)"
    if diff <= 0:
        return f"No mixture beat uniform: the recommended one ties with it on {target} ({_fmt(best.target)}) {runs}."
    return (
        f"The recommended mixture beats uniform on {target}: {_fmt(best.target)} against {_fmt(uniform.target)}, "
        f"+{diff:.4f} {runs}."
    )


# A kernel whose prior sd is under this fraction of the noise sd explains every difference between runs as noise.
_FLAT_SIGNAL_TO_NOISE = 0.01


def _posterior_lines(t: str, gp: GPFindings) -> list[str]:
    """What the GP posterior says of the recommended mixture, uniform and its own argmax."""
    if gp.signal_sd < _FLAT_SIGNAL_TO_NOISE * gp.noise_sd:
        # "± 0.0000" and P = 0.50 would read as certainty, so say what the fit means instead.
        return [
            f"- The GP is flat: its signal sd ({gp.signal_sd:.2g}) is under {_FLAT_SIGNAL_TO_NOISE:g} of its noise "
            f"sd ({gp.noise_sd:.2g}), so it explains every difference between these runs as noise and predicts "
            f"{t} {gp.at_best[0]:.4f} everywhere; it ranks none of them, and more runs or replicates of the best "
            "mixtures are needed before it can."
        ]
    lines = [f"- GP posterior {t} at the recommended mixture: {gp.at_best[0]:.4f} ± {gp.at_best[1]:.4f} (1 sd)."]
    if gp.vs_uniform is not None:
        d_mean, d_std, prob = gp.vs_uniform
        lines.append(
            f"- GP: {t}(recommended) - {t}(uniform) = {d_mean:+.4f} ± {d_std:.4f}; "
            f"P(recommended > uniform) = {prob:.2f}."
        )
    lines.append(
        f"- GP argmax (predicted, not run): `{_mix(gp.argmax)}` with {t} {gp.argmax_prediction[0]:.4f} ± "
        f"{gp.argmax_prediction[1]:.4f}; run it to confirm."
    )
    return lines


def _gp_lines(s: SearchSummary, gp: GPFindings) -> list[str]:
    lines = [
        f"- {gp.verdict.sentence}",
        *_posterior_lines(s.target, gp),
        f"- GP leave-one-out RMSE over {gp.n} mixtures: {gp.loo_rmse:.4f} "
        f"(the target's spread: sd {gp.target_sd:.4f}).",
    ]
    chosen = f"- GP: kernel {gp.kernel}, mean {gp.mean}"
    if len(s.means) > 1 and gp.mean_choice is not None:
        errors = ", ".join(f"{m} {e:.4g}" for m, e in gp.mean_choice.errors.items())
        scored = gp.mean_choice.scored
        chosen += f" (of {', '.join(s.means)}: squared forecast error {errors} over {scored} forecast mixtures)"
    chosen += f", chosen warp {gp.warp}, lengthscale prior {gp.prior}; "
    if gp.noise_measured:
        chosen += f"seed noise from repeated mixtures (floor sd {s.noise_floor})."
    else:
        chosen += (
            f"no mixture repeated, so seed noise is assumed, not measured: GP noise sd {gp.noise_sd:.4f} "
            f"(floor {s.noise_floor})."
        )
    return [*lines, chosen, ""]


def render_markdown(s: SearchSummary) -> str:
    """The report's Markdown text."""
    best, uniform, base = s.best, s.uniform, s.base
    sd = s.replicate_sd[0] if s.replicate_sd else None
    lines = [f"# Mixture search report ({s.search_dir})", "", "## Answer", "", verdict(best, uniform, s.target, sd), ""]
    # The weights exactly as run (to the search's decimals): rounded for display, 0.0004 would print as 0.000.
    exact = _mix(best.weights, s.decimals)
    chosen = f"best mean {s.target} of the mixtures with {s.min_runs}+ runs" if s.min_runs > 1 else f"best {s.target}"
    lines += [f"**Recommended mixture** ({chosen}): `{exact}`", ""]
    if s.replicate_sd:
        lines += [f"Run-to-run sd of {s.target}: {s.replicate_sd[0]:.4f} (pooled, {s.replicate_sd[1]} degrees of "
                  "freedom, from the mixtures run more than once).", ""]  # fmt: skip
    lines += ["```", f"python main.py fit --config {s.base_config} --data.init_args.weights '{{{exact}}}'", "```", ""]
    gp_lines = _gp_lines(s, s.gp) if s.gp is not None else [f"The GP could not be fitted: {s.gp_error}", ""]
    lines += ["## How sure", "", *gp_lines]
    lines += ["## Recommended vs uniform vs base model", "", "| | In-Score | Out-Score | runs |", "|---|---|---|---|"]
    lines.append(f"| recommended | {_fmt(best.in_score)} | {_fmt(best.out_score)} | {best.runs} |")
    lines.append(
        f"| uniform | {_fmt(uniform.in_score) if uniform else 'n/a'} | {_fmt(uniform.out_score) if uniform else 'n/a'} "
        f"| {uniform.runs if uniform else 0} |"
    )
    base_note = (
        "not evaluated"
        if base is None
        else ("failed: " + (base.error or "").splitlines()[0] if base.status == "failed" else "1 (no training)")
    )
    base_ok = base is not None and base.status == "ok"
    lines.append(
        f"| base model | {_fmt(base.in_score) if base_ok else 'n/a'} | {_fmt(base.out_score) if base_ok else 'n/a'} "
        f"| {base_note} |"
    )
    lines += ["", "![comparison](figures/comparison.png)", "", "![weights](figures/weights.png)", ""]
    lines += [
        f"## Every mixture ({len(s.results)} mixtures, {sum(m.runs for m in s.results)} successful runs, "
        f"{len(s.failed)} failed)",
        "",
    ]
    lines += [
        "| rank | " + " | ".join(s.domains) + f" | {s.target} | In-Score | Out-Score | runs | proposed by |",
        "|" + "---|" * (len(s.domains) + 6),
    ]
    for i, m in enumerate(s.results, 1):
        cells = [f"{m.weights[d]:.3f}" for d in s.domains]
        lines.append(
            f"| {i} | "
            + " | ".join(cells)
            + f" | {_fmt(m.target)} | {_fmt(m.in_score)} | {_fmt(m.out_score)} | {m.runs} | {m.origin} |"
        )
    lines += ["", "![scores](figures/scores.png)", ""]
    if s.gp is not None:
        lines += ["![loo](figures/loo.png)", ""]
    if s.failed:
        lines += ["## Failed runs", ""]
        lines += [f"- `{r.run_id}` ({_mix(r.weights)}): {(r.error or '').splitlines()[0]}" for r in s.failed]
        lines.append("")
    return "\n".join(lines)


def draw_figures(s: SearchSummary) -> dict[str, Figure]:
    """The report's figures by name: every run, the chosen weights, best vs uniform vs base, the GP's LOO."""
    ok = sorted([r for r in s.records if r.status == "ok"], key=lambda r: getattr(r, s.target) or -math.inf)
    figures = {
        "scores": scores_figure(
            [f"{r.run_id} ({origin(r)})" for r in ok],
            [r.in_score or 0 for r in ok],
            [r.out_score or 0 for r in ok],
            s.target,
        ),
        "weights": weights_figure(s.best.weights),
    }
    compare = {"recommended": (s.best.in_score, s.best.out_score)}
    if s.uniform is not None:
        compare["uniform"] = (s.uniform.in_score, s.uniform.out_score)
    if s.base is not None and s.base.status == "ok":
        compare["base model"] = (s.base.in_score or math.nan, s.base.out_score or math.nan)
    figures["comparison"] = comparison_figure(compare)
    if s.gp is not None:
        figures["loo"] = predicted_vs_actual(s.gp.loo, s.target)
    return figures


def write_report(s: SearchSummary, directory: str | Path) -> Path:
    """Writes ``report.md`` and ``figures/*.png`` under ``directory`` and logs both to TensorBoard there.

    Returns:
        The Markdown file.
    """
    directory = Path(directory)
    text = render_markdown(s)
    fig_dir = directory / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(log_dir=str(directory / "tensorboard"))
    step = len(s.records)
    try:
        for name, fig in draw_figures(s).items():
            fig.savefig(fig_dir / f"{name}.png", dpi=110)
            writer.add_figure(f"search/{name}", fig, global_step=step, close=True)
        writer.add_text("search/report", text, global_step=step)
    finally:
        writer.close()
    path = directory / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
