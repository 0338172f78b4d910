"""GRPO step time and memory of this project against TRL's ``GRPOTrainer``, on identical work.

Run from the repository root (needs the ``bench`` extra: ``pip install -e .[bench]``)::

    python benchmarks/grpo_vs_trl.py                    # default comparison, A/B alternated (a few minutes on CPU)
    python benchmarks/grpo_vs_trl.py --sweep            # also step time vs G in {4, 8, 16} and length in {32, 64, 128}
    python benchmarks/grpo_vs_trl.py --lora-rank 8      # LoRA: the reference is the adapter-disabled policy
    python benchmarks/grpo_vs_trl.py --qwen-vocab       # hidden size 256 at Qwen2-VL's 151,936-token vocabulary
    python benchmarks/grpo_vs_trl.py --engines          # this project only: vLLM rollouts against HF generate

Both sides train the tiny offline Qwen2-VL (``ensure_tiny_model``, vision tower frozen) on the same prompts and
112 x 112 images, with the same G, prompts per step, completion length, sampling (temperature 1, no top-k/p),
beta, loss (``grpo``), AdamW learning rate and linear decay, Hugging Face ``generate`` with the KV cache (no
vLLM), and no gradient checkpointing. Every completion is exactly ``max_new_tokens`` long on both sides: EOS is
suppressed until then with ``min_new_tokens`` (the same logits processor in both), so the work is identical.

Each run is a separate subprocess (peak RSS is per run); runs alternate ours / TRL so both see the same machine
load. Per run, the first optimiser step is an untimed warm-up; a run's step time is the median of the others,
and a configuration's figure is the median over its repeats. ``threads`` defaults to 1: on a shared 2-core
machine, two intra-op threads per process make small matrix products wait on each other (a 30x slowdown was
observed under load), which would measure the neighbours rather than the trainers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from _grpo_bench_data import BenchSettings  # noqa: E402
from _grpo_bench_measure import RESULT_TAG  # noqa: E402

SIDES = ("ours", "trl")
#: Qwen2-VL's vocabulary: the setting where the ``B x T x V`` logits of the log-prob passes dominate memory.
QWEN_VOCAB = 151_936


def run_worker(side: str, settings: BenchSettings, timeout: float) -> dict[str, Any]:
    """One training run in a fresh subprocess; returns its parsed result line.

    ``side`` is ``ours`` or ``trl``; ``ours-vllm`` runs this project with the vLLM rollout engine.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]), OMP_NUM_THREADS=str(settings.threads),
               MKL_NUM_THREADS=str(settings.threads), TOKENIZERS_PARALLELISM="false")
    if side == "ours-vllm":
        side, settings = "ours", dataclasses.replace(settings, engine="vllm")
    proc = subprocess.run([sys.executable, str(HERE / f"_grpo_bench_{side}.py"), json.dumps(settings.to_dict())],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{side} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_TAG):])


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median step time over a side's repeats, generation share, memory (medians of per-run figures)."""
    step = statistics.median(statistics.median(r["step_seconds"]) for r in runs)
    share = statistics.median(sum(r["generate_seconds"]) / sum(r["step_seconds"]) for r in runs)
    cuda = [r["peak_cuda_mb"] for r in runs if r["peak_cuda_mb"] is not None]
    return {
        "step_s": step,
        "gen_share": share,
        "step_cpu_s": statistics.median(statistics.median(r["step_cpu_seconds"]) for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "train_rss_mb": statistics.median(r["peak_rss_mb"] - r["start_rss_mb"] for r in runs),
        "peak_cuda_mb": statistics.median(cuda) if cuda else float("nan"),
        "ref_copy": float(any(r["has_reference_copy"] for r in runs)),
        "lengths": sorted({n for r in runs for n in r["generated_lengths"]}),
        "tokens_per_s": statistics.median(sum(r["generated_tokens"]) / sum(r["generate_seconds"])
                                          for r in runs if r.get("generated_tokens")) if runs[0].get("generated_tokens")
        else float("nan"),
        "generate_s": statistics.median(statistics.median(r["generate_seconds"]) for r in runs),
    }


def compare(settings: BenchSettings, repeats: int, timeout: float, log: bool = True,
            sides: tuple[str, ...] = SIDES) -> dict[str, dict[str, Any]]:
    """Alternate ``repeats`` runs of each side (A, B, A, B, ...) and summarise both."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r in range(repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            runs[side].append(run_worker(side, settings, timeout))
            if log:
                med = statistics.median(runs[side][-1]["step_seconds"])
                print(f"  [{side} run {r + 1}/{repeats}] median step {med:.3f} s "
                      f"({time.perf_counter() - start:.0f} s wall, load {os.getloadavg()[0]:.2f})", flush=True)
    out = {side: summarise(runs[side]) for side in sides}
    for side in sides:
        if out[side]["lengths"] != [settings.max_new_tokens]:
            raise RuntimeError(f"{side} generated lengths {out[side]['lengths']}, expected {settings.max_new_tokens}")
    return out


def main_table(settings: BenchSettings, result: dict[str, dict[str, Any]]) -> str:
    ours, trl = result["ours"], result["trl"]
    rows = [
        ("median step time (s)", "step_s", "{:.3f}"),
        ("median step CPU time (s)", "step_cpu_s", "{:.3f}"),
        ("share generating", "gen_share", "{:.0%}"),
        ("peak RSS (MiB)", "peak_rss_mb", "{:.0f}"),
        ("peak RSS - RSS after imports/data (MiB)", "train_rss_mb", "{:.0f}"),
        ("peak CUDA allocated (MiB)", "peak_cuda_mb", "{:.0f}"),
        ("separate reference copy", "ref_copy", "{:.0f}"),
    ]
    lines = ["| metric | ours | TRL | ours / TRL |", "|---|---:|---:|---:|"]
    for label, key, fmt in rows:
        a, b = ours[key], trl[key]
        ratio = f"{a / b:.2f}x" if b == b and b not in (0, 0.0) and key not in ("gen_share", "ref_copy") else ""
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")
    return "\n".join(lines)


def engines_table(result: dict[str, dict[str, Any]]) -> str:
    """This project with vLLM rollouts against HF ``generate``: same policy, prompts, settings."""
    hf, vl = result["ours"], result["ours-vllm"]
    rows = [("generated tokens per second", "tokens_per_s", "{:.0f}"),
            ("median rollout time (s)", "generate_s", "{:.3f}"),
            ("median step time (s)", "step_s", "{:.3f}"), ("peak RSS (MiB)", "peak_rss_mb", "{:.0f}")]
    lines = ["| metric | HF generate | vLLM | vLLM / HF |", "|---|---:|---:|---:|"]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(hf[key])} | {fmt.format(vl[key])} | {vl[key] / hf[key]:.2f}x |")
    return "\n".join(lines)


def sweep_table(base: BenchSettings, repeats: int, timeout: float) -> str:
    lines = ["| G | completion length | ours step (s) | TRL step (s) | ours / TRL | ours / TRL (CPU s) |",
             "|---:|---:|---:|---:|---:|---:|"]
    configs = [(g, 64) for g in (4, 8, 16)] + [(8, n) for n in (32, 128)]
    for g, n in sorted(configs):
        settings = BenchSettings(**{**base.to_dict(), "num_generations": g, "max_new_tokens": n})
        print(f"sweep G={g} length={n}", flush=True)
        res = compare(settings, repeats, timeout)
        a, b = res["ours"]["step_s"], res["trl"]["step_s"]
        cpu = res["ours"]["step_cpu_s"] / res["trl"]["step_cpu_s"]
        lines.append(f"| {g} | {n} | {a:.3f} | {b:.3f} | {a / b:.2f}x | {cpu:.2f}x |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = BenchSettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps per run (first one untimed)")
    p.add_argument("--prompts", type=int, default=d.prompts, help="prompts per step (P)")
    p.add_argument("--num-generations", "-G", type=int, default=d.num_generations, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, help="completion length")
    p.add_argument("--beta", type=float, default=d.beta, help="KL coefficient (0: no reference)")
    p.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    p.add_argument("--lora-rank", type=int, default=d.lora_rank, help="LoRA rank (0: full fine-tuning)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads per run")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--hidden-size", type=int, default=d.hidden_size, help="width of the random Qwen2-VL")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="its vocabulary (0: the tiny tokenizer's)")
    p.add_argument("--qwen-vocab", action="store_true",
                   help=f"hidden size 256 and vocabulary {QWEN_VOCAB} (Qwen2-VL's), where logits dominate memory")
    p.add_argument("--engines", action="store_true",
                   help="compare this project's vLLM rollout engine with HF generate instead of TRL (needs vLLM)")
    p.add_argument("--repeats", type=int, default=3, help="runs per side for the main comparison (alternated)")
    p.add_argument("--sweep", action="store_true", help="also time G in {4,8,16} and length in {32,64,128}")
    p.add_argument("--sweep-repeats", type=int, default=1, help="runs per side per sweep configuration")
    p.add_argument("--timeout", type=float, default=900, help="seconds before a run is abandoned")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    hidden, vocab = (256, QWEN_VOCAB) if args.qwen_vocab else (args.hidden_size, args.vocab_size)
    settings = BenchSettings(prompts=args.prompts, num_generations=args.num_generations,
                             max_new_tokens=args.max_new_tokens, steps=args.steps, beta=args.beta, lr=args.lr,
                             lora_rank=args.lora_rank, seed=args.seed, threads=args.threads, hidden_size=hidden,
                             vocab_size=vocab)
    import torch
    import transformers
    import trl

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}; "
          f"cuda={torch.cuda.is_available()}; load average at start {os.getloadavg()}", flush=True)
    print(f"settings: {settings.to_dict()}, repeats={args.repeats}", flush=True)
    if args.engines:
        result = compare(settings, args.repeats, args.timeout, sides=("ours", "ours-vllm"))
        print(f"\nload average at end {os.getloadavg()}\n")
        print(engines_table(result), flush=True)
        return
    result = compare(settings, args.repeats, args.timeout)
    print(f"\nload average at end {os.getloadavg()}\n")
    print(main_table(settings, result), flush=True)
    if args.sweep:
        print()
        table = sweep_table(settings, args.sweep_repeats, args.timeout)
        print(f"\nload average at end {os.getloadavg()}\n")
        print(table)


if __name__ == "__main__":
    main()
