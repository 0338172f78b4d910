"""Do mixtures matter? Per-mixture scores of a set of runs against the run-to-run spread of one mixture.

Reads run records (``predictors.records``) from one or more directories, for instance a mixture search's seed
runs and extra seeds of the uniform mixture::

    python benchmarks/mixture_spread.py runs/search/records runs/uniform/records
    python benchmarks/mixture_spread.py runs/search/records --replicated uniform --json runs/spread.json

and prints, per mixture (its runs averaged), In-Score, Out-Score and every benchmark's score, then:

- the replicate standard deviation of In- and Out-Score, from the runs of the ``--replicated`` mixture
  (default uniform; at least 2 runs with different seeds), and of each benchmark, largest first;
- the span (max - min over mixtures) of each, in those standard deviations, over the seed design
  (each domain alone, each left out, uniform), and over every mixture;
- the best single-domain and the best exclude-one mixture by Out-Score, and their difference in sds;
- every mixture with >= 2 runs against the replicated one, on Out-Score, in sds and in standard errors.

The figures say how far apart mixtures are relative to seed noise; they are not a significance test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors.records import RunRecord, read_records  # noqa: E402
from predictors.search.replicates import lead, replicate_sd  # noqa: E402
from predictors.search.summary import MixtureResult, group_by_mixture  # noqa: E402


def group(records: list[RunRecord]) -> list[MixtureResult]:
    """Runs with both scores, by mixture, best Out-Score first; repeats of one seed counted once.

    Raises:
        SystemExit: if the records do not all name the same domains.
    """
    scored, seen = [], set()
    for r in records:
        if r.status != "ok" or r.in_score is None or r.out_score is None:
            continue
        # Training is deterministic given the seed: a second run of a mixture with the same seed and steps (from
        # another search directory) is the same run, and counting it twice would shrink the spread.
        run = (tuple(sorted((d, round(w, 6)) for d, w in r.weights.items())), r.seed, r.steps)
        if r.seed is not None and run in seen:
            print(f"skipping {r.run_id}: the same mixture, seed and steps as an earlier record", file=sys.stderr)
            continue
        seen.add(run)
        scored.append(r)
    names = {tuple(sorted(r.weights)) for r in scored}
    if len(names) > 1:
        raise SystemExit(f"the records mix domain sets {sorted(names)}; summarise one world at a time")
    return group_by_mixture(scored, next(iter(names), ()), "out_score")


def summarise(results: list[MixtureResult], replicated: str) -> dict:
    """The table rows and the spread figures (see the module docstring)."""
    rows = [{"mixture": m.label, "kind": m.design, "runs": m.runs, "in": m.in_score, "out": m.out_score,
             "scores": m.scores} for m in results]
    rep = next((m for m in results if m.label == replicated), None)
    if rep is None or rep.runs < 2:
        raise SystemExit(f"need >= 2 runs of the {replicated!r} mixture for a replicate sd; found "
                         f"{rep.runs if rep else 0}")
    sd = {m: replicate_sd([rep], f"{m}_score")[0] for m in ("in", "out")}
    if min(sd.values()) == 0:
        raise SystemExit(f"the {replicated!r} runs score identically ({sd}); no replicate sd to compare against")
    out: dict = {"rows": rows, "replicate_sd": sd, "replicates": rep.runs}
    # Which benchmarks the Out-Score's noise comes from: a benchmark whose score drifts from seed to seed hides
    # mixture effects on the others (Out-Score is their mean, so its sd carries each one's sd / #benchmarks).
    per_bench = {b: s[0] for b in sorted({b for r in rows for b in r["scores"]}) if (s := replicate_sd([rep], b))}
    out["benchmark_sd"] = dict(sorted(per_bench.items(), key=lambda kv: -kv[1]))
    for name, chosen in (("seed_design", [r for r in rows if r["kind"] != "other"]), ("all", rows)):
        out[f"span_{name}"] = {m: (max(r[m] for r in chosen) - min(r[m] for r in chosen)) / sd[m]
                               for m in ("in", "out")} if chosen else None
    singles = [r for r in rows if r["kind"] == "single"]
    excl = [r for r in rows if r["kind"] == "exclude_one"]
    if singles and excl:
        best_s, best_e = max(singles, key=lambda r: r["out"]), max(excl, key=lambda r: r["out"])
        out["best_single"], out["best_exclude_one"] = best_s["mixture"], best_e["mixture"]
        out["exclude_one_minus_single_out_sd"] = (best_e["out"] - best_s["out"]) / sd["out"]
    # Replicated mixtures against the reference: the difference in replicate sds and in standard errors of the
    # difference of two means (the sd taken as every mixture's), so claims need >= 2 runs on both sides.
    out["vs_replicated"] = []
    for m in results:
        if m.runs >= 2 and m is not rep:
            gap = lead(m, rep, "out_score", sd["out"])
            out["vs_replicated"].append({"mixture": m.label, "runs": m.runs, "out_sd": gap.in_sd, "out_se": gap.in_se})
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
    lines.append("Replicate sd by benchmark: " + ", ".join(f"{b} {v:.3f}" for b, v in summary["benchmark_sd"].items())
                 + ".")
    for name in ("seed_design", "all"):
        span = summary[f"span_{name}"]
        if span:
            lines.append(f"Span over {name.replace('_', ' ')}: In {span['in']:.1f} sd, Out {span['out']:.1f} sd.")
    if "best_single" in summary:
        lines.append(f"Best exclude-one ({summary['best_exclude_one']}) minus best single ({summary['best_single']}) "
                     f"on Out-Score: {summary['exclude_one_minus_single_out_sd']:+.1f} sd.")
    for v in summary["vs_replicated"]:
        lines.append(f"{v['mixture']} ({v['runs']} runs) minus the replicated mixture on Out-Score: "
                     f"{v['out_sd']:+.1f} sd ({v['out_se']:+.1f} standard errors).")
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
