"""The end-to-end mixture search: which mixture to train on, and how sure we are.

Run ``python -m predictors.search --config configs/search.yaml`` (``--help`` lists every option).
"""

from predictors.gp import GPOptions
from predictors.search.config import ConfirmOptions, ProposalOptions, SearchConfig, SlurmOptions, StrategySpec
from predictors.search.driver import MixtureSearch, SearchError, SearchOutcome
from predictors.search.plan import PlannedRun, SimplexError, check_simplex, make_run_id

__all__ = [
    "GPOptions",
    "MixtureSearch",
    "PlannedRun",
    "ConfirmOptions",
    "ProposalOptions",
    "SearchConfig",
    "SearchError",
    "SearchOutcome",
    "SimplexError",
    "SlurmOptions",
    "StrategySpec",
    "check_simplex",
    "make_run_id",
]
