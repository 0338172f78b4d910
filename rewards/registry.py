"""A generic name -> class registry, and the verifier registry built on it.

:class:`Registry` maps short names (for YAML) to subclasses of one base class: a ``register(name)``
decorator that refuses duplicates, lookup by registered name or by dotted class path
(``package.module.Class``, no registration needed), third-party classes from an entry-point group, an
unknown-name error that lists the valid names, and ``build(name, **options)`` that checks option
names against the class's ``__init__`` before instantiating it::

    STRATEGIES = Registry("strategy", ProposalStrategy)

    @STRATEGIES.register("seeds")
    class SeedMixtures(ProposalStrategy): ...

    STRATEGIES.build("seeds", num=4)

The verifier registry is one instance (:data:`VERIFIERS`); the module-level functions
(:func:`register`, :func:`get_verifier`, :func:`build_verifier`, :func:`available_verifiers`) are its
methods. Installed distributions add verifiers through the entry-point group ``modomodo.verifiers``
(``name = "package.module:VerifierClass"``); entry points are imported lazily, only when a lookup misses or
when the names are listed, so a broken plugin cannot slow down or break a run that does not use it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from rewards.base import Verifier

T = TypeVar("T")
C = TypeVar("C", bound=type)

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


class UnknownNameError(KeyError, ValueError):
    """No class is registered under the requested name (or the class path does not resolve).

    A ``KeyError`` (a failed lookup) and a ``ValueError`` (a bad configuration value), so callers
    may catch either; the message lists the valid names.
    """

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


def init_options(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword options a class accepts (its ``__init__`` parameters, ``self`` and ``*args`` excluded)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        name: p for name, p in params.items() if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


class Registry(Generic[T]):
    """Registered subclasses of ``base`` by name.

    Args:
        kind: What the registry holds, in messages ("verifier", "strategy").
        base: Every registered or looked-up class must subclass it.
        entry_point_group: Entry-point group whose ``name = "module:Class"`` entries are registered
            lazily; ``None``: no plugins.
        name_attribute: Class attribute set to the registered name (``None``: leave the class alone).
        unknown_error: Exception class raised for an unknown name (a subclass of :class:`UnknownNameError`).
    """

    def __init__(
        self,
        kind: str,
        base: type[T],
        entry_point_group: str | None = None,
        name_attribute: str | None = "name",
        unknown_error: type[UnknownNameError] = UnknownNameError,
    ) -> None:
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self.name_attribute = name_attribute
        self.unknown_error = unknown_error
        self._classes: dict[str, type[T]] = {}

    # ----------------------------------------------------------- registration
    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator registering a subclass of :attr:`base` under ``name``.

        Args:
            name: Letters, digits, ``_`` and ``-``, not starting with a digit.

        Raises:
            ValueError: If the name is malformed or already taken.
            TypeError: If the decorated object is not a subclass of :attr:`base`.
        """
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid {self.kind} name {name!r}: use letters, digits, '_' and '-'")

        def decorator(cls: C) -> C:
            if not (inspect.isclass(cls) and issubclass(cls, self.base)):
                raise TypeError(f"register({name!r}) must decorate a {self.base.__name__} subclass, got {cls!r}")
            existing = self._classes.get(name)
            if existing is not None:
                raise ValueError(
                    f"{self.kind} name {name!r} is already registered to "
                    f"{existing.__module__}.{existing.__qualname__}; pick another name"
                )
            if self.name_attribute is not None:
                setattr(cls, self.name_attribute, name)
            self._classes[name] = cls
            return cls

        return decorator

    # ---------------------------------------------------------------- lookup
    def get(self, name_or_class_path: str) -> type[T]:
        """The class registered as ``name_or_class_path``, an entry point of that name, or the class at that path.

        Raises:
            UnknownNameError: If nothing matches (the message lists the valid names), or a class path
                does not import.
            TypeError: If a class path names something that is not a subclass of :attr:`base`.
        """
        cls = self._classes.get(name_or_class_path)
        if cls is not None:
            return cls
        if "." in name_or_class_path:
            return self._from_class_path(name_or_class_path)
        failures = self._load_entry_points()
        cls = self._classes.get(name_or_class_path)
        if cls is not None:
            return cls
        if name_or_class_path in failures:
            err = failures[name_or_class_path]
            raise self.unknown_error(
                f"{self.kind} {name_or_class_path!r} from entry-point group {self.entry_point_group!r} "
                f"failed to load: {err}"
            ) from err
        raise self.unknown_error(
            f"unknown {self.kind} {name_or_class_path!r}; valid names: {', '.join(sorted(self._classes))} "
            f"(or a class path such as 'my_pkg.module.MyClass')"
        )

    def names(self) -> list[str]:
        """Sorted registered names, including installed entry points (a broken one warns and is left out)."""
        for name, err in self._load_entry_points().items():
            warnings.warn(f"{self.kind} entry point {name!r} failed to load: {err}", RuntimeWarning, stacklevel=2)
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def build(self, name_or_class_path: str, **options: Any) -> T:
        """Instantiate a class by name or class path, checking the option names first.

        Raises:
            UnknownNameError: If the name is unknown.
            ValueError: If an option is not a parameter of the class's ``__init__`` (the message names
                the class and lists its valid options), or the class rejects a value.
        """
        cls = self.get(name_or_class_path)
        accepted = init_options(cls)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
        unknown = sorted(set(options) - set(accepted))
        if unknown and not takes_any:
            raise ValueError(
                f"{self.kind} {name_or_class_path!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(sorted(accepted)) or 'none'}"
            )
        return cls(**options)

    # --------------------------------------------------------------- helpers
    def _from_class_path(self, path: str) -> type[T]:
        module_name, _, attr = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise self.unknown_error(f"cannot import module {module_name!r} for {self.kind} {path!r}: {err}") from err
        cls = getattr(module, attr, None)
        if cls is None:
            raise self.unknown_error(f"module {module_name!r} has no attribute {attr!r} ({self.kind} {path!r})")
        if not (inspect.isclass(cls) and issubclass(cls, self.base)):
            raise TypeError(f"{path!r} is not a {self.base.__module__}.{self.base.__qualname__} subclass")
        return cls

    def _load_entry_points(self) -> dict[str, BaseException]:
        """Register entry points not yet registered; returns the failures by name."""
        if self.entry_point_group is None:
            return {}
        importlib.invalidate_caches()  # a distribution may have been added to sys.path since the last scan
        failures: dict[str, BaseException] = {}
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            if entry_point.name in self._classes:
                continue
            try:
                obj = entry_point.load()
                if not (inspect.isclass(obj) and issubclass(obj, self.base)):
                    raise TypeError(f"entry point {entry_point.value!r} is not a {self.base.__name__} subclass")
                # The module may have registered the class itself on import; otherwise do it here.
                if self._classes.get(entry_point.name) is not obj:
                    self.register(entry_point.name)(obj)
            except Exception as err:  # noqa: BLE001 - one broken plugin must not hide the others
                failures[entry_point.name] = err
        return failures


