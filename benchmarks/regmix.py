"""RegMix benchmark: how well does each predictor rank unseen mixtures?

Fits the GP predictor and the Scheffé linear / quadratic baselines on ``n`` of RegMix's 512
training runs (1M-parameter models) and reports the Spearman correlation between predicted
and actual ``metric/the_pile_pile_cc_val_loss`` on the 1M, 60M and 1B test sets, averaged
over random subsets. Prints a Markdown table. Not a timed test.

    python benchmarks/regmix.py                       # data at $REGMIX_DIR, else ../shared/data/regmix
    python benchmarks/regmix.py --sizes 16 64 --subsets 2 --data-dir /work/shared/data/regmix

The tables are RegMix's public CSVs (sail-sg/regmix: ``train_mixture_1m.csv``, ``train_pile_loss_1m.csv``,
``test_mixture_{1m,60m,1B}.csv``, ``test_pile_loss_{1m,60m,1B}.csv``); they are not shipped here.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from predictors.baselines import LinearScheffe, QuadraticScheffe  # noqa: E402
from predictors.gp import DEFAULT_PRIORS, DEFAULT_WARPS, GPOptions, GPSurrogate  # noqa: E402

TARGET = "metric/the_pile_pile_cc_val_loss"
TESTS = {"1M": "1m", "60M": "60m", "1B": "1B"}


def default_data_dir() -> Path:
    """``$REGMIX_DIR`` if set, else ``shared/data/regmix`` next to the repository (``../shared/data/regmix``)."""
    env = os.environ.get("REGMIX_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix"


def load(data_dir: Path, mixture: str, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``n x 17`` mixtures (rows renormalised: the CSV rounds to 3 decimals) and ``n`` losses, joined on ``index``.

    Raises:
        FileNotFoundError: the tables are not in ``data_dir`` (the message says how to point at them).
    """
    if not (data_dir / mixture).is_file():
        raise FileNotFoundError(
            f"RegMix table {mixture!r} not found in {str(data_dir)!r}: pass --data-dir or set REGMIX_DIR"
        )
    with open(data_dir / mixture, newline="") as fh:
        rows = {r["index"]: [float(v) for k, v in r.items() if k != "index"] for r in csv.DictReader(fh)}
    with open(data_dir / loss, newline="") as fh:
        losses = {r["index"]: float(r[TARGET]) for r in csv.DictReader(fh)}
    keys = [k for k in rows if k in losses]
    w = torch.tensor([rows[k] for k in keys], dtype=torch.float64)
    return w / w.sum(-1, keepdim=True), torch.tensor([losses[k] for k in keys], dtype=torch.float64)


def spearman(pred: torch.Tensor, actual: torch.Tensor) -> float:
    return float(spearmanr(pred.numpy(), actual.numpy()).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 512])
    parser.add_argument("--subsets", type=int, default=3, help="random training subsets per n (n = 512 uses one)")
    parser.add_argument("--warps", nargs="+", default=list(DEFAULT_WARPS))
    parser.add_argument("--priors", nargs="+", default=[str(p) for p in DEFAULT_PRIORS])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    priors = [p if p in ("dim_scaled", "gamma", "none") else float(p) for p in args.priors]
    # Losses are not scores in [0, 1]: no noise floor in target units.
    options = GPOptions(priors=priors, warps=args.warps, noise_floor=None)

    x_train, y_train = load(args.data_dir, "train_mixture_1m.csv", "train_pile_loss_1m.csv")
    tests = {name: load(args.data_dir, f"test_mixture_{s}.csv", f"test_pile_loss_{s}.csv") for name, s in TESTS.items()}
    models = {
        "GP (ours)": lambda x, y: GPSurrogate.fit(x, y, options=options, maximize=False),
        "linear (Scheffé)": lambda x, y: LinearScheffe(maximize=False).fit(x, y),
        "quadratic (Scheffé)": lambda x, y: QuadraticScheffe(maximize=False).fit(x, y),
    }
    print(
        f"Target `{TARGET}`; Spearman on each test set, mean over subsets; "
        f"GP selection over warps {args.warps} x priors {priors}.\n"
    )
    print("| n | model | " + " | ".join(f"{k} test" for k in TESTS) + " | fit s |")
    print("|---|---|" + "---|" * (len(TESTS) + 1))
    for n in args.sizes:
        subsets = 1 if n >= x_train.shape[0] else args.subsets
        for name, make in models.items():
            scores, seconds, chosen = [], 0.0, []
            for s in range(subsets):
                idx = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(s))[:n]
                start = time.time()
                model = make(x_train[idx], y_train[idx])
                seconds += time.time() - start
                chosen.append(f"{getattr(model, 'warp', '')}/{getattr(model, 'prior', '')}")
                scores.append([spearman(model.predict(x)[0], y) for x, y in tests.values()])
            mean = np.mean(scores, axis=0)
            label = name + (f" [{', '.join(chosen)}]" if name.startswith("GP") else "")
            print(
                f"| {n} | {label} | " + " | ".join(f"{v:.3f}" for v in mean) + f" | {seconds / subsets:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
