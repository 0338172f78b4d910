"""Simulated mixture search: simple regret of the paper's pipeline vs sequential BO.

Three simulated 5-domain Out-Score surfaces, redrawn per simulator seed. Each has its
optimum ``c`` away from every seed mixture (not a vertex, not an exclude-one mixture, not
the centre: at least ``MIN_SEED_DISTANCE`` away in L2, every used weight >= ``MIN_WEIGHT``),
so no seed run hits it by construction. ``H`` is a random positive-definite matrix
(``A A^T / 5 + 0.2 I``, ``A`` standard normal), so the quadratics have pairwise interactions.

- ``quadratic``: ``f(w) = -(w - c)^T H (w - c)``, i.e. linear terms plus pairwise
  interactions in Scheffé form, with ``c`` interior (``Dirichlet(3)``).
- ``sharp``: ``f(w) = 0.1 b.w + exp(-|w - c|^2 / (2 * 0.15^2))``, a narrow bump (width 0.15
  against the simplex's diameter 1.41) at an interior ``c`` on a gentle linear trend
  (``b ~ U(0, 1)^5``); the trend moves the optimum off ``c`` by about 0.002.
- ``harmful``: ``f(w) = -(w - c)^T H (w - c) - 1.0 w_j`` for a random domain ``j`` with
  ``c_j = 0``: any weight on ``j`` lowers the score, and the optimum ``c`` lies inside the
  face without ``j`` (but not at its centre, the exclude-``j`` seed run).

Every evaluation adds seed noise ``N(0, (noise * (max f - min f))^2)``; the In-Score (used by
the alpha heuristics) is a separate noisy linear skill per domain.

Strategies, each recommending one mixture:

- (a) the paper's pipeline: 11 seed runs, 5 heuristic mixtures (alpha = 1, 0, 0.5, inclusion
  ridge, exclude-one), one Scheffé-quadratic fit on those 16 runs, its top 25 predicted
  mixtures (at least 0.05 apart in L1): 41 runs. Recommendation: the best observed run, as
  in the paper (``obs``), and the argmax of a quadratic refit on all 41 runs (``fit``).
- (b) sequential BO from the same 11 seeds (q = 1): refit the GP as the search does
  (``predictors.fit_gp``: lengthscale prior chosen by held-out error among the shipped
  candidates; mean function, by default, chosen by forecast error between a
  constant and a parametric peak, see ``predictors.mean_selection``: the constant first, the peak
  from the first round its forecasts of the new runs are better; ``--means peak constant`` tries
  the peak first), evaluate the qLogNEI argmax on the simplex, repeat; the last
  evaluation of the budget exploits (posterior-mean argmax). Recommendation after ``k``
  evaluations: the best GP posterior mean among the evaluated mixtures and a Dirichlet pool,
  polished with SLSQP on the simplex (standard for noisy simple regret).

Regret = (true optimum - true score of the recommendation) / (max - min of the surface over
the simplex). Prints the median (and 80th percentile) regret over simulator seeds as a
Markdown table. Simulator seeds are 0 .. seeds - 1, never selected. Not a timed test.

    python benchmarks/simulated_search.py                       # 20 seeds, k = 15 budget
    python benchmarks/simulated_search.py --seeds 5 --surfaces sharp --pool 2048
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
from predictors.gp import DEFAULT_PRIORS, DEFAULT_WARPS, GPOptions, fit_gp  # noqa: E402
from predictors.run_table import RunTable  # noqa: E402
from predictors.strategies import AlphaCredit, BayesOptBatch, ExcludeOneDrop, InclusionRidge, ModelArgmax  # noqa: E402
from predictors.strategies.base import dirichlet_pool, seed_mixtures, to_simplex  # noqa: E402
from predictors.strategies.model_based import best_predicted  # noqa: E402

D = 5
MIN_SEED_DISTANCE = 0.15
MIN_WEIGHT = 0.05
Surface = Callable[[torch.Tensor], torch.Tensor]


def interior_point(rng: np.random.Generator, skip: int | None = None) -> torch.Tensor:
    """A ``D`` optimum location away from all seed mixtures (zero weight on ``skip`` if given)."""
    seeds = seed_mixtures(D)
    used = [i for i in range(D) if i != skip]
    for _ in range(10_000):
        c = torch.zeros(D, dtype=torch.float64)
        c[used] = torch.from_numpy(rng.dirichlet(np.full(len(used), 3.0)))
        if float(c[used].min()) >= MIN_WEIGHT and float((seeds - c).norm(dim=-1).min()) >= MIN_SEED_DISTANCE:
            return c
    raise RuntimeError("no interior optimum found; loosen MIN_SEED_DISTANCE")


def random_curvature(rng: np.random.Generator) -> torch.Tensor:
    """A ``D x D`` positive-definite Hessian with random interactions."""
    a = torch.from_numpy(rng.normal(0, 1, (D, D)))
    return a @ a.T / D + 0.2 * torch.eye(D, dtype=torch.float64)


def make_surface(kind: str, rng: np.random.Generator) -> tuple[Surface, torch.Tensor]:
    """A noiseless Out-Score surface ``m x 5 -> m`` drawn from ``rng``, and its optimum's location."""
    if kind == "quadratic":
        c, h = interior_point(rng), random_curvature(rng)
        return (lambda w: -(((w - c) @ h) * (w - c)).sum(-1)), c
    if kind == "sharp":
        c, b = interior_point(rng), torch.from_numpy(rng.uniform(0, 1, D))
        return (lambda w: 0.1 * (w @ b) + torch.exp(-((w - c) ** 2).sum(-1) / (2 * 0.15**2))), c
    if kind == "harmful":
        bad = int(rng.integers(D))
        c, h = interior_point(rng, skip=bad), random_curvature(rng)
        return (lambda w: -(((w - c) @ h) * (w - c)).sum(-1) - 1.0 * w[..., bad]), c
    raise ValueError(f"unknown surface {kind!r}; valid: quadratic, sharp, harmful")


