"""Ranked mixture proposals as text: Markdown, YAML and console lines, each with a ready ``--data.weights``.

The files are written by ``callbacks.MixtureProposalWriter`` and the console lines printed by
``callbacks.PredictorSummary``; a proposal is a dict as returned by
:meth:`predictors.gp_predictor.GPPredictor.predict_step`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


def _key(name: str) -> str:
    # Domain names with YAML-significant characters are quoted (JSON strings are valid YAML).
    return name if _PLAIN_KEY.fullmatch(name) else json.dumps(name)


def weights_snippet(weights: dict[str, float]) -> str:
    """The one-line YAML flow mapping to paste after ``--data.weights``."""
    return "{" + ", ".join(f"{_key(k)}: {v:.4g}" for k, v in weights.items()) + "}"


def fit_command(weights: dict[str, float], base_config: str) -> str:
    """The ``main.py fit`` command that trains ``weights``."""
    return f"python main.py fit --config {base_config} --data.weights '{weights_snippet(weights)}'"


def _trained_note(p: dict[str, Any]) -> str:
    return "" if p.get("trained") is None else f" (already trained: observed {p['trained']:.4f})"


def render_markdown(
    proposals: Sequence[dict[str, Any]],
    maximize: bool = True,
    verdict: str | None = None,
    base_config: str = "configs/mix.yaml",
) -> str:
    """A Markdown report: the verdict on the ranking, a ranked table, one ready command per mixture."""
    lines = ["# Proposed mixtures", ""]
    if verdict:
        lines += [verdict, ""]
    if not proposals:
        return "\n".join(lines + ["No proposals.", ""])
    targets = list(proposals[0]["mean"])
    domains = list(proposals[0]["weights"])
    order = "highest" if maximize else "lowest"
    lines += [
        f"Ranked by predicted `{targets[0]}` ({order} first); mean ± std of the GP posterior.",
        "",
        "| rank | strategies | " + " | ".join(domains) + " | " + " | ".join(targets) + " |",
        "|---|---|" + "---|" * (len(domains) + len(targets)),
    ]
    for rank, p in enumerate(proposals, 1):
        ws = " | ".join(f"{p['weights'][d]:.3f}" for d in domains)
        ys = " | ".join(f"{p['mean'][t]:.4f} ± {p['std'][t]:.4f}" for t in targets)
        lines.append(f"| {rank} | {', '.join(p['strategies'])}{_trained_note(p)} | {ws} | {ys} |")
    lines += ["", "## Ready to run", ""]
    lines += [f"{rank}. `{fit_command(p['weights'], base_config)}`" for rank, p in enumerate(proposals, 1)]
    return "\n".join(lines) + "\n"


def render_yaml(proposals: Sequence[dict[str, Any]]) -> str:
    """A YAML list of proposals (rank, strategies, weights, mean, std, trained); readable by any YAML parser."""
    lines = []
    for rank, p in enumerate(proposals, 1):
        lines.append(f"- rank: {rank}")
        lines.append(f"  strategies: [{', '.join(p['strategies'])}]")
        lines.append(f"  weights: {weights_snippet(p['weights'])}")
        lines.append("  mean: {" + ", ".join(f"{_key(k)}: {v:.6g}" for k, v in p["mean"].items()) + "}")
        lines.append("  std: {" + ", ".join(f"{_key(k)}: {v:.6g}" for k, v in p["std"].items()) + "}")
        lines.append(f"  trained: {'null' if p.get('trained') is None else format(p['trained'], '.6g')}")
    return "\n".join(lines) + "\n"


def console_lines(proposals: Sequence[dict[str, Any]], top: int, base_config: str = "configs/mix.yaml") -> list[str]:
    """The ``top`` best proposals, two lines each: the prediction, then the command that trains it."""
    lines = []
    for rank, p in enumerate(proposals[:top], 1):
        target = next(iter(p["mean"]))
        prediction = f"{p['mean'][target]:.4f} ± {p['std'][target]:.4f}"
        lines.append(f"  {rank}. predicted {target} {prediction} ({', '.join(p['strategies'])}){_trained_note(p)}")
        lines.append(f"     {fit_command(p['weights'], base_config)}")
    return lines
