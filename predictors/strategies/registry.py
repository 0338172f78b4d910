"""The registry of mixture-proposal strategies: short names for YAML, class paths also accepted.

One instance of the project's generic :class:`rewards.registry.Registry` (duplicates refused, lookup by name or
dotted class path, an unknown name lists the valid ones, ``build`` checks option names); the functions below
are its methods.
"""

from __future__ import annotations

from predictors.strategies.base import ProposalStrategy
from rewards.registry import Registry

STRATEGIES: Registry[ProposalStrategy] = Registry("strategy", ProposalStrategy)

register_strategy = STRATEGIES.register
get_strategy = STRATEGIES.get
build_strategy = STRATEGIES.build
available_strategies = STRATEGIES.names