def surface_range(f: Surface, optimum: torch.Tensor) -> tuple[float, float]:
    """(min, max) of ``f`` on the simplex: a dense pool, then SLSQP from the best points."""
    pool = torch.cat([dirichlet_pool(D, 20000, concentration=0.7, seed=123), optimum.unsqueeze(0)])
    values = f(pool)
    extremes = []
    for sign in (1.0, -1.0):
        best = float((sign * values).max())
        for start in pool[torch.argsort(sign * values, descending=True)[:5]]:
            res = minimize(
                lambda w, sign=sign: -sign * float(f(torch.from_numpy(w).unsqueeze(0))[0]),
                start.numpy(),
                method="SLSQP",
                bounds=[(0, 1)] * D,
                constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                options={"ftol": 1e-12, "maxiter": 200},
            )
            best = max(best, sign * float(f(to_simplex(torch.from_numpy(res.x)).unsqueeze(0))[0]))
        extremes.append(sign * best)
    return extremes[1], extremes[0]


class Simulator:
    """Noisy evaluations of one drawn surface (see the module docstring)."""

    def __init__(self, kind: str, seed: int, noise: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.f, self.optimum = make_surface(kind, self.rng)
        self.lo, self.hi = surface_range(self.f, self.optimum)
        self.noise = noise * (self.hi - self.lo)
        self.skill = torch.from_numpy(self.rng.uniform(0.2, 0.8, D))

    def evaluate(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy ``(out_score, in_score)`` at ``m x D`` mixtures."""
        out = self.f(w) + torch.from_numpy(self.rng.normal(0, self.noise, w.shape[0]))
        return out, w @ self.skill + torch.from_numpy(self.rng.normal(0, self.noise, w.shape[0]))

    def regret(self, w: torch.Tensor) -> float:
        """Normalised simple regret of recommending the ``D`` mixture ``w``."""
        return (self.hi - float(self.f(w.unsqueeze(0))[0])) / (self.hi - self.lo)


def as_table(x: torch.Tensor, out: torch.Tensor, ins: torch.Tensor, stage: list[int] | None = None) -> RunTable:
    return RunTable.from_arrays(
        [f"d{i}" for i in range(D)], x, out, targets=["out_score"], in_score=ins, out_score=out, stage=stage
    )


def paper_pipeline(sim: Simulator) -> dict[str, float]:
    """Regret of the best observed run after 11, 16 and 41 runs, and of the final quadratic's argmax."""
    x = seed_mixtures(D)
    out, ins = sim.evaluate(x)
    regrets = {"a11": sim.regret(x[int(out.argmax())])}
    table = as_table(x, out, ins)
    heur = torch.cat(
        [
            s.propose(table)
            for s in (AlphaCredit(1.0), AlphaCredit(0.0), AlphaCredit(0.5), InclusionRidge(), ExcludeOneDrop())
        ]
    )
    o2, i2 = sim.evaluate(heur)
    x, out, ins = torch.cat([x, heur]), torch.cat([out, o2]), torch.cat([ins, i2])
    regrets["a16"] = sim.regret(x[int(out.argmax())])
    quad = QuadraticScheffe().fit(x, out)
    top = ModelArgmax(num=25, pool_size=4096, min_distance=0.05, refine=False).propose(as_table(x, out, ins), quad)
    o3, i3 = sim.evaluate(top)
    x, out = torch.cat([x, top]), torch.cat([out, o3])
    regrets["a41"] = sim.regret(x[int(out.argmax())])
    regrets["a41fit"] = sim.regret(best_predicted(QuadraticScheffe().fit(x, out), x))
    return regrets


def bayes_opt(sim: Simulator, budget: int, options: GPOptions, pool: int | None, q: int) -> dict[str, float]:
    """Regret of the posterior-mean recommendation after each round of BO, from 11 seed runs to ``budget``."""
    x = seed_mixtures(D)
    out, ins = sim.evaluate(x)
    stage = [0] * len(x)  # each round is a stage, forecast by the GPs of the rounds before it
    regrets = {}
    step = 0
    forecasts: dict = {}  # earlier rounds' forecast errors do not change: computed once
    while True:
        gp = fit_gp(as_table(x, out, ins, stage), options, cache=forecasts)
        regrets[f"b{len(x)}"] = sim.regret(best_predicted(gp, x, seed=step))
        left = budget - len(x)
        if left <= 0:
            return regrets
        size = min(q, left)
        # The last round only sharpens the recommendation, so it exploits.
        acquisition = "mean" if size == left else "log_nei"
        nxt = BayesOptBatch(
            q=size, acquisition=acquisition, num_restarts=4, raw_samples=256, pool_size=pool, seed=step
        ).propose(as_table(x, out, ins), gp)
        o, i = sim.evaluate(nxt)
        x, out, ins = torch.cat([x, nxt]), torch.cat([out, o]), torch.cat([ins, i])
        step += 1
        stage += [step] * nxt.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="simulator seeds per surface (0 .. seeds - 1)")
    parser.add_argument("--budget", type=int, default=15, help="evaluated mixtures for BO, seed runs included")
    parser.add_argument("--q", type=int, default=1, help="BO batch size")
    parser.add_argument("--noise", type=float, default=0.01, help="seed-noise std as a fraction of the surface's range")
    parser.add_argument("--surfaces", nargs="+", default=["quadratic", "sharp", "harmful"])
    parser.add_argument(
        "--priors",
        nargs="+",
        default=[str(p) for p in DEFAULT_PRIORS],
        help="GP lengthscale-prior candidates (the shipped ones)",
    )
    parser.add_argument(
        "--warps", nargs="+", default=list(DEFAULT_WARPS), help="GP input-warp candidates (the shipped ones)"
    )
    parser.add_argument(
        "--means",
        nargs="+",
        default=["constant", "peak"],
        help="GP mean candidates, preferred first, chosen by forecast error of the BO runs (constant: plain GP)",
    )
    parser.add_argument("--kernel", default="matern52", choices=["rbf", "matern32", "matern52"])
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="optimise the acquisition over this many Dirichlet candidates; 0: continuous SLSQP",
    )
    args = parser.parse_args()
    if args.budget < 12 or args.q < 1 or args.seeds < 1:
        parser.error("need --budget >= 12, --q >= 1 and --seeds >= 1")
    torch.set_num_threads(1)
    priors = [p if p in ("dim_scaled", "gamma", "none") else float(p) for p in args.priors]
    # No noise floor: the simulated noise is known to the benchmark, not to the GP.
    options = GPOptions(kernel=args.kernel, priors=priors, warps=args.warps, means=list(args.means), noise_floor=None)
    cols = ["a11", "a16", "a41", "a41fit", *(f"b{k}" for k in sorted({11, min(15, args.budget), args.budget}))]
    names = {"a11": "(a) k=11 obs", "a16": "(a) k=16 obs", "a41": "(a) k=41 obs", "a41fit": "(a) k=41 fit"}
    print(
        f"Regret over {args.seeds} simulator seeds, median [80th percentile] "
        f"(noise {args.noise} of range, BO q={args.q}, "
        f"pool={args.pool or 'continuous'}); k = evaluated mixtures.\n"
    )
    print(
        "| surface | "
        + " | ".join(names.get(c, f"(b) BO k={c[1:]}") for c in cols)
        + f" | (b) seeds <= 0.01 at k={args.budget} | s |"
    )
    print("|---|" + "---|" * (len(cols) + 2))
    for kind in args.surfaces:
        start = time.time()
        runs = []
        for seed in range(args.seeds):
            r = paper_pipeline(Simulator(kind, seed, args.noise))
            r.update(bayes_opt(Simulator(kind, seed, args.noise), args.budget, options, args.pool or None, args.q))
            runs.append(r)
        cells = [f"{np.median([r[c] for r in runs]):.4f} [{np.quantile([r[c] for r in runs], 0.8):.3f}]" for c in cols]
        hit = sum(r[f"b{args.budget}"] <= 0.01 for r in runs)
        print(f"| {kind} | " + " | ".join(cells) + f" | {hit}/{args.seeds} | {time.time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
