"""Small-sample check: the mixture GP against the Scheffé baselines at n = 11-16 runs.

Two settings, each scored by honest leave-one-out (every model, its own selection included, is refitted
without the held-out run, which it then predicts):

- **seed design** (simulated): the paper's 11 seed runs at 5 domains (each domain alone, each left out,
  uniform) on simulated score surfaces, seed noise ``--noise`` of the surface's range. Surfaces:
  ``quadratic``, ``sharp`` and ``harmful`` (the Out-Score surfaces of ``benchmarks/simulated_search.py``),
  ``linear`` (that benchmark's In-Score: one skill per domain) and ``saturating`` (an In-Score with
  diminishing returns: domain ``i``'s benchmark rises as ``1 - exp(-w_i / tau_i)``, so a domain alone
  tops its own benchmark and scores nothing elsewhere).
- **RegMix subsets** (real): ``n`` of RegMix's 512 public 1M-parameter runs (17 domains, Pile-CC
  validation loss), plus the Spearman correlation on its 256-run 1M test set.

Prints, per setting and model, the mean LOO MAE (as a fraction of the observed range of the runs, so
surfaces and subsets average fairly), the mean and worst LOO Spearman correlation between the
held-out predictions and the runs. Not a timed test.

    python benchmarks/small_n.py                                # GP defaults vs linear / quadratic
    python benchmarks/small_n.py --variants default gamma/none 0.3/none --seeds 5 --subsets 5
    python benchmarks/small_n.py --data-dir /work/shared/data/regmix --sizes 11 16

A variant is ``default`` (the shipped :class:`predictors.GPOptions`) or ``PRIORS/WARPS/MEAN`` with
comma-separated prior and warp candidates, e.g. ``0.1,0.3,1.0,dim_scaled/none,sqrt/constant``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from regmix import TESTS, default_data_dir, load  # noqa: E402
from simulated_search import D, Simulator  # noqa: E402

from predictors.baselines import LinearScheffe, QuadraticScheffe  # noqa: E402
from predictors.gp import GPOptions, GPSurrogate  # noqa: E402
from predictors.strategies.base import seed_mixtures  # noqa: E402

Fit = Callable[[torch.Tensor, torch.Tensor, bool], object]
SURFACES = ("quadratic", "sharp", "harmful", "linear", "saturating")


def gp_variant(spec: str, noise_floor: float | None) -> Fit:
    """A GP factory for ``default`` or ``PRIORS/WARPS``."""
    if spec == "default":
        options = GPOptions(noise_floor=noise_floor)
    else:
        parts = spec.split("/")
        priors, warps, means = (
            parts[0],
            parts[1] if len(parts) > 1 else "none",
            parts[2] if len(parts) > 2 else "constant",
        )
        parsed = [p if p in ("dim_scaled", "gamma", "none") else float(p) for p in priors.split(",")]
        options = GPOptions(priors=parsed, warps=warps.split(","), means=means.split(","), noise_floor=noise_floor)
    return lambda x, y, maximize: GPSurrogate.fit(x, y, options=options, maximize=maximize)


def baselines() -> dict[str, Fit]:
    return {
        "linear (Scheffé)": lambda x, y, maximize: LinearScheffe(maximize=maximize).fit(x, y),
        "quadratic (Scheffé)": lambda x, y, maximize: QuadraticScheffe(maximize=maximize).fit(x, y),
    }


def loo(fit: Fit, x: torch.Tensor, y: torch.Tensor, maximize: bool) -> torch.Tensor:
    """Honest leave-one-out predictions: ``n`` refits, each predicting its held-out run."""
    n = x.shape[0]
    pred = torch.empty(n, dtype=torch.float64)
    for i in range(n):
        keep = torch.arange(n) != i
        pred[i] = fit(x[keep], y[keep], maximize).predict(x[i : i + 1])[0][0]
    return pred


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    if float(a.std()) == 0 or float(b.std()) == 0:
        return 0.0  # a constant prediction ranks nothing
    return float(spearmanr(a.numpy(), b.numpy()).statistic)


def scores(pred: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``(MAE / range of y, Spearman)``."""
    return float((pred - y).abs().mean()) / float(y.max() - y.min()), spearman(pred, y)


