"""The strategy interface and simplex helpers shared by all strategies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from predictors.run_table import RunTable


@runtime_checkable
class Surrogate(Protocol):
    """A fitted predictor of the score at a mixture (GP or baseline).

    Attributes:
        maximize: whether higher predictions are better.
    """

    maximize: bool

    def predict(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """``m x d`` mixtures to ``(mean, std)``, each ``m``, in original units."""
        ...


class ProposalStrategy(ABC):
    """Proposes mixtures to run next from the runs so far.

    Subclasses are registered with :func:`predictors.strategies.registry.register_strategy`
    and configured through their ``__init__`` (so YAML can name them by class path).
    """

    name: ClassVar[str] = ""
    #: Whether :meth:`propose` needs a fitted surrogate.
    needs_surrogate: ClassVar[bool] = False

    @abstractmethod
    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """Returns ``k x d`` mixtures (rows on the simplex, float64, columns in ``table.domains`` order)."""


def to_simplex(weights: Tensor) -> Tensor:
    """Clips ``... x d`` weights at zero and renormalises each row; an all-zero row becomes uniform."""
    w = torch.as_tensor(weights, dtype=torch.float64).clamp_min(0)
    total = w.sum(-1, keepdim=True)
    uniform = torch.full_like(w, 1.0 / w.shape[-1])
    return torch.where(total > 0, w / total.clamp_min(1e-300), uniform)


def normalise_credit(credit: Tensor) -> Tensor:
    """Weights proportional to the positive part of ``d`` credits; uniform when none is positive."""
    return to_simplex(credit.clamp_min(0))


def dirichlet_pool(d: int, num: int, concentration: float = 1.0, seed: int = 0) -> Tensor:
    """``num x d`` Dirichlet samples plus the ``2d + 1`` seed mixtures (vertices, exclude-one, uniform).

    The seed mixtures sit on the simplex's boundary and centre, where random draws rarely land.
    """
    if concentration <= 0:
        raise ValueError(f"Dirichlet concentration must be > 0, got {concentration}")
    draws = np.random.default_rng(seed).dirichlet(np.full(d, float(concentration)), size=num)
    return torch.cat([to_simplex(torch.from_numpy(draws)), seed_mixtures(d)])


def seed_mixtures(d: int, single: bool = True, exclude_one: bool = True, uniform: bool = True) -> Tensor:
    """The paper's seed design as a ``k x d`` tensor (``k <= 2d + 1``)."""
    rows = []
    eye = torch.eye(d, dtype=torch.float64)
    if single:
        rows.append(eye)
    if exclude_one and d > 1:
        rows.append((1 - eye) / (d - 1))
    if uniform:
        rows.append(torch.full((1, d), 1.0 / d, dtype=torch.float64))
    if not rows:
        raise ValueError("choose at least one kind of seed mixture")
    return torch.cat(rows)
