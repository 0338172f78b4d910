"""A ground-truth map of real runs: the empirical best mixture, and the search strategies replayed on it.

Reads run records (``predictors.records``) of many mixtures on one world — the seed design (each domain alone,
each left out, uniform) with replicates, the search's own heuristics and proposals, and Dirichlet draws::

    python benchmarks/mixture_map.py --print_draws 26      # Dirichlet(1) mixtures for the search's --extra_mixtures
    python benchmarks/mixture_map.py runs/search/records runs/map/records
    python benchmarks/mixture_map.py runs/*/records --budgets 14 18 22 --replays 10

A mixture's true score is the mean Out-Score of its runs; the replicate sd comes from the uniform mixture's runs.
The script prints the map (mixtures, runs, the empirical best and the runners-up) and then replays, on the map's
mixtures only, three ways of choosing runs after the 11 seed runs, each recommending one mixture per budget:

- the paper's pipeline: the search config's heuristics (``configs/search.yaml``: alpha credit 0.5, inclusion
  ridge, exclude-one; each proposal snapped to the nearest unrun map mixture, L1), then the Scheffé quadratic
  fitted on those runs, its predicted top mixtures in order; recommends the best observed run;
- the GP search: ``predictors.gp.fit_gp`` with the search config's GP options, one run at a time, its acquisition's
  argmax among the unrun map mixtures; recommends the best observed run (as the search does), and, as a second
  row, the run with the best posterior mean;
- random: unrun map mixtures in random order; recommends the best observed run.

A run's observation is one replicate of its mixture (drawn per replay), so mixtures with several runs are noisy as
in a real search, and ones with a single run are not. Regret = true score of the empirical best - true score of
the recommendation, in Out-Score and in replicate sds; medians and means over replays. A replay confined to the
map's mixtures cannot find a mixture the map lacks: it says which of these strategies picks well among mixtures
that were run, not what a continuous search would reach. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from botorch.optim import optimize_acqf_discrete

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mixture_spread import group  # noqa: E402

from predictors.baselines import QuadraticScheffe  # noqa: E402
from predictors.gp import GPOptions, fit_gp  # noqa: E402
from predictors.records import read_records  # noqa: E402
from predictors.run_table import RunTable  # noqa: E402
from predictors.search.__main__ import parse_config  # noqa: E402
from predictors.search.replicates import replicate_sd  # noqa: E402
from predictors.search.stages import build_heuristics  # noqa: E402
from predictors.search.summary import MixtureResult, find_uniform  # noqa: E402
from predictors.strategies import BayesOptBatch, ProposalStrategy  # noqa: E402
from predictors.strategies.base import dirichlet_pool, seed_mixtures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class RunMap:
    """The map's mixtures, their true (mean) scores and their runs' scores, to draw observations from."""

    def __init__(self, results: list[MixtureResult]) -> None:
        self.results = results
        self.domains = list(results[0].weights)
        self.x = torch.tensor([[m.weights[d] for d in self.domains] for m in results], dtype=torch.float64)
        self.truth = torch.tensor([m.out_score for m in results], dtype=torch.float64)
        self.runs = [[(r.out_score, r.in_score) for r in sorted(m.members, key=lambda r: r.seed or 0)]
                     for m in results]
        uniform = find_uniform(results)
        if uniform is None or uniform.runs < 2:
            raise SystemExit("the map needs >= 2 runs of the uniform mixture for a replicate sd")
        self.sd = replicate_sd([uniform], "out_score")[0]
        self.uniform = results.index(uniform)
        seeds = seed_mixtures(len(self.domains))
        dist = (seeds.unsqueeze(1) - self.x.unsqueeze(0)).abs().sum(-1)
        missing = [i for i in range(len(seeds)) if float(dist[i].min()) > 1e-3]
        if missing:
            raise SystemExit(f"the map lacks seed mixtures {[seeds[i].tolist() for i in missing]}")
        self.seeds = dist.argmin(1).tolist()
        self.best = int(self.truth.argmax())

    def regret(self, i: int) -> float:
        """True score of the empirical best minus that of mixture ``i``."""
        return float(self.truth[self.best] - self.truth[i])


class Replay:
    """One replay: which map mixtures have been run, and what each run observed."""

    def __init__(self, world: RunMap, rng: np.random.Generator) -> None:
        self.world, self.rng = world, rng
        self.done: list[int] = []
        self.out: list[float] = []
        self.ins: list[float] = []
        for i in world.seeds:
            self.run(i)

    def run(self, i: int) -> None:
        out, ins = self.world.runs[i][int(self.rng.integers(len(self.world.runs[i])))]
        self.done.append(i)
        self.out.append(out)
        self.ins.append(ins)

    def unrun(self) -> list[int]:
        return [i for i in range(len(self.world.results)) if i not in self.done]

    def table(self) -> RunTable:
        x = self.world.x[self.done]
        stage = [0] * len(self.world.seeds) + list(range(1, len(self.done) - len(self.world.seeds) + 1))
        out = torch.tensor(self.out, dtype=torch.float64)
        return RunTable.from_arrays(self.world.domains, x, out, targets=["out_score"],
                                    in_score=torch.tensor(self.ins, dtype=torch.float64), out_score=out, stage=stage)

    def nearest_unrun(self, w: torch.Tensor) -> tuple[int, float]:
        left = self.unrun()
        dist = (self.world.x[left] - w).abs().sum(-1)
        return left[int(dist.argmin())], float(dist.min())

    def best_observed(self) -> int:
        return self.done[int(np.argmax(self.out))]

    def note(self, regrets: dict[int, float], budgets: list[int]) -> None:
        """Records the best observed run's regret if the runs so far make one of ``budgets``."""
        if len(self.done) in budgets:
            regrets[len(self.done)] = self.world.regret(self.best_observed())


