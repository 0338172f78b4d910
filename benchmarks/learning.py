"""Learning proof: GRPO from the shipped tiny base model raises its in-domain score.

Evaluates the base (greedy decoding, every in- and out-of-domain benchmark of the run config), runs GRPO
(``python main.py fit --config configs/mix.yaml`` with the base as the policy), evaluates again and prints a
before / after Markdown table: each benchmark's score (its primary verifier: IoU for boxes, exact match
otherwise) and its format rate (the ``think_answer_format`` verifier), plus In-Score and Out-Score.

Run from the repository root (one thread per process is much faster than two on a shared 2-core machine)::

    OMP_NUM_THREADS=1 python benchmarks/learning.py
    OMP_NUM_THREADS=1 python benchmarks/learning.py --base assets/tiny-base --json runs/learning.json \\
        -- --trainer.max_steps 150 --model.init_args.lr 2e-4        # anything after -- goes to the GRPO CLI
    OMP_NUM_THREADS=1 python benchmarks/learning.py --eval-only --by-template   # the base alone, per question template
    OMP_NUM_THREADS=1 python benchmarks/learning.py --eval-only --pass-at 6     # + G sampled completions per question

``--pass-at G`` samples G completions per question at the run's training temperature (its ``generation``
settings) and reports, per benchmark, pass@G (at least one completion scoring >= 0.5 on the primary verifier)
and the share of mixed groups (total rewards not all equal: the groups GRPO learns from).

Target: mean in-domain score up by >= 10 points absolute, every training domain's format rate >= 0.9 after RL.
The exit code is 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from lightning_modules.rollout import generate, process_prompts  # noqa: E402
from main import main  # noqa: E402
from rewards.parsing import extract_answer  # noqa: E402

FORMAT = "think_answer_format"


def _complete(module: Any, rows: list[Any], settings: Any) -> list[str]:
    """The policy's completions of ``rows`` (one per row) under ``settings``."""
    inputs = {k: v.to(module.device) if isinstance(v, torch.Tensor) else v
              for k, v in process_prompts(module.processor, rows).items()}
    return generate(module.model, module.processor, inputs, settings).texts


def _score(reward: Any, rows: list[Any], texts: list[str]) -> tuple[list[float], list[float], list[float]]:
    """One pass of the domain's verifiers: the metric (primary verifier, no format gate), format rate, total."""
    out = reward(texts, [s.solution for s in rows], [s.meta for s in rows])
    formats = list(out.results[FORMAT].scores) if FORMAT in out.results else [float("nan")] * len(rows)
    return list(out.results[reward.primary].scores), formats, out.total.tolist()


@torch.no_grad()
def evaluate(module: Any, datamodule: Any) -> dict[str, dict[str, Any]]:
    """Greedy evaluation of every benchmark, as ``GRPOModule`` validates (same prompts, decoding and metric).

    Args:
        module: a GRPO module with its policy loaded (``configure_model`` called).
        datamodule: the run's ``MultiDomainDataModule``.

    Returns:
        benchmark -> ``{"score", "format", "n", "role", "templates"}`` (role 1.0 for in-domain, 0.0 for
        out-of-domain; templates: the question template, ``meta["template"]``, -> ``{"score", "n", "top_answer",
        "top_share"}``, the most frequent answer and its share: a constant answer shows a prior, not a skill).
    """
    datamodule.setup("validate")
    was_training = module.model.training
    module.model.eval()
    out: dict[str, dict[str, Any]] = {}
    for bench, loader in zip(datamodule.eval_benchmarks, datamodule.val_dataloader(), strict=False):
        scores: list[float] = []
        formats: list[float] = []
        by_template: dict[str, list[float]] = {}
        answers: dict[str, Counter[str]] = {}
        reward = datamodule.rewards[bench.name]
        for batch in loader:
            texts = _complete(module, batch, module.eval_generation)
            batch_scores, batch_formats, _ = _score(reward, batch, texts)
            scores += batch_scores
            formats += batch_formats
            for sample, score, text in zip(batch, batch_scores, texts, strict=False):
                template = str(sample.meta.get("template", bench.name))
                by_template.setdefault(template, []).append(score)
                answers.setdefault(template, Counter())[(extract_answer(text) or "").strip()[:24]] += 1
        out[bench.name] = {"score": sum(scores) / len(scores), "format": sum(formats) / len(formats),
                           "n": float(len(scores)), "role": 1.0 if bench.role == "in" else 0.0,
                           "templates": {t: {"score": sum(v) / len(v), "n": float(len(v)),
                                             "top_answer": answers[t].most_common(1)[0][0],
                                             "top_share": answers[t].most_common(1)[0][1] / len(v)}
                                         for t, v in sorted(by_template.items())}}
    module.model.train(was_training)
    return out


