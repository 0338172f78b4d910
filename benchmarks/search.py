"""Benchmark: a real mixture search on the embedded default, on CPU, with its wall time.

    python benchmarks/search.py                          # >= 12 runs: 11 seeds + 1 round of q=4 (15 runs + base)
    python benchmarks/search.py --max_steps 20 --rounds 1 --q 1 --out runs/bench_search   # a smaller honest version

The runs are ordinary ``main.py fit`` runs of ``configs/mix.yaml`` (5 synthetic domains, 3 OOD
sets, the model ``configs/mix.yaml`` names) with the shortening printed below; the target is
<= 90 minutes on 2 CPU cores for the default. Prints the timing and the report's mixture table.
Seeds are fixed by the configs (run_seed 42, proposal seed 0); they are not tuned.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors.gp import GPOptions  # noqa: E402
from predictors.search import MixtureSearch, SearchConfig  # noqa: E402
from predictors.search.config import ProposalOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench_search", help="search directory (resumes if it exists)")
    parser.add_argument("--base_config", default=str(ROOT / "configs" / "mix.yaml"))
    parser.add_argument("--max_steps", type=int, default=60, help="training steps per run")
    parser.add_argument("--eval_batches", type=int, default=2, help="evaluation batches per benchmark")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--q", type=int, default=4)
    parser.add_argument("--max_parallel", type=int, default=1)
    parser.add_argument("--timeout_s", type=float, default=1800)
    parser.add_argument(
        "--means",
        default="constant,peak",
        help="candidate GP means, comma-separated (configs/search.yaml's; 'constant' alone: a plain GP)",
    )
    args = parser.parse_args()
    config = SearchConfig(
        base_config=args.base_config,
        search_dir=args.out,
        max_steps=args.max_steps,
        overrides=[
            f"--trainer.limit_val_batches={args.eval_batches}",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_checkpointing=false",
        ],
        drop_callbacks=["ModelCheckpoint", "RunInterruptCheckpoint", "ExportPolicy", "CompletionSamples"],
        rounds=args.rounds,
        proposal=ProposalOptions(q=args.q),
        gp=GPOptions(means=args.means.split(",")),
        max_parallel=args.max_parallel,
        threads_per_run=max(1, 2 // args.max_parallel),
        run_timeout_s=args.timeout_s,
    )
    started = time.time()
    outcome = MixtureSearch(config).run()
    minutes = (time.time() - started) / 60
    print(
        f"search: {outcome.status}; {len(outcome.launched)} run(s) launched by this invocation in {minutes:.1f} min "
        f"(max_steps={args.max_steps}, eval_batches={args.eval_batches}, rounds={args.rounds}, q={args.q})"
    )
    if outcome.report is not None:
        text = outcome.report.read_text()
        print(text.split("## How sure")[0])
        print("## Every mixture" + text.split("## Every mixture")[1].split("![scores]")[0])


if __name__ == "__main__":
    main()
