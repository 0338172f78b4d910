"""Name -> verifier class registry, with third-party verifiers from entry points.

Built-in verifiers register themselves with :func:`register` when :mod:`rewards` is imported.
Other installed distributions add verifiers through the entry-point group
``modomodo.verifiers`` (``name = "package.module:VerifierClass"``); those are imported lazily,
only when a lookup misses or when the names are listed, so a broken plugin cannot slow down
or break a run that does not use it. A verifier may also be named by its class path
(``package.module.VerifierClass``) without being registered at all.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from rewards.base import Verifier

ENTRY_POINT_GROUP = "modomodo.verifiers"

_REGISTRY: dict[str, type[Verifier]] = {}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")

V = TypeVar("V", bound=type[Verifier])


class UnknownVerifierError(LookupError):
    """No verifier is registered under the requested name; the message lists the known names."""


def register(name: str) -> Callable[[V], V]:
    """Class decorator that registers a :class:`~rewards.base.Verifier` under ``name``.

    Args:
        name: Registry key, also used in logged keys (``reward/<name>/mean``); letters, digits,
            ``_`` and ``-``, not starting with a digit.

    Raises:
        ValueError: If the name is malformed or already taken.
        TypeError: If the decorated object is not a Verifier subclass.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid verifier name {name!r}: use letters, digits, '_' and '-'")

    def decorator(cls: V) -> V:
        if not (inspect.isclass(cls) and issubclass(cls, Verifier)):
            raise TypeError(f"@register({name!r}) must decorate a Verifier subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None:
            raise ValueError(
                f"verifier name {name!r} is already registered to "
                f"{existing.__module__}.{existing.__qualname__}; pick another name"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load_entry_points() -> dict[str, BaseException]:
    """Import entry-point verifiers not yet registered; returns the failures by name."""
    importlib.invalidate_caches()  # a distribution may have been added to sys.path since the last scan
    failures: dict[str, BaseException] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _REGISTRY:
            continue
        try:
            obj = entry_point.load()
            if not (inspect.isclass(obj) and issubclass(obj, Verifier)):
                raise TypeError(f"entry point {entry_point.value!r} is not a Verifier subclass")
            # The module may have registered the class itself on import; otherwise do it here.
            if _REGISTRY.get(entry_point.name) is not obj:
                register(entry_point.name)(obj)
        except Exception as err:  # noqa: BLE001 - one broken plugin must not hide the others
            failures[entry_point.name] = err
    return failures


def _from_class_path(path: str) -> type[Verifier]:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownVerifierError(f"cannot import module {module_name!r} for verifier {path!r}: {err}") from err
    cls = getattr(module, attr, None)
    if cls is None:
        raise UnknownVerifierError(f"module {module_name!r} has no attribute {attr!r} (verifier {path!r})")
    if not (inspect.isclass(cls) and issubclass(cls, Verifier)):
        raise TypeError(f"{path!r} is not a rewards.base.Verifier subclass")
    return cls


def get_verifier(name_or_class_path: str) -> type[Verifier]:
    """Look up a verifier class by registered name or by class path.

    Args:
        name_or_class_path: A registered name (``"box_iou"``), an entry-point name, or a class path
            (``"my_pkg.rewards.MyVerifier"``).

    Raises:
        UnknownVerifierError: If nothing matches; the message lists the known names.
    """
    cls = _REGISTRY.get(name_or_class_path)
    if cls is not None:
        return cls
    if "." in name_or_class_path:
        return _from_class_path(name_or_class_path)
    failures = _load_entry_points()
    cls = _REGISTRY.get(name_or_class_path)
    if cls is not None:
        return cls
    if name_or_class_path in failures:
        err = failures[name_or_class_path]
        raise UnknownVerifierError(
            f"verifier {name_or_class_path!r} from entry-point group {ENTRY_POINT_GROUP!r} failed to load: {err}"
        ) from err
    raise UnknownVerifierError(
        f"unknown verifier {name_or_class_path!r}; known verifiers: {', '.join(sorted(_REGISTRY))} "
        f"(or give a class path such as 'my_pkg.module.MyVerifier')"
    )


def available_verifiers() -> list[str]:
    """Sorted names of all registered verifiers, including those from installed entry points."""
    for name, err in _load_entry_points().items():
        warnings.warn(f"verifier entry point {name!r} failed to load: {err}", RuntimeWarning, stacklevel=2)
    return sorted(_REGISTRY)


def verifier_options(cls: type[Verifier]) -> dict[str, inspect.Parameter]:
    """The keyword options a verifier class accepts (its ``__init__`` parameters)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        name: p
        for name, p in params.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def build_verifier(name_or_class_path: str, **options: Any) -> Verifier:
    """Instantiate a verifier, checking the option names first.

    Args:
        name_or_class_path: See :func:`get_verifier`.
        **options: Keyword arguments of the verifier's ``__init__``.

    Raises:
        UnknownVerifierError: If the verifier is unknown.
        ValueError: If an option is unknown (the message names the verifier and the option) or
            has an invalid value.
    """
    cls = get_verifier(name_or_class_path)
    accepted = verifier_options(cls)
    takes_any = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()
    )
    unknown = sorted(set(options) - set(accepted))
    if unknown and not takes_any:
        valid = ", ".join(sorted(accepted)) or "none"
        raise ValueError(
            f"verifier {name_or_class_path!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"valid options: {valid}"
        )
    return cls(**options)