@torch.no_grad()
def sampled_groups(module: Any, datamodule: Any, group_size: int) -> dict[str, dict[str, float]]:
    """pass@G and the share of mixed groups per benchmark, ``group_size`` sampled completions per question.

    Args:
        module: a GRPO module with its policy loaded.
        datamodule: the run's ``MultiDomainDataModule``.
        group_size: completions per question (G), sampled with the module's training ``generation`` settings.

    Returns:
        benchmark -> ``{"pass_at_g", "mixed", "n"}``.
    """
    datamodule.setup("validate")
    was_training = module.model.training
    module.model.eval()
    out: dict[str, dict[str, float]] = {}
    for bench, loader in zip(datamodule.eval_benchmarks, datamodule.val_dataloader(), strict=True):
        passes = mixed = total = 0
        reward = datamodule.rewards[bench.name]
        for batch in loader:
            rows = [s for s in batch for _ in range(group_size)]
            scores, _, totals = _score(reward, rows, _complete(module, rows, module.generation))
            for g in range(len(batch)):
                group = slice(g * group_size, (g + 1) * group_size)
                passes += max(scores[group]) >= 0.5
                mixed += len(set(totals[group])) > 1
                total += 1
        out[bench.name] = {"pass_at_g": passes / total, "mixed": mixed / total, "n": float(total)}
    module.model.train(was_training)
    return out


def pooled(results: dict[str, dict[str, Any]], role: float) -> float:
    """Size-weighted mean score of the benchmarks of one role (the paper's In-Score / Out-Score)."""
    rows = [r for r in results.values() if r["role"] == role]
    return sum(r["score"] * r["n"] for r in rows) / max(1.0, sum(r["n"] for r in rows))


def table(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]] | None = None) -> str:
    """Markdown table of scores and format rates before and (when given) after RL."""
    if after is None:
        lines = ["| benchmark | role | score | format |", "|---|---|---|---|"]
        lines += [f"| {name} | {'in' if b['role'] else 'out'} | {b['score']:.3f} | {b['format']:.2f} |"
                  for name, b in before.items()]
        lines += [f"| **{label}** | | {pooled(before, role):.3f} | |"
                  for label, role in (("In-Score", 1.0), ("Out-Score", 0.0))]
        return "\n".join(lines)
    lines = ["| benchmark | role | score before | score after | change | format before | format after |",
             "|---|---|---|---|---|---|---|"]
    for name, b in before.items():
        a = after[name]
        lines.append(f"| {name} | {'in' if b['role'] else 'out'} | {b['score']:.3f} | {a['score']:.3f} | "
                     f"{a['score'] - b['score']:+.3f} | {b['format']:.2f} | {a['format']:.2f} |")
    for label, role in (("In-Score", 1.0), ("Out-Score", 0.0)):
        pb, pa = pooled(before, role), pooled(after, role)
        lines.append(f"| **{label}** | | {pb:.3f} | {pa:.3f} | {pa - pb:+.3f} | | |")
    return "\n".join(lines)


