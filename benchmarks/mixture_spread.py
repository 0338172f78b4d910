"""Do mixtures matter? Per-mixture scores of a set of runs against the run-to-run spread of one mixture.

Reads run records (``predictors.records``) from one or more directories, for instance a mixture search's seed
runs and extra seeds of the uniform mixture::

    python benchmarks/mixture_spread.py runs/search/records runs/uniform/records
    python benchmarks/mixture_spread.py runs/search/records --replicated uniform --json runs/spread.json

and prints, per mixture (its runs averaged), In-Score, Out-Score and every benchmark's score, then:

- the replicate standard deviation of In- and Out-Score, from the runs of the ``--replicated`` mixture
  (default uniform; at least 2 runs with different seeds);
- the span (max - min over mixtures) of each, in those standard deviations, over the seed design
  (each domain alone, each left out, uniform), and over every mixture;
- the best single-domain and the best exclude-one mixture by Out-Score, and their difference in sds.

The figures say how far apart mixtures are relative to seed noise; they are not a significance test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors.records import RunRecord, read_records  # noqa: E402


def mixture_key(weights: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """A mixture as a hashable, normalised, rounded key (runs of one mixture share it)."""
    total = sum(weights.values())
    return tuple(sorted((d, round(w / total, 3)) for d, w in weights.items()))


def kind(key: tuple[tuple[str, float], ...]) -> str:
    """``single``, ``exclude_one``, ``uniform`` or ``other``, from the mixture's non-zero weights."""
    used = [w for _, w in key if w > 0]
    if len(used) == 1:
        return "single"
    if len(used) == len(key) and max(used) - min(used) < 1e-3:
        return "uniform"
    if len(used) == len(key) - 1 and max(used) - min(used) < 1e-3:
        return "exclude_one"
    return "other"


def label(key: tuple[tuple[str, float], ...]) -> str:
    """A short name: ``uniform``, ``only objects``, ``without geometry`` or the weights."""
    k = kind(key)
    if k == "uniform":
        return "uniform"
    if k == "single":
        return "only " + next(d for d, w in key if w > 0)
    if k == "exclude_one":
        return "without " + next(d for d, w in key if w == 0)
    return ", ".join(f"{d} {w:.2f}" for d, w in key)


def group(records: list[RunRecord]) -> dict[tuple, list[RunRecord]]:
    """Successful records by mixture."""
    out: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.status == "ok" and r.in_score is not None and r.out_score is not None:
            out[mixture_key(r.weights)].append(r)
    return dict(out)


def summarise(runs: dict[tuple, list[RunRecord]], replicated: str) -> dict:
    """The table rows and the spread figures (see the module docstring)."""
    rows = []
    for key, recs in runs.items():
        bench = sorted({b for r in recs for b in r.scores})
        rows.append({"mixture": label(key), "kind": kind(key), "runs": len(recs),
                     "in": statistics.mean(r.in_score for r in recs),
                     "out": statistics.mean(r.out_score for r in recs),
                     "scores": {b: statistics.mean(r.scores[b] for r in recs if b in r.scores) for b in bench}})
    rows.sort(key=lambda row: -row["out"])
    rep = [recs for key, recs in runs.items() if label(key) == replicated]
    if not rep or len(rep[0]) < 2:
        raise SystemExit(f"need >= 2 runs of the {replicated!r} mixture for a replicate sd; found "
                         f"{len(rep[0]) if rep else 0}")
    sd = {m: statistics.stdev(getattr(r, f"{m}_score") for r in rep[0]) for m in ("in", "out")}
    out: dict = {"rows": rows, "replicate_sd": sd, "replicates": len(rep[0])}
    for name, chosen in (("seed_design", [r for r in rows if r["kind"] != "other"]), ("all", rows)):
        out[f"span_{name}"] = {m: (max(r[m] for r in chosen) - min(r[m] for r in chosen)) / sd[m]
                               for m in ("in", "out")} if chosen else None
    singles = [r for r in rows if r["kind"] == "single"]
    excl = [r for r in rows if r["kind"] == "exclude_one"]
    if singles and excl:
        best_s, best_e = max(singles, key=lambda r: r["out"]), max(excl, key=lambda r: r["out"])
        out["best_single"], out["best_exclude_one"] = best_s["mixture"], best_e["mixture"]
        out["exclude_one_minus_single_out_sd"] = (best_e["out"] - best_s["out"]) / sd["out"]
    return out


def render(summary: dict) -> str:
    """Markdown: the per-mixture table and the spread lines."""
    rows = summary["rows"]
    bench = sorted({b for r in rows for b in r["scores"]})
    lines = ["| mixture | runs | In-Score | Out-Score | " + " | ".join(bench) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(bench)]
    for r in rows:
        cells = " | ".join(f"{r['scores'].get(b, float('nan')):.3f}" for b in bench)
        lines.append(f"| {r['mixture']} | {r['runs']} | {r['in']:.3f} | {r['out']:.3f} | {cells} |")
    sd = summary["replicate_sd"]
    lines.append("")
    lines.append(f"Replicate sd ({summary['replicates']} runs): In {sd['in']:.4f}, Out {sd['out']:.4f}.")
    for name in ("seed_design", "all"):
        span = summary[f"span_{name}"]
        if span:
            lines.append(f"Span over {name.replace('_', ' ')}: In {span['in']:.1f} sd, Out {span['out']:.1f} sd.")
    if "best_single" in summary:
        lines.append(f"Best exclude-one ({summary['best_exclude_one']}) minus best single ({summary['best_single']}) "
                     f"on Out-Score: {summary['exclude_one_minus_single_out_sd']:+.1f} sd.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record_dirs", nargs="+", help="directories of run records")
    parser.add_argument("--replicated", default="uniform", help="the mixture whose runs give the replicate sd")
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    records = [r for d in args.record_dirs for r in read_records(d).records]
    summary = summarise(group(records), args.replicated)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print(render(summary))


if __name__ == "__main__":
    main()