def paper_pipeline(
    world: RunMap, rng: np.random.Generator, budgets: list[int], heuristics: list[ProposalStrategy]
) -> tuple[dict[int, float], float]:
    """Regret per budget, and the mean L1 distance by which the heuristics' proposals were snapped."""
    rep = Replay(world, rng)
    regrets: dict[int, float] = {}
    rep.note(regrets, budgets)
    snaps = []
    for strategy in heuristics:
        if len(rep.done) >= max(budgets):
            break
        i, dist = rep.nearest_unrun(strategy.propose(rep.table())[0])
        rep.run(i)
        snaps.append(dist)
        rep.note(regrets, budgets)
    left = rep.unrun()
    quad = QuadraticScheffe().fit(world.x[rep.done], torch.tensor(rep.out, dtype=torch.float64))
    predicted, _ = quad.predict(world.x[left])
    for j in predicted.argsort(descending=True).tolist():
        if len(rep.done) >= max(budgets):
            break
        rep.run(left[j])
        rep.note(regrets, budgets)
    return regrets, float(np.mean(snaps)) if snaps else 0.0


def gp_search(
    world: RunMap, rng: np.random.Generator, budgets: list[int], options: GPOptions, acquisition: str = "log_nei"
) -> tuple[dict[int, float], dict[int, float]]:
    """Regret per budget of the best observed run (the search's pick before its confirm stage) and of the GP's
    best posterior mean among the runs so far."""
    rep = Replay(world, rng)
    observed: dict[int, float] = {}
    by_mean: dict[int, float] = {}
    cache: dict = {}
    while True:
        table = rep.table()
        gp = fit_gp(table, options, cache=cache)
        rep.note(observed, budgets)
        if len(rep.done) in budgets:
            mean, _ = gp.predict(world.x[rep.done])
            by_mean[len(rep.done)] = world.regret(rep.done[int(mean.argmax())])
        if len(rep.done) >= max(budgets):
            return observed, by_mean
        left = rep.unrun()
        torch.manual_seed(len(rep.done))  # MC acquisitions draw base samples
        acq = BayesOptBatch(q=1, acquisition=acquisition).build_acquisition(gp.model, table)
        choice, _ = optimize_acqf_discrete(acq, q=1, choices=world.x[left])
        rep.run(left[int((world.x[left] - choice[0]).abs().sum(-1).argmin())])


def random_order(world: RunMap, rng: np.random.Generator, budgets: list[int]) -> dict[int, float]:
    """Regret per budget of the best observed run, unrun mixtures taken in random order."""
    rep = Replay(world, rng)
    regrets: dict[int, float] = {}
    rep.note(regrets, budgets)
    for i in rng.permutation(rep.unrun()).tolist():
        if len(rep.done) >= max(budgets):
            break
        rep.run(i)
        rep.note(regrets, budgets)
    return regrets


def draws(domains: list[str], num: int, seed: int) -> list[dict[str, float]]:
    """``num`` Dirichlet(1) mixtures over ``domains``, rounded to 3 decimals and still summing to 1."""
    out = []
    for row in dirichlet_pool(len(domains), num, seed=seed)[:num].tolist():  # the pool appends the seed design
        w = [round(v, 3) for v in row[:-1]]
        out.append(dict(zip(domains, [*w, round(1 - sum(w), 3)], strict=True)))
    return out


