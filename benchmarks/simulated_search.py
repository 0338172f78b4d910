"""Simulated mixture search: simple regret of the paper's pipeline vs sequential BO.

Three simulated 5-domain surfaces (each redrawn per simulator seed), with seed noise on
every evaluation:

- ``quadratic``: linear terms plus pairwise interactions;
- ``sharp``: a narrow bump around an interior optimum on a gentle linear trend;
- ``harmful``: one domain whose weight costs far more than the others' gain.

Strategies, each recommending one mixture:

- (a) the paper's pipeline: 11 seed runs, 5 heuristic mixtures (alpha = 1, 0, 0.5,
  inclusion ridge, exclude-one), one Scheffé-quadratic fit on those 16 runs, its top 25
  predicted mixtures: 41 runs; recommendation = the best observed run.
- (b) sequential BO from the same 11 seeds: refit the GP, run the qLogNEI argmax (q = 1),
  repeat; recommendation = the evaluated mixture with the best GP posterior mean.

Regret = (true optimum - true score of the recommendation) / (max - min of the surface over
the simplex). Prints the median regret over simulator seeds as a Markdown table. Not a
timed test.

    python benchmarks/simulated_search.py                  # 20 simulator seeds
    python benchmarks/simulated_search.py --seeds 5 --bo-steps 10
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from predictors.baselines import QuadraticScheffe  # noqa: E402
from predictors.gp import GPSurrogate  # noqa: E402
from predictors.strategies import AlphaCredit, BayesOptBatch, ExcludeOneDrop, InclusionRidge, ModelArgmax  # noqa: E402
from predictors.strategies.base import dirichlet_pool, seed_mixtures, to_simplex  # noqa: E402
from predictors.table import RunTable  # noqa: E402

D = 5
Surface = Callable[[torch.Tensor], torch.Tensor]


def make_surface(kind: str, rng: np.random.Generator) -> Surface:
    """A noiseless Out-Score surface ``m x 5 -> m``, drawn from ``rng``."""
    b = torch.from_numpy(rng.uniform(0.3, 0.6, D))
    c = torch.from_numpy(rng.normal(0, 0.4, (D, D)))
    c = (c + c.T) / 2
    if kind == "quadratic":
        # A concave part keeps the optimum off the vertices (a seed run would find it trivially).
        a = torch.from_numpy(rng.normal(0, 1, (D, D)))
        concave = c - 1.5 * (a @ a.T) / D
        return lambda w: w @ b + ((w @ concave) * w).sum(-1)
    if kind == "sharp":
        centre = torch.from_numpy(rng.dirichlet(np.full(D, 4.0)))
        return lambda w: 0.1 * (w @ b) + torch.exp(-((w - centre) ** 2).sum(-1) / (2 * 0.15**2))
    if kind == "harmful":
        bad = int(rng.integers(D))
        penalty = torch.zeros(D, dtype=torch.float64)
        penalty[bad] = 1.5
        return lambda w: w @ b + 0.3 * ((w @ c) * w).sum(-1) - w @ penalty
    raise ValueError(f"unknown surface {kind!r}")


def surface_range(f: Surface) -> tuple[float, float]:
    """(min, max) of ``f`` on the simplex: a dense pool, then SLSQP from the best points."""
    pool = dirichlet_pool(D, 20000, concentration=0.7, seed=123)
    values = f(pool)
    extremes = []
    for sign in (1.0, -1.0):
        best = float((sign * values).max())
        for start in pool[torch.argsort(sign * values, descending=True)[:5]]:
            res = minimize(lambda w: -sign * float(f(torch.from_numpy(w).unsqueeze(0))[0]), start.numpy(), method="SLSQP",
                           bounds=[(0, 1)] * D, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
            best = max(best, sign * float(f(to_simplex(torch.from_numpy(res.x)).unsqueeze(0))[0]))
        extremes.append(sign * best)
    return extremes[1], extremes[0]


class Simulator:
    """Noisy evaluations of a surface; In-Score is a separate linear skill per domain."""

    def __init__(self, kind: str, seed: int, noise: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.f = make_surface(kind, self.rng)
        self.lo, self.hi = surface_range(self.f)
        self.noise = noise * (self.hi - self.lo)
        self.skill = torch.from_numpy(self.rng.uniform(0.2, 0.8, D))

    def evaluate(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.f(w) + torch.from_numpy(self.rng.normal(0, self.noise, w.shape[0]))
        return out, w @ self.skill + torch.from_numpy(self.rng.normal(0, self.noise, w.shape[0]))

    def regret(self, w: torch.Tensor) -> float:
        return (self.hi - float(self.f(w.unsqueeze(0))[0])) / (self.hi - self.lo)


def as_table(x: torch.Tensor, out: torch.Tensor, ins: torch.Tensor) -> RunTable:
    return RunTable.from_arrays([f"d{i}" for i in range(D)], x, out, targets=["out_score"], in_score=ins, out_score=out)


def paper_pipeline(sim: Simulator) -> dict[int, float]:
    """Regret of the best observed run after 11, 16 and 41 runs."""
    x = seed_mixtures(D)
    out, ins = sim.evaluate(x)
    regrets = {11: sim.regret(x[int(out.argmax())])}
    table = as_table(x, out, ins)
    heur = torch.cat([s.propose(table) for s in (AlphaCredit(1.0), AlphaCredit(0.0), AlphaCredit(0.5), InclusionRidge(), ExcludeOneDrop())])
    o2, i2 = sim.evaluate(heur)
    x, out, ins = torch.cat([x, heur]), torch.cat([out, o2]), torch.cat([ins, i2])
    regrets[16] = sim.regret(x[int(out.argmax())])
    quad = QuadraticScheffe().fit(x, out)
    top = ModelArgmax(num=25, pool_size=4096, min_distance=0.05, refine=False).propose(as_table(x, out, ins), quad)
    o3, i3 = sim.evaluate(top)
    x, out = torch.cat([x, top]), torch.cat([out, o3])
    regrets[len(x)] = sim.regret(x[int(out.argmax())])
    return regrets


def bayes_opt(sim: Simulator, steps: int, priors: list, warps: list[str], pool: int | None) -> dict[int, float]:
    """Regret of the GP-recommended evaluated mixture after each evaluation from 11 on."""
    x = seed_mixtures(D)
    out, ins = sim.evaluate(x)
    regrets = {}
    for step in range(steps + 1):
        gp = GPSurrogate.fit(x, out, priors=priors, warps=warps)
        regrets[len(x)] = sim.regret(x[int(gp.predict(x)[0].argmax())])
        if step == steps:
            break
        nxt = BayesOptBatch(q=1, num_restarts=4, raw_samples=128, pool_size=pool, seed=step).propose(as_table(x, out, ins), gp)
        o, i = sim.evaluate(nxt)
        x, out, ins = torch.cat([x, nxt]), torch.cat([out, o]), torch.cat([ins, i])
    return regrets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="simulator seeds per surface")
    parser.add_argument("--bo-steps", type=int, default=15, help="BO evaluations after the 11 seed runs")
    parser.add_argument("--noise", type=float, default=0.01, help="seed-noise std as a fraction of the surface's range")
    parser.add_argument("--surfaces", nargs="+", default=["quadratic", "sharp", "harmful"])
    parser.add_argument("--priors", nargs="+", default=["0.1", "0.3", "1.0"])
    parser.add_argument("--warps", nargs="+", default=["none"])
    parser.add_argument("--pool", type=int, default=2048, help="optimise the acquisition over this many Dirichlet candidates; 0: continuous SLSQP")
    args = parser.parse_args()
    torch.set_num_threads(1)
    priors = [p if p in ("dim_scaled", "none") else float(p) for p in args.priors]
    checkpoints = sorted({11, 15, 16, 11 + args.bo_steps})
    print(f"Median simple regret over {args.seeds} simulator seeds (noise {args.noise} of range); k = evaluated mixtures.\n")
    print("| surface | (a) paper k=11 | (a) k=16 | (a) k=41 | " + " | ".join(f"(b) BO k={k}" for k in checkpoints if k != 16) + " | s |")
    print("|---|---|---|---|" + "---|" * (len(checkpoints) - 1) + "---|")
    for kind in args.surfaces:
        start = time.time()
        paper, bo = [], []
        for seed in range(args.seeds):
            paper.append(paper_pipeline(Simulator(kind, seed, args.noise)))
            bo.append(bayes_opt(Simulator(kind, seed, args.noise), args.bo_steps, priors, args.warps, args.pool or None))
        med = lambda runs, k: float(np.median([r[k] for r in runs]))  # noqa: E731
        cells = [med(paper, 11), med(paper, 16), med(paper, 41)] + [med(bo, k) for k in checkpoints if k != 16]
        print(f"| {kind} | " + " | ".join(f"{v:.4f}" for v in cells) + f" | {time.time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
