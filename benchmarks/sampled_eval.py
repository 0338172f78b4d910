"""Does a mixture's greedy lead survive sampling? Re-evaluates a search's trained policies with sampled decoding.

Greedy evaluation scores each question's most likely answer. On a small policy a small shift of an answer prior
(one option letter, one corner's words) can flip the argmax on a whole benchmark at once, so a greedy Out-Score
can move by 0.1-0.3 between seeds without the policy's answer distribution moving much. This script re-evaluates
every trained policy of a search directory at the training temperature (``--samples`` evaluations with different
sampling seeds, on the same questions), averages them into one run record per run (the run's mixture, seed and
steps) and writes them to ``<search_dir>/sampled/records``, which ``benchmarks/mixture_spread.py`` reads like any
run records::

    # keep each run's exported policy (the search drops ExportPolicy by default)
    python -m predictors.search --config configs/search.yaml --search_dir runs/evalstudy --stop_after seeds \\
        --drop_callbacks '[ModelCheckpoint, RunInterruptCheckpoint, CompletionSamples]'
    python benchmarks/sampled_eval.py runs/evalstudy --samples 3 --base   # --base: the untrained policy too
    python benchmarks/mixture_spread.py runs/evalstudy/sampled/records

A sampled score is the policy's expected accuracy at that temperature: a smooth function of its weights, where the
greedy score is not. Each evaluation is one ``main.py validate`` of the search's base config in its own process,
run by the search's local launcher (``--parallel`` at a time, one thread each, a log beside each record); finished
evaluations are kept under ``<search_dir>/sampled/evals`` (``--out`` names another folder), so rerunning the command
resumes. Run it from the repository root, as the search (its base_config is relative to it). Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import fmean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors.records import RunRecord, read_records, write_record  # noqa: E402
from predictors.search.launchers import LocalLauncher  # noqa: E402
from predictors.search.plan import PlannedRun  # noqa: E402

BASE = "base"  # the untrained policy's evaluations, beside the runs'


def find_policy(search_dir: Path, run_id: str) -> Path | None:
    """The policy ``callbacks.ExportPolicy`` wrote for ``run_id`` (its latest logger version), or None."""
    found = sorted((search_dir / "logs" / run_id).glob("version_*/policy/config.json"),
                   key=lambda p: int(p.parent.parent.name.removeprefix("version_")))
    return found[-1].parent if found else None


def validate_command(config: str, policy: Path | None, seed: int, temperature: float, out_dir: Path, run_id: str,
                     max_new_tokens: int) -> list[str]:
    """One sampled ``main.py validate`` of ``policy`` (None: the config's own) whose scores ``BaseScoreRecorder``
    writes to ``out_dir``."""
    generation = {"max_new_tokens": max_new_tokens, "do_sample": True, "temperature": temperature, "top_p": 1.0}
    recorder = [{"class_path": "callbacks.base_score.BaseScoreRecorder",
                 "init_args": {"dirpath": str(out_dir), "run_id": run_id}}]
    model = [] if policy is None else [f"--model.init_args.policy.init_args.model_name_or_path={policy}"]
    return [sys.executable, str(ROOT / "main.py"), "validate", "--config", config, f"--seed_everything={seed}",
            *model, f"--model.init_args.eval_generation={json.dumps(generation)}",
            f"--trainer.callbacks={json.dumps(recorder)}", "--trainer.logger=false",
            "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={out_dir / 'lightning'}"]


def average(run: RunRecord, evals: list[RunRecord], temperature: float) -> RunRecord:
    """``run``'s mixture, seed and steps with the mean of ``evals``' scores (benchmarks every evaluation has)."""
    names = sorted(set.intersection(*(set(e.scores) for e in evals)))
    return RunRecord(
        weights=dict(run.weights),
        scores={b: fmean(e.scores[b] for e in evals) for b in names},
        in_score=fmean(e.in_score for e in evals) if all(e.in_score is not None for e in evals) else None,
        out_score=fmean(e.out_score for e in evals) if all(e.out_score is not None for e in evals) else None,
        steps=run.steps,
        seed=run.seed,
        config={"search": run.config.get("search", {}),
                "sampled_eval": {"samples": len(evals), "temperature": temperature}},
        stage=run.stage,
        run_id=run.run_id,
    )


def planned_evaluation(rid: str, sample: int, command: list[str], out_dir: Path) -> PlannedRun:
    """Evaluation ``sample`` of ``rid`` as a run the search's launcher executes (log, failed record, interrupt)."""
    return PlannedRun(run_id=f"{rid}-s{sample}", weights={}, repeat=sample, stage="sampled", origin="sampled_eval",
                      kind="validate", command=command, record_dir=str(out_dir), log_path=str(out_dir / "validate.log"))


def finished(evals_dir: Path, rid: str, samples: int) -> list[RunRecord]:
    """The successful evaluations of ``rid`` among its first ``samples``."""
    dirs = [evals_dir / rid / f"s{s}" for s in range(samples)]
    return [r for d in dirs if d.is_dir() for r in read_records(d, warn=False).records if r.status == "ok"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("search_dir", type=Path, help="a mixture search's directory (records/, logs/)")
    parser.add_argument("--samples", type=int, default=3, help="sampled evaluations per policy (sampling seeds)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (the training one)")
    parser.add_argument("--max_new_tokens", type=int, default=64, help="as configs/mix.yaml's eval_generation")
    parser.add_argument("--config", default=None,
                        help="the config the runs were trained with (default: the search's base_config)")
    parser.add_argument("--base", action="store_true",
                        help="also evaluate the config's own (untrained) policy, into <search_dir>/<out>/base")
    parser.add_argument("--out", default="sampled",
                        help="folder under <search_dir> for evals/, records/ and base/: a second name keeps scores "
                             "of the same runs under another --config (other benchmarks) apart")
    parser.add_argument("--parallel", type=int, default=2, help="evaluations at a time")
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per evaluation")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.parallel < 1:
        parser.error("--samples and --parallel must be >= 1")
    config = args.config or json.loads((args.search_dir / "search_config.json").read_text())["base_config"]
    runs = [r for r in read_records(args.search_dir / "records").records if r.status == "ok"]
    with_policy = {r.run_id: find_policy(args.search_dir, r.run_id) for r in runs}
    missing = [rid for rid, p in with_policy.items() if p is None]
    if len(missing) == len(runs):
        sys.exit(f"no exported policy under {args.search_dir / 'logs'}: run the search with ExportPolicy kept "
                 "(see this script's --help)")
    if missing:
        print(f"{len(missing)} run(s) without an exported policy, skipped: {', '.join(missing)}")
    if Path(args.out).name != args.out or args.out in {"records", "logs", "plan", "base", "figures"}:
        parser.error(f"--out must be a plain folder name other than the search's own, got {args.out!r}")
    out_dir = args.search_dir / args.out
    evals_dir = out_dir / "evals"
    targets = {rid: p for rid, p in with_policy.items() if p is not None}
    if args.base:
        targets[BASE] = None  # no path: the config's own policy
    jobs = []
    for rid, policy in targets.items():
        done = {r.run_id for r in finished(evals_dir, rid, args.samples)}
        for s in range(args.samples):
            if f"{rid}-s{s}" not in done:
                out = evals_dir / rid / f"s{s}"
                command = validate_command(config, policy, s, args.temperature, out, f"{rid}-s{s}", args.max_new_tokens)
                jobs.append(planned_evaluation(rid, s, command, out))
    print(f"{len(jobs)} evaluation(s) to run, {args.parallel} at a time", flush=True)
    launcher = LocalLauncher(max_parallel=args.parallel, threads_per_run=args.threads)
    launcher.launch("sampled", evals_dir, jobs)  # the local launcher reads no plan file
    written = 0
    for run in runs:
        evals = finished(evals_dir, run.run_id, args.samples)
        if len(evals) == args.samples:
            write_record(average(run, evals, args.temperature), out_dir / "records")
            written += 1
    print(f"{written} sampled record(s) in {out_dir / 'records'}")
    evals = finished(evals_dir, BASE, args.samples)
    if args.base and len(evals) == args.samples:
        base = average(RunRecord(weights=evals[0].weights, stage="val", run_id=BASE), evals, args.temperature)
        write_record(base, out_dir / "base")
        print(f"base model, sampled: In-Score {base.in_score:.3f}, Out-Score {base.out_score:.3f}; "
              + ", ".join(f"{b} {v:.3f}" for b, v in base.scores.items()))


if __name__ == "__main__":
    main()