def template_table(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]] | None = None) -> str:
    """Markdown table of scores per question template (where a model is above chance, and what RL moved).

    The last column is the most frequent answer (after RL when ``after`` is given) and its share.
    """
    head = ("| template | n | " + ("score before | score after | change |" if after else "score |")
            + " top answer (share) |")
    lines = [head, "|---|---|---|---|" + ("---|---|" if after else "")]
    for name, b in before.items():
        for tpl, row in b["templates"].items():
            line = f"| {tpl} | {row['n']:.0f} | {row['score']:.3f} |"
            final = row
            if after:
                final = after[name]["templates"][tpl]
                line += f" {final['score']:.3f} | {final['score'] - row['score']:+.3f} |"
            lines.append(line + f" {final['top_answer']!r} ({final['top_share']:.2f}) |")
    return "\n".join(lines)


def run(base: str, config: str, overrides: list[str], train: bool = True, pass_at: int = 0) -> dict[str, Any]:
    """Evaluate ``base``, run GRPO from it with ``config`` (+ CLI ``overrides``), evaluate again.

    Args:
        base: the base model directory.
        config: the GRPO run config.
        overrides: extra LightningCLI arguments.
        train: False evaluates the base only (``after`` is None).
        pass_at: G > 0 also samples G completions per question from the base (``groups``: pass@G, mixed groups).

    Returns:
        ``{"before", "groups", "after", "fit_seconds", "args"}``.
    """
    args = ["--config", config, "--model.init_args.policy.init_args.model_name_or_path", base, *overrides]
    cli = main(args, run=False)
    module, datamodule, trainer = cli.model, cli.datamodule, cli.trainer
    module.configure_model()
    before = evaluate(module, datamodule)
    # Sampling draws from the global RNG; forked, so that asking for pass@G does not change the training run.
    with torch.random.fork_rng():
        groups = sampled_groups(module, datamodule, pass_at) if pass_at else None
    if not train:
        return {"before": before, "groups": groups, "after": None, "fit_seconds": 0.0, "args": args}
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    after = evaluate(module, datamodule)
    return {"before": before, "groups": groups, "after": after, "fit_seconds": fit_seconds, "args": args}


def target_met(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> bool:
    """In-Score up by >= 0.10 and every in-domain format rate >= 0.9 after RL."""
    formats_ok = all(r["format"] >= 0.9 for r in after.values() if r["role"] == 1.0)
    return pooled(after, 1.0) - pooled(before, 1.0) >= 0.10 and formats_ok


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="assets/tiny-base", help="base model directory (the GRPO policy)")
    parser.add_argument("--config", default="configs/mix.yaml", help="GRPO run config")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--by-template", action="store_true", help="also print the scores per question template")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the base only (no GRPO run)")
    parser.add_argument("--pass-at", type=int, default=0, metavar="G",
                        help="also sample G completions per question from the base (pass@G, mixed groups)")
    return parser.parse_args(own), extra


if __name__ == "__main__":
    opts, extra_args = _parse(sys.argv[1:])
    sys.argv = sys.argv[:1]  # LightningCLI gets its arguments from `args`, not from this script's command line
    res = run(opts.base, opts.config, extra_args, train=not opts.eval_only, pass_at=opts.pass_at)
    if opts.json:
        Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.json).write_text(json.dumps(res, indent=2))
    print(table(res["before"], res["after"]))
    if res["groups"]:
        print(f"\n| benchmark (base) | pass@{opts.pass_at} | mixed groups |\n|---|---|---|")
        print("\n".join(f"| {k} | {v['pass_at_g']:.3f} | {v['mixed']:.3f} |" for k, v in res["groups"].items()))
    if opts.eval_only:
        if opts.by_template:
            print("\n" + template_table(res["before"]))
        sys.exit(0)
    if opts.by_template:
        print("\n" + template_table(res["before"], res["after"]))
    ok = target_met(res["before"], res["after"])
    print(f"\nGRPO fit (training + its validations): {res['fit_seconds'] / 60:.1f} min; target met: {ok}")
    sys.exit(0 if ok else 1)
