"""Registry of mixture-proposal strategies: short names for YAML, class paths also accepted."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from predictors.strategies.base import ProposalStrategy

_REGISTRY: dict[str, type[ProposalStrategy]] = {}
S = TypeVar("S", bound=type[ProposalStrategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator that registers a strategy under ``name`` (duplicates are refused)."""

    def deco(cls: S) -> S:
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if not (isinstance(cls, type) and issubclass(cls, ProposalStrategy)):
            raise TypeError(f"{cls!r} is not a ProposalStrategy subclass")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def get_strategy(name_or_class_path: str) -> type[ProposalStrategy]:
    """The strategy class for a registered name or a dotted class path.

    Raises:
        KeyError: unknown name; the message lists the valid names.
    """
    if name_or_class_path in _REGISTRY:
        return _REGISTRY[name_or_class_path]
    if "." in name_or_class_path:
        module, _, attr = name_or_class_path.rpartition(".")
        cls = getattr(importlib.import_module(module), attr)
        if isinstance(cls, type) and issubclass(cls, ProposalStrategy):
            return cls
        raise TypeError(f"{name_or_class_path!r} is not a ProposalStrategy subclass")
    raise KeyError(f"unknown strategy {name_or_class_path!r}; valid: {available_strategies()}")


def build_strategy(name_or_class_path: str, **options: Any) -> ProposalStrategy:
    """Instantiates a strategy by name or class path with ``options``."""
    return get_strategy(name_or_class_path)(**options)
