"""benchmarks/mixture_map.py: the map's truth, its seed-design check and the replays' regrets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mixture_map import RunMap, draws, gp_search, paper_pipeline, random_order  # noqa: E402
from mixture_spread import group  # noqa: E402

from predictors.gp import GPOptions  # noqa: E402
from predictors.records import RunRecord  # noqa: E402
from predictors.strategies import AlphaCredit, ExcludeOneDrop, InclusionRidge  # noqa: E402
from predictors.strategies.base import dirichlet_pool, seed_mixtures  # noqa: E402

DOMAINS = ("a", "b", "c")
PEAK = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)


def _surface(w: torch.Tensor) -> float:
    return float(0.8 - (w - PEAK).pow(2).sum())


def _records(with_seeds: bool = True) -> list[RunRecord]:
    """Seed design and 12 Dirichlet mixtures on a smooth surface; uniform run three times (seeds 0-2)."""
    mixtures = dirichlet_pool(3, 12, seed=1)[:12]
    if with_seeds:
        mixtures = torch.cat([seed_mixtures(3), mixtures])
    records = []
    for w in mixtures:
        repeats = (-0.01, 0.0, 0.01) if float(w.max() - w.min()) < 1e-9 else (0.0,)
        for seed, noise in enumerate(repeats):
            out = _surface(w) + noise
            records.append(RunRecord(weights=dict(zip(DOMAINS, w.tolist(), strict=True)), scores={"o": out},
                                     in_score=0.5 + 0.1 * float(w[0]), out_score=out, seed=seed, stage="val"))
    return records


def test_the_map_knows_its_best_mixture_and_replicate_sd() -> None:
    world = RunMap(group(_records()))
    assert len(world.results) == 7 + 12 and len(world.seeds) == 7
    best = world.x[world.best]
    assert _surface(best) == pytest.approx(max(_surface(w) for w in world.x))
    assert world.regret(world.best) == 0.0
    assert world.sd == pytest.approx(0.01)


def test_a_map_without_the_seed_design_is_refused() -> None:
    with pytest.raises(SystemExit, match="lacks seed mixtures"):
        RunMap(group(_records(with_seeds=False) + [r for r in _records()[:9] if r.weights["a"] > 0.3]))


def test_replays_report_a_regret_per_budget_and_exact_runs_never_make_best_observed_worse() -> None:
    world = RunMap(group(_records()))
    budgets = [7, 10, 13]
    heuristics = [AlphaCredit(0.5), InclusionRidge(), ExcludeOneDrop()]
    paper, snap = paper_pipeline(world, np.random.default_rng(0), budgets, heuristics)
    rand = random_order(world, np.random.default_rng(0), budgets)
    options = GPOptions(priors=[1.0], warps=["none"], means=["constant"], noise_floor=0.01)
    observed, by_mean = gp_search(world, np.random.default_rng(0), budgets, options)
    for regrets in (paper, rand, observed, by_mean):
        assert sorted(regrets) == budgets and all(r >= 0 for r in regrets.values())
    # Only uniform has replicates here, all below its peer mixtures' scores, so observations rank as the truth
    # does and the best observed run can only improve as runs are added (with noisy replicates it need not).
    for regrets in (paper, rand, observed):
        assert regrets[7] >= regrets[10] >= regrets[13]
    assert paper[7] == rand[7] == observed[7]  # the same seed runs
    assert snap >= 0
    # On a smooth surface with its peak among the draws, the GP finds a near-best mixture within 6 runs.
    assert observed[13] < 0.02


def test_map_draws_are_reproducible_mixtures_off_the_seed_design() -> None:
    first = draws(list(DOMAINS), 8, seed=3)
    assert first == draws(list(DOMAINS), 8, seed=3) and len(first) == 8
    for w in first:
        assert sum(w.values()) == pytest.approx(1, abs=1e-9) and min(w.values()) >= 0
        assert sorted(w) == sorted(DOMAINS) and max(w.values()) < 1  # no vertex of the simplex


def _small_search_config(tmp_path: Path) -> Path:
    """configs/search.yaml with one GP candidate, so that the replays fit quickly."""
    root = Path(__file__).resolve().parents[1]
    config = tmp_path / "search.yaml"
    config.write_text(f"base_config: {root / 'configs' / 'mix.yaml'}\n"
                      "gp: {priors: [1.0], warps: [none], means: [constant], noise_floor: 0.01}\n")
    return config


def test_the_command_reads_record_dirs_prints_the_map_and_every_strategy_row(tmp_path: Path, capsys) -> None:
    from mixture_map import main

    from predictors.records import write_record

    for i, record in enumerate(_records()):  # two record directories, as a search and a map run leave them
        write_record(record, tmp_path / ("search" if i < 10 else "map"))
    main([str(tmp_path / "search"), str(tmp_path / "map"), "--budgets", "7", "9", "--replays", "1", "--top", "3",
          "--search_config", str(_small_search_config(tmp_path))])
    lines = capsys.readouterr().out.splitlines()
    assert "Map: 19 mixtures, 21 runs; replicate sd of Out-Score 0.0100 (3 uniform runs)." in lines
    ranks = [line.split(" | ")[0] for line in lines if line[:3] in [f"| {i}" for i in range(1, 10)]]
    assert ranks[:3] == ["| 1", "| 2", "| 3"] and len(ranks) in (3, 4)  # the top 3, and uniform if not among them
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and "[" in line]
    strategies = {row[0][2:]: row[1:] for row in rows}
    assert sorted(strategies) == sorted(["paper pipeline", "GP search", "GP search, best mean", "random"])
    assert all(len(cells) == 2 for cells in strategies.values())  # one cell per budget


def test_the_command_refuses_budgets_outside_the_map(tmp_path: Path, capsys) -> None:
    from mixture_map import main

    from predictors.records import write_record

    for record in _records():
        write_record(record, tmp_path / "records")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "records"), "--budgets", "5", "--search_config", str(_small_search_config(tmp_path))])
    assert "budgets must lie in [7, 19]" in capsys.readouterr().err
