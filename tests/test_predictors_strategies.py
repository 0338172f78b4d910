"""Each heuristic against a hand-worked example; seeds, registry, model argmax, BO proposals and
the simulated-search surfaces."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from predictors.baselines import QuadraticScheffe
from predictors.gp import GPOptions, GPSurrogate
from predictors.run_table import RunTable
from predictors.strategies import (
    AlphaCredit,
    BayesOptBatch,
    DirichletRandom,
    ExcludeOneDrop,
    InclusionRidge,
    ModelArgmax,
    SeedMixtures,
    available_strategies,
    build_strategy,
    get_strategy,
    register_strategy,
)
from predictors.strategies.model_based import best_predicted

T = torch.tensor


def table(weights: list[list[float]], out: list[float], ins: list[float] | None = None) -> RunTable:
    domains = [f"d{i}" for i in range(len(weights[0]))]
    return RunTable.from_arrays(
        domains, T(weights), T(out), targets=["out_score"], in_score=None if ins is None else T(ins), out_score=T(out)
    )


# Runs: a alone (in 0.6, out 0.2), b alone (in 0.2, out 0.4), both (in 0.4, out 0.6).
TWO = table([[1, 0], [0, 1], [0.5, 0.5]], out=[0.2, 0.4, 0.6], ins=[0.6, 0.2, 0.4])


@pytest.mark.parametrize(
    "alpha, expected",
    [
        (1.0, [0.5 / 0.8, 0.3 / 0.8]),  # credits a = mean(0.6, 0.4), b = mean(0.2, 0.4): in-domain only
        (0.0, [0.4 / 0.9, 0.5 / 0.9]),  # a = mean(0.2, 0.6), b = mean(0.4, 0.6): out-of-domain only
        (0.5, [0.45 / 0.85, 0.40 / 0.85]),  # per-run halves 0.4, 0.3, 0.5 -> a = 0.45, b = 0.40
    ],
)
def test_alpha_credit_hand_worked(alpha: float, expected: list[float]) -> None:
    assert torch.allclose(AlphaCredit(alpha).propose(TWO), T([expected], dtype=torch.float64))


def test_alpha_credit_rejects_missing_scores_and_bad_alpha() -> None:
    with pytest.raises(ValueError, match="In-Score"):
        AlphaCredit(1.0).propose(table([[1, 0], [0, 1]], out=[0.1, 0.2]))
    with pytest.raises(ValueError, match="alpha"):
        AlphaCredit(1.5)


def test_inclusion_ridge_hand_worked() -> None:
    # Indicators (1,0), (0,1), (1,1) with scores 1, 0, 1: centred normal equations give
    # [[2,-1],[-1,2]]/3 b = (2,-1)/3, so b = (1, 0) as ridge -> 0; with ridge r, b ~ (1 - 2r, -r),
    # whose negative part is clipped: all weight on the first domain.
    t = table([[1, 0], [0, 1], [0.5, 0.5]], out=[1.0, 0.0, 1.0])
    ridge = InclusionRidge(ridge=1e-3)
    assert torch.allclose(ridge.coefficients(t), T([1 - 2e-3, -1e-3], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(ridge.propose(t), T([[1.0, 0.0]], dtype=torch.float64))


def test_exclude_one_hand_worked() -> None:
    # Uniform 0.5; without a 0.3 (drop 0.2), without b 0.45 (drop 0.05), without c 0.55 (gain: 0).
    t = table([[1 / 3] * 3, [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], out=[0.5, 0.3, 0.45, 0.55])
    assert torch.allclose(ExcludeOneDrop().propose(t), T([[0.8, 0.2, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="without domain 'd2'"):
        ExcludeOneDrop().propose(table([[1 / 3] * 3, [0, 0.5, 0.5], [0.5, 0, 0.5]], out=[0.5, 0.3, 0.45]))


def test_no_positive_credit_gives_uniform() -> None:
    t = table([[1 / 3] * 3, [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], out=[0.1, 0.3, 0.45, 0.55])
    assert torch.allclose(ExcludeOneDrop().propose(t), torch.full((1, 3), 1 / 3, dtype=torch.float64))


def test_seed_mixtures_and_dirichlet() -> None:
    t = table([[0.5, 0.25, 0.25]], out=[0.0])
    seeds = SeedMixtures().propose(t)
    assert seeds.shape == (7, 3)
    assert torch.allclose(seeds[3], T([0, 0.5, 0.5], dtype=torch.float64)) and torch.allclose(
        seeds[6], torch.full((3,), 1 / 3, dtype=torch.float64)
    )
    draws = DirichletRandom(num=16, seed=3).propose(t)
    assert draws.shape == (16, 3) and torch.allclose(draws.sum(-1), torch.ones(16, dtype=torch.float64))
    assert torch.equal(draws, DirichletRandom(num=16, seed=3).propose(t)), "seeded"


def test_registry_names_classes_and_refuses_duplicates() -> None:
    assert {"seeds", "dirichlet", "alpha_credit", "inclusion_ridge", "exclude_one", "model_argmax", "bayes_opt"} <= set(
        available_strategies()
    )
    assert get_strategy("predictors.strategies.AlphaCredit") is AlphaCredit
    assert isinstance(build_strategy("alpha_credit", alpha=0.0), AlphaCredit)
    with pytest.raises(KeyError, match="valid names: .*alpha_credit"):
        get_strategy("no_such_strategy")
    with pytest.raises(ValueError, match="unknown option.*'alpah'.*valid options: alpha"):
        build_strategy("alpha_credit", alpah=0.5)
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("seeds")(AlphaCredit)


def quadratic_surface(d: int = 3) -> tuple[RunTable, torch.Tensor]:
    # f(w) = -|w - c|^2 in Scheffé form is maximised at c = (0.5, 0.3, 0.2).
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.dirichlet(np.ones(d), size=30))
    c = T([0.5, 0.3, 0.2], dtype=torch.float64)
    y = -((w - c) ** 2).sum(-1)
    return RunTable.from_arrays(["a", "b", "c"], w, y, out_score=y), c


def test_model_argmax_finds_quadratic_optimum() -> None:
    t, c = quadratic_surface()
    quad = QuadraticScheffe(ridge=0.0).fit(t.weights, t.y[:, 0])
    best = ModelArgmax(num=3, pool_size=512).propose(t, quad)
    assert best.shape == (3, 3)
    assert torch.allclose(best[0], c, atol=1e-3)
    # Polishing took every pick to the one optimum before: the proposals must stay min_distance apart.
    gaps = [float((best[i] - best[j]).abs().sum()) for i in range(3) for j in range(i)]
    assert min(gaps) >= 0.1


@pytest.fixture(scope="module")
def quadratic_gp() -> GPSurrogate:
    t, _ = quadratic_surface()
    return GPSurrogate.fit(t.weights, t.y[:, 0], options=GPOptions(priors=[0.5], warps=["sqrt"], linear=False))


@pytest.mark.parametrize(
    "kwargs", [{"acquisition": "log_nei"}, {"acquisition": "ucb"}, {"acquisition": "mean"}, {"pool_size": 256}]
)
def test_bo_proposals_lie_on_the_simplex(kwargs: dict, quadratic_gp: GPSurrogate) -> None:
    t, _ = quadratic_surface()
    batch = BayesOptBatch(q=3, num_restarts=2, raw_samples=16, **kwargs).propose(t, quadratic_gp)
    assert batch.shape == (3, 3)
    assert bool((batch >= 0).all()) and torch.allclose(batch.sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-9)
    with pytest.raises(ValueError, match="BoTorch"):
        BayesOptBatch().propose(t, QuadraticScheffe().fit(t.weights, t.y[:, 0]))


def test_best_predicted_is_the_polished_model_optimum_not_the_best_observation() -> None:
    t, c = quadratic_surface()
    noisy = t.y[:, 0] + torch.from_numpy(np.random.default_rng(1).normal(0, 0.02, t.n))
    quad = QuadraticScheffe(ridge=0.0).fit(t.weights, t.y[:, 0])
    assert torch.allclose(best_predicted(quad, t.weights), c, atol=1e-3)
    # The best noisy observation is a lucky draw further from c than the model's optimum.
    lucky = t.weights[int(noisy.argmax())]
    fitted = best_predicted(QuadraticScheffe().fit(t.weights, noisy), t.weights)
    assert float((fitted - c).norm()) < float((lucky - c).norm())
    assert torch.equal(best_predicted(quad, t.weights, num_polish=0), best_predicted(quad, t.weights, num_polish=0)), (
        "seeded"
    )
    with pytest.raises(ValueError, match="evaluated"):
        best_predicted(quad, t.weights[0])
    with pytest.raises(ValueError, match="num_polish"):
        best_predicted(quad, t.weights, num_polish=-1)


def test_bo_mean_acquisition_exploits_the_posterior_optimum(quadratic_gp: GPSurrogate) -> None:
    t, c = quadratic_surface()
    gp = quadratic_gp
    best = BayesOptBatch(q=1, acquisition="mean", num_restarts=2, raw_samples=32).propose(t, gp)[0]
    mean, _ = gp.predict(torch.stack([best, c]))
    assert float((best - c).norm()) < 0.05 and float(mean[0]) >= float(mean[1]) - 1e-3
    with pytest.raises(ValueError, match="'mean'"):
        BayesOptBatch(acquisition="ei")  # type: ignore[arg-type]


def simulated_search() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "simulated_search.py"
    spec = importlib.util.spec_from_file_location("simulated_search", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["quadratic", "sharp", "harmful"])
def test_simulated_surfaces_have_optima_away_from_every_seed_run(kind: str) -> None:
    sim_mod = simulated_search()
    for seed in range(2):
        sim = sim_mod.Simulator(kind, seed, noise=0.01)
        seeds = SeedMixtures().propose(table([[0.2] * 5], out=[0.0]))
        # The true optimum's value is reached only near the drawn location, which is far from the seeds.
        assert sim.regret(sim.optimum) < 1e-3
        assert min(sim.regret(s) for s in seeds) > 1e-3
        assert float((seeds - sim.optimum).norm(dim=-1).min()) >= sim_mod.MIN_SEED_DISTANCE
        if kind == "harmful":
            assert int((sim.optimum == 0).sum()) == 1, "optimum on the face without the harmful domain"
            bad = int((sim.optimum == 0).nonzero())
            inside = sim.optimum.clone()
            inside[bad] += 0.1
            assert sim.f(inside.unsqueeze(0) / 1.1) < sim.f(sim.optimum.unsqueeze(0)), (
                "weight on the harmful domain hurts"
            )
        else:
            assert float(sim.optimum.min()) >= sim_mod.MIN_WEIGHT
    with pytest.raises(ValueError, match="unknown surface"):
        sim_mod.Simulator("flat", 0, noise=0.01)
