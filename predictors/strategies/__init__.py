"""Strategies that propose mixtures to run next; importing this package registers them all."""

from predictors.strategies.base import ProposalStrategy, Surrogate, dirichlet_pool, seed_mixtures, to_simplex
from predictors.strategies.bayesopt import BayesOptBatch
from predictors.strategies.heuristics import AlphaCredit, ExcludeOneDrop, InclusionRidge
from predictors.strategies.model_based import ModelArgmax
from predictors.strategies.registry import (
    STRATEGIES,
    available_strategies,
    build_strategy,
    get_strategy,
    register_strategy,
)
from predictors.strategies.seeds import DirichletRandom, SeedMixtures

__all__ = [
    "AlphaCredit",
    "BayesOptBatch",
    "DirichletRandom",
    "ExcludeOneDrop",
    "InclusionRidge",
    "ModelArgmax",
    "ProposalStrategy",
    "STRATEGIES",
    "SeedMixtures",
    "Surrogate",
    "available_strategies",
    "build_strategy",
    "dirichlet_pool",
    "get_strategy",
    "register_strategy",
    "seed_mixtures",
    "to_simplex",
]