# --------------------------------------------------------------------- verifiers
ENTRY_POINT_GROUP = "modomodo.verifiers"


class UnknownVerifierError(UnknownNameError):
    """No verifier is registered under the requested name; the message lists the valid names."""


VERIFIERS: Registry[Verifier] = Registry("verifier", Verifier, ENTRY_POINT_GROUP, unknown_error=UnknownVerifierError)
"""The verifier registry (built-ins register on ``import rewards``)."""

V = TypeVar("V", bound=type[Verifier])


def register(name: str) -> Callable[[V], V]:
    """Class decorator that registers a :class:`~rewards.base.Verifier` under ``name``.

    Args:
        name: Registry key, also used in logged keys (``reward/<name>/mean``).

    Raises:
        ValueError: If the name is malformed or already taken.
        TypeError: If the decorated object is not a Verifier subclass.
    """
    return VERIFIERS.register(name)


def get_verifier(name_or_class_path: str) -> type[Verifier]:
    """Look up a verifier class by registered name, entry-point name or class path (``my_pkg.rewards.MyVerifier``).

    Raises:
        UnknownVerifierError: If nothing matches; the message lists the valid names.
    """
    return VERIFIERS.get(name_or_class_path)


def available_verifiers() -> list[str]:
    """Sorted names of all registered verifiers, including those from installed entry points."""
    return VERIFIERS.names()


def verifier_options(cls: type[Verifier]) -> dict[str, inspect.Parameter]:
    """The keyword options a verifier class accepts (its ``__init__`` parameters)."""
    return init_options(cls)


def build_verifier(name_or_class_path: str, **options: Any) -> Verifier:
    """Instantiate a verifier, checking the option names first.

    Raises:
        UnknownVerifierError: If the verifier is unknown.
        ValueError: If an option is unknown (the message names the verifier and the option) or has an invalid value.
    """
    return VERIFIERS.build(name_or_class_path, **options)
