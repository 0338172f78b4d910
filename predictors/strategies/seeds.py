"""Strategies that need no scored runs: the seed design and Dirichlet random mixtures."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from predictors.run_table import RunTable
from predictors.strategies.base import ProposalStrategy, Surrogate, seed_mixtures, to_simplex
from predictors.strategies.registry import register_strategy


@register_strategy("seeds")
class SeedMixtures(ProposalStrategy):
    """The paper's ``2d + 1`` seed runs: single-domain, exclude-one (equal weights on the rest), uniform.

    Args:
        single: include the ``d`` single-domain mixtures.
        exclude_one: include the ``d`` exclude-one mixtures.
        uniform: include the uniform mixture.
    """

    def __init__(self, single: bool = True, exclude_one: bool = True, uniform: bool = True) -> None:
        self.single, self.exclude_one, self.uniform = single, exclude_one, uniform

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """``k x d`` seed mixtures for ``table.domains``."""
        return seed_mixtures(table.d, self.single, self.exclude_one, self.uniform)


@register_strategy("dirichlet")
class DirichletRandom(ProposalStrategy):
    """Random mixtures from a symmetric Dirichlet.

    Args:
        num: how many mixtures.
        concentration: Dirichlet concentration; 1 is uniform on the simplex, < 1 favours sparse mixtures.
        seed: random seed (the same seed gives the same mixtures).
    """

    def __init__(self, num: int = 8, concentration: float = 1.0, seed: int = 0) -> None:
        if num < 1 or concentration <= 0:
            raise ValueError(f"need num >= 1 and concentration > 0, got num={num}, concentration={concentration}")
        self.num, self.concentration, self.seed = num, concentration, seed

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """``num x d`` Dirichlet draws."""
        draws = np.random.default_rng(self.seed).dirichlet(np.full(table.d, self.concentration), size=self.num)
        return to_simplex(torch.from_numpy(draws))