def describe(world: RunMap, top: int) -> str:
    """The map in Markdown: its size, the replicate sd and the best mixtures by true score."""
    runs = sum(m.runs for m in world.results)
    lines = [f"Map: {len(world.results)} mixtures, {runs} runs; replicate sd of Out-Score {world.sd:.4f} "
             f"({world.results[world.uniform].runs} uniform runs).", "",
             "| rank | mixture | runs | Out-Score | In-Score | below the best (sd) |", "|---:|---|---:|---:|---:|---:|"]
    order = world.truth.argsort(descending=True).tolist()
    # The reference, also when it is not at the top.
    shown = order[:top] + ([] if world.uniform in order[:top] else [world.uniform])
    for i in shown:
        m = world.results[i]
        lines.append(f"| {order.index(i) + 1} | {m.label} | {m.runs} | {m.out_score:.3f} | {m.in_score:.3f} | "
                     f"{world.regret(i) / world.sd:.1f} |")
    replicated = [i for i in order if world.results[i].runs >= 3]
    if replicated and replicated[0] != order[0]:
        m = world.results[replicated[0]]
        lines += ["", f"Best with >= 3 runs: {m.label}, {m.out_score:.3f} ({m.runs} runs); "
                      "a single run's top is partly its seed's luck."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record_dirs", nargs="*", help="directories of run records")
    parser.add_argument("--search_config", default=str(ROOT / "configs" / "search.yaml"),
                        help="the search config whose heuristics, GP options and acquisition are replayed")
    parser.add_argument("--print_draws", type=int, default=0, metavar="N",
                        help="print N Dirichlet mixtures as JSON (for --extra_mixtures) and exit")
    parser.add_argument("--draw_seed", type=int, default=2026, help="seed of --print_draws")
    parser.add_argument("--domains", nargs="+", default=["objects", "referring", "geometry", "spatial", "science"],
                        help="domains of --print_draws (configs/mix.yaml's)")
    parser.add_argument("--budgets", nargs="+", type=int, default=[11, 14, 18, 22],
                        help="numbers of runs (seed runs included) at which each strategy recommends")
    parser.add_argument("--replays", type=int, default=5, help="replays per strategy (replicate draws, orders)")
    parser.add_argument("--first_replay", type=int, default=0,
                        help="seed of the first replay (split replays across processes: 0, 5, ...)")
    parser.add_argument("--top", type=int, default=10, help="mixtures listed in the map table")
    args = parser.parse_args(argv)
    if args.print_draws:
        print(json.dumps(draws(args.domains, args.print_draws, args.draw_seed)))
        return
    if not args.record_dirs:
        parser.error("give directories of run records (or --print_draws N)")
    world = RunMap(group([r for d in args.record_dirs for r in read_records(d).records]))
    budgets = sorted(set(args.budgets))
    if budgets[0] < len(world.seeds) or budgets[-1] > len(world.results):
        parser.error(f"budgets must lie in [{len(world.seeds)}, {len(world.results)}] (seed runs .. map size)")
    search = parse_config(["--config", args.search_config])
    heuristics = [strategy for _, strategy in build_heuristics(search.heuristics)]
    torch.set_num_threads(1)
    print(describe(world, args.top), "\n")
    rows: dict[str, list[dict[int, float]]] = {"paper pipeline": [], "GP search": [], "GP search, best mean": [],
                                              "random": []}
    snaps = []
    for seed in range(args.first_replay, args.first_replay + args.replays):
        paper, snap = paper_pipeline(world, np.random.default_rng(seed), budgets, heuristics)
        rows["paper pipeline"].append(paper)
        snaps.append(snap)
        observed, by_mean = gp_search(world, np.random.default_rng(seed), budgets, search.gp,
                                      search.proposal.acquisition)
        rows["GP search"].append(observed)
        rows["GP search, best mean"].append(by_mean)
        rows["random"].append(random_order(world, np.random.default_rng(seed), budgets))
    print(f"Simple regret on the map, Out-Score (replicate sds), median [mean] over {args.replays} replays; "
          f"heuristic proposals snapped by {np.mean(snaps):.3f} L1 on average.\n")
    print("| strategy | " + " | ".join(f"k = {k}" for k in budgets) + " |")
    print("|---|" + "---:|" * len(budgets))
    for name, replays in rows.items():
        cells = []
        for k in budgets:
            r = [rep[k] for rep in replays]
            cells.append(f"{np.median(r):.3f} ({np.median(r) / world.sd:.1f}) [{np.mean(r):.3f}]")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