def seed_design_runs(kind: str, seed: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The 11 seed mixtures and their noisy scores on surface ``kind`` drawn with ``seed``."""
    x = seed_mixtures(D)
    rng = np.random.default_rng(10_000 + seed)
    if kind in ("quadratic", "sharp", "harmful"):
        sim = Simulator(kind, seed, noise)
        return x, sim.evaluate(x)[0]
    if kind == "linear":
        sim = Simulator("quadratic", seed, noise)
        return x, sim.evaluate(x)[1]
    if kind == "saturating":
        peak = torch.from_numpy(rng.uniform(0.3, 0.9, D))
        tau = torch.from_numpy(rng.uniform(0.05, 0.3, D))
        f = (peak * (1 - torch.exp(-x / tau)) / (1 - torch.exp(-1 / tau))).mean(-1)
        span = float(peak.mean())  # from 0 (nothing learnt) to every domain at its peak
        return x, f + torch.from_numpy(rng.normal(0, noise * span, x.shape[0]))
    raise ValueError(f"unknown surface {kind!r}; valid: {', '.join(SURFACES)}")


def row(label: str, model: str, results: list[tuple[float, ...]], seconds: float) -> str:
    arr = np.array(results)
    cells = [f"{arr[:, 0].mean():.3f}", f"{arr[:, 1].mean():.2f}", f"{arr[:, 1].min():.2f}"]
    cells += [f"{v:.3f}" for v in arr[:, 2:].mean(0)]
    return f"| {label} | {model} | " + " | ".join(cells) + f" | {seconds:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["default"], help="GP variants (see above)")
    parser.add_argument("--surfaces", nargs="*", default=list(SURFACES))
    parser.add_argument("--seeds", type=int, default=10, help="simulator seeds per surface (0 .. seeds - 1)")
    parser.add_argument("--noise", type=float, default=0.01, help="seed-noise sd as a fraction of the surface's range")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[11, 16], help="RegMix subset sizes (none: skip RegMix)"
    )
    parser.add_argument("--subsets", type=int, default=10, help="random RegMix subsets per size")
    parser.add_argument(
        "--noise-floor",
        type=float,
        default=GPOptions().noise_floor,
        help="GP noise floor (sd) on the seed design; none on RegMix, whose losses are not scores in [0, 1]",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {f"GP {v}": gp_variant(v, args.noise_floor) for v in args.variants} | baselines()

    print(
        f"Seed design: 11 runs, 5 domains, noise {args.noise} of range, "
        f"simulator seeds 0-{args.seeds - 1}; honest LOO.\n"
    )
    print("| surface | model | LOO MAE / range | LOO Spearman (mean) | (worst) | s |")
    print("|---|---|---|---|---|---|")
    for kind in args.surfaces:
        data = [seed_design_runs(kind, s, args.noise) for s in range(args.seeds)]
        for name, fit in models.items():
            start = time.time()
            results = [scores(loo(fit, x, y, True), y) for x, y in data]
            print(row(kind, name, results, time.time() - start), flush=True)
    if not args.sizes:
        return
    x_all, y_all = load(args.data_dir, "train_mixture_1m.csv", "train_pile_loss_1m.csv")
    x_test, y_test = load(args.data_dir, f"test_mixture_{TESTS['1M']}.csv", f"test_pile_loss_{TESTS['1M']}.csv")
    print(
        f"\nRegMix: n of the 512 1M-parameter runs (17 domains, Pile-CC loss, lower is better), "
        f"{args.subsets} random subsets.\n"
    )
    models = {f"GP {v}": gp_variant(v, None) for v in args.variants} | baselines()
    print("| n | model | LOO MAE / range | LOO Spearman (mean) | (worst) | 1M test Spearman | s |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        subsets = [
            torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(s))[:n] for s in range(args.subsets)
        ]
        for name, fit in models.items():
            start, results = time.time(), []
            for idx in subsets:
                x, y = x_all[idx], y_all[idx]
                test = spearman(fit(x, y, False).predict(x_test)[0], y_test)
                results.append((*scores(loo(fit, x, y, False), y), test))
            print(row(str(n), name, results, time.time() - start), flush=True)


if __name__ == "__main__":
    main()
