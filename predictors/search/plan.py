"""What a search runs: mixtures on the simplex, stable run ids, stage plans on disk, ``main.py`` commands.

A run is identified by the mixture rounded to ``decimals`` and its repeat index, so the same
mixture planned twice (say, after a restart) gets the same id and its record is found again.
Each stage's plan is written to ``search_dir/plan/<stage>.json`` before any of its runs start;
a resumed search reads the plan instead of proposing again, so a stochastic proposer can never
make a restart run different mixtures.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

RunKind = Literal["fit", "validate"]
#: Largest tolerated deviation of a proposal's weight sum from 1 (beyond: not on the simplex).
SIMPLEX_TOLERANCE = 1e-3


class SimplexError(ValueError):
    """A mixture is not on the simplex over the search's domains."""


@dataclass
class PlannedRun:
    """One run of the search.

    Attributes:
        run_id: stable id, also the record's file name.
        weights: the rounded mixture, by domain name.
        repeat: repeat index (its seed is ``run_seed + repeat``).
        stage: the stage that planned it (``seeds``, ``heuristics``, ``round_1``, ..., ``base``).
        origin: what proposed it (``single``, ``uniform``, ``alpha_credit``, ``bayes_opt``, ...).
        kind: ``fit`` (train then evaluate) or ``validate`` (evaluate the base model only).
        command: the full command line.
        record_dir: where the run's record goes.
        log_path: the run's stdout and stderr.
    """

    run_id: str
    weights: dict[str, float]
    repeat: int
    stage: str
    origin: str
    kind: RunKind = "fit"
    command: list[str] = field(default_factory=list)
    record_dir: str = ""
    log_path: str = ""


def check_simplex(weights: Mapping[str, float], domains: Sequence[str], what: str = "mixture") -> dict[str, float]:
    """Checks that ``weights`` is a point of the simplex over ``domains``.

    Returns:
        The weights as floats in ``domains`` order.

    Raises:
        SimplexError: unknown or missing domains, a negative or non-finite weight, or a sum that is
            not 1 (within :data:`SIMPLEX_TOLERANCE`); the message shows the mixture.
    """
    unknown = sorted(set(weights) - set(domains))
    missing = [d for d in domains if d not in weights]
    if unknown or missing:
        raise SimplexError(
            f"{what} {dict(weights)} does not match the domains {list(domains)} "
            f"(unknown: {unknown}, missing: {missing})"
        )
    values = {d: float(weights[d]) for d in domains}
    bad = {d: v for d, v in values.items() if not math.isfinite(v) or v < 0}
    if bad:
        raise SimplexError(f"{what} {values} is outside the simplex: negative or non-finite weight(s) {bad}")
    total = sum(values.values())
    if abs(total - 1.0) > SIMPLEX_TOLERANCE:
        raise SimplexError(f"{what} {values} is outside the simplex: weights sum to {total:.6g}, not 1")
    return values


def round_mixture(weights: Mapping[str, float], domains: Sequence[str], decimals: int) -> dict[str, float]:
    """Rounds a simplex point to ``decimals`` keeping the sum at 1 (largest-remainder rounding)."""
    scale = 10**decimals
    raw = [float(weights[d]) / sum(float(weights[k]) for k in domains) * scale for d in domains]
    units = [math.floor(v) for v in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - units[i], reverse=True)
    for i in order[: scale - sum(units)]:
        units[i] += 1
    return {d: u / scale for d, u in zip(domains, units, strict=False)}


def make_run_id(weights: Mapping[str, float], domains: Sequence[str], repeat: int, decimals: int) -> str:
    """``m-<10 hex digits of the rounded mixture>-r<repeat>``; equal mixtures give equal ids."""
    key = ",".join(f"{d}={weights[d]:.{decimals}f}" for d in sorted(domains))
    return f"m-{hashlib.sha1(key.encode()).hexdigest()[:10]}-r{repeat}"


def domains_from_config(path: str | os.PathLike[str]) -> list[str]:
    """The training domains (role ``train``) of a ``main.py`` config, in config order.

    Raises:
        ValueError: the config has no ``data.init_args.domains`` list (name the domains in the search config).
    """
    config = _load_yaml(Path(path))
    data = config.get("data")
    if isinstance(data, str):  # a nested config file, relative to the parent config
        data = _load_yaml(Path(path).parent / data)
    domains = ((data or {}).get("init_args") or data or {}).get("domains")
    if not isinstance(domains, list) or not domains:
        raise ValueError(f"{path}: no data.init_args.domains list; set `domains` in the search config")
    names = [d["name"] for d in domains if isinstance(d, dict) and d.get("role", "train") == "train" and "name" in d]
    if not names:
        raise ValueError(f"{path}: data.init_args.domains has no training domain (role: train)")
    return names


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"config {str(path)!r} does not exist")
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"config {str(path)!r} is not a YAML mapping")
    return loaded


def base_callbacks(path: str | os.PathLike[str]) -> list[Any] | None:
    """The ``trainer.callbacks`` list of a config, or None if the config does not list it."""
    trainer = _load_yaml(Path(path)).get("trainer") or {}
    callbacks = trainer.get("callbacks") if isinstance(trainer, dict) else None
    return list(callbacks) if isinstance(callbacks, list) else None


def base_logger(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``trainer.logger`` mapping (class_path + init_args) of a config, or None."""
    trainer = _load_yaml(Path(path)).get("trainer") or {}
    logger = trainer.get("logger") if isinstance(trainer, dict) else None
    return logger if isinstance(logger, dict) and "class_path" in logger else None


class StagePlans:
    """The plan of every stage, one JSON file each under ``plan_dir`` (written atomically)."""

    def __init__(self, plan_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(plan_dir)

    def path(self, stage: str) -> Path:
        """The plan file of ``stage``."""
        return self.dir / f"{stage}.json"

    def load(self, stage: str) -> list[PlannedRun] | None:
        """The stored plan of ``stage``, or None if it was never planned."""
        path = self.path(stage)
        if not path.is_file():
            return None
        return [PlannedRun(**row) for row in json.loads(path.read_text(encoding="utf-8"))]

    def save(self, stage: str, runs: Iterable[PlannedRun]) -> None:
        """Stores the plan of ``stage``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps([asdict(r) for r in runs], indent=2)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path(stage))

    def all_runs(self) -> list[PlannedRun]:
        """Every planned run of every stage."""
        runs: list[PlannedRun] = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            if not path.name.startswith("."):
                runs.extend(self.load(path.stem) or [])
        return runs
