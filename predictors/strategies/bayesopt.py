"""Sequential Bayesian optimisation: a batch of ``q`` mixtures from a BoTorch acquisition.

The acquisition is optimised over the simplex either with the equality constraint
``sum_i w_i = 1`` and bounds ``[0, 1]`` (BoTorch's SLSQP path in ``optimize_acqf``,
started from the best Dirichlet q-batches), or over a dense candidate pool
(``optimize_acqf_discrete``). Results are clipped at zero and renormalised, since SLSQP
meets the constraints only to its tolerance.

``acquisition="mean"`` is pure exploitation (the posterior mean for ``q = 1``, qSimpleRegret
for a batch): the right choice for the last evaluation of a budget, whose only purpose is
to sharpen the final recommendation near the predicted optimum.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    PosteriorMean,
    qLogNoisyExpectedImprovement,
    qSimpleRegret,
    qUpperConfidenceBound,
)
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_discrete
from torch import Tensor

from predictors.run_table import RunTable
from predictors.strategies.base import ProposalStrategy, Surrogate, dirichlet_pool, to_simplex
from predictors.strategies.registry import register_strategy


@register_strategy("bayes_opt")
class BayesOptBatch(ProposalStrategy):
    """A batch of ``q`` mixtures maximising qLogNEI, qUCB or the posterior mean under a GP surrogate.

    The surrogate must expose ``model``: a BoTorch model whose output is higher-is-better
    (:class:`predictors.gp.GPSurrogate` standardises and signs its targets that way).

    Args:
        q: batch size (mixtures to run in parallel next).
        acquisition: ``log_nei`` (noisy expected improvement, log form), ``ucb``, or
            ``mean`` (exploitation: posterior mean, qSimpleRegret for ``q > 1``).
        beta: UCB exploration weight.
        pool_size: if set, optimise over this many Dirichlet candidates instead of continuously.
        num_restarts: SLSQP starts for the continuous optimiser.
        raw_samples: random q-batches scored to choose the starts.
        seed: seed of the random candidates.
    """

    needs_surrogate = True

    def __init__(
        self,
        q: int = 4,
        acquisition: Literal["log_nei", "ucb", "mean"] = "log_nei",
        beta: float = 2.0,
        pool_size: int | None = None,
        num_restarts: int = 8,
        raw_samples: int = 256,
        seed: int = 0,
    ) -> None:
        if q < 1 or num_restarts < 1 or raw_samples < num_restarts:
            raise ValueError(
                f"need q >= 1 and raw_samples >= num_restarts >= 1; got {q}, {raw_samples}, {num_restarts}"
            )
        if acquisition not in ("log_nei", "ucb", "mean"):
            raise ValueError(f"acquisition must be 'log_nei', 'ucb' or 'mean', got {acquisition!r}")
        self.q, self.acquisition, self.beta, self.pool_size = q, acquisition, beta, pool_size
        self.num_restarts, self.raw_samples, self.seed = num_restarts, raw_samples, seed

    def build_acquisition(self, model: Model, table: RunTable) -> AcquisitionFunction:
        """The configured BoTorch acquisition over ``table``'s evaluated mixtures."""
        if self.acquisition == "ucb":
            return qUpperConfidenceBound(model, beta=self.beta)
        if self.acquisition == "mean":
            return PosteriorMean(model) if self.q == 1 else qSimpleRegret(model)
        return qLogNoisyExpectedImprovement(model, X_baseline=table.weights, prune_baseline=True, cache_root=False)

    def propose(self, table: RunTable, surrogate: Surrogate | None = None) -> Tensor:
        """``q x d`` mixtures on the simplex."""
        model = getattr(surrogate, "model", None)
        if not isinstance(model, Model):
            raise ValueError("bayes_opt needs a surrogate with a BoTorch `model` (e.g. predictors.gp.GPSurrogate)")
        torch.manual_seed(self.seed)  # MC acquisitions draw base samples
        acq = self.build_acquisition(model, table)
        d = table.d
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimiser-status chatter; the result is checked below
            if self.pool_size is not None:
                pool = dirichlet_pool(d, self.pool_size, seed=self.seed)
                cand, _ = optimize_acqf_discrete(acq, q=self.q, choices=pool, unique=True)
            else:
                cand = self._optimise_continuous(acq, d, table.weights)
        return to_simplex(cand.detach())

    def _optimise_continuous(self, acq: AcquisitionFunction, d: int, evaluated: Tensor) -> Tensor:
        # The evaluated mixtures join the random starts: the acquisition's peak is often a
        # short step from the incumbent, which random draws in d - 1 dimensions rarely hit.
        pool = torch.cat([dirichlet_pool(d, self.raw_samples * self.q, seed=self.seed), evaluated.double()])
        perm = torch.randperm(pool.shape[0], generator=torch.Generator().manual_seed(self.seed))
        usable = pool.shape[0] // self.q * self.q
        raw = pool[perm][:usable].reshape(-1, self.q, d)
        with torch.no_grad():
            values = torch.cat([acq(chunk) for chunk in raw.split(64)])
        starts = raw[torch.argsort(values, descending=True)[: self.num_restarts]]
        bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
        cand, _ = optimize_acqf(
            acq,
            bounds=bounds,
            q=self.q,
            num_restarts=self.num_restarts,
            batch_initial_conditions=starts,
            equality_constraints=[(torch.arange(d), torch.ones(d, dtype=torch.float64), 1.0)],
        )
        return cand
