"""Run records: one JSON file per training run, written atomically.

A record is what the mixture optimiser learns from: the mixture a run trained on and the
scores it reached. Every run leaves exactly one file ``<run_id>.json`` in a shared directory.
Writers never leave a half-written file behind: the JSON goes to a temporary file in the
*same* directory (so the rename cannot cross filesystems), is flushed and fsynced, and is
moved into place with :func:`os.replace`, which is atomic on POSIX and Windows. Many runs
can therefore write to one directory on a shared filesystem at once; a reader sees either
the old or the new version of a record, never a torn one.

Example::

    rec = RunRecord(weights={"coco": 0.5, "sat": 0.5}, scores={"mmmu": 0.41},
                    in_score=0.6, out_score=0.41, steps=2000, seed=42)
    write_record(rec, "runs/records")
    found = read_records("runs/records")   # RecordSet(records=[...], skipped=[...])
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
#: Weights may be off by rounding (printed with 3 decimals, say); beyond this a record is malformed.
WEIGHT_SUM_TOLERANCE = 1e-2
_TMP_PREFIX = ".tmp-"


class RecordError(ValueError):
    """A run record is malformed; the message names the offending field."""


def new_run_id() -> str:
    """A unique, sortable run id: UTC timestamp plus 8 random hex digits."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finite_or_none(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"field {name!r} must be a number or null, got {type(value).__name__}")
    return float(value)  # NaN is allowed here: the data module decides per target


@dataclass
class RunRecord:
    """Outcome of one training run.

    Attributes:
        weights: mixture weights by domain name; non-negative, summing to 1.
        scores: per-benchmark score by benchmark name (higher is better unless the
            consumer says otherwise); may be empty for a failed run.
        in_score: size-weighted mean over in-domain benchmarks, or None.
        out_score: size-weighted mean over out-of-domain benchmarks, or None.
        steps: optimiser steps taken.
        seed: global seed of the run, or None if unknown.
        config: the run's configuration (free-form, JSON-serialisable).
        checkpoint: path of the run's checkpoint, or None.
        status: ``"ok"`` or ``"failed"``.
        error: the exception text for a failed run.
        stage: which evaluation stage the scores come from (``"val"`` or ``"test"``).
        run_id: unique id; also the file name.
        started_at: ISO-8601 UTC start time.
        finished_at: ISO-8601 UTC end time.
        duration_s: wall-clock seconds.
        schema_version: version of this schema.
    """

    weights: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    in_score: float | None = None
    out_score: float | None = None
    steps: int = 0
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    stage: str = "test"
    run_id: str = field(default_factory=new_run_id)
    started_at: str | None = None
    finished_at: str = field(default_factory=_now)
    duration_s: float | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks types and ranges.

        Raises:
            RecordError: naming the first offending field.
        """
        if self.status not in ("ok", "failed"):
            raise RecordError(f"field 'status' must be 'ok' or 'failed', got {self.status!r}")
        if not isinstance(self.run_id, str) or not self.run_id or "/" in self.run_id or self.run_id.startswith("."):
            raise RecordError(f"field 'run_id' must be a non-empty file-name-safe string, got {self.run_id!r}")
        if not isinstance(self.weights, dict):
            raise RecordError("field 'weights' must be a mapping of domain -> weight")
        for name, value in self.weights.items():
            w = _finite_or_none(value, f"weights.{name}")
            if w is None or not math.isfinite(w) or w < 0:
                raise RecordError(f"field 'weights.{name}' must be a finite non-negative number, got {value!r}")
        if self.status == "ok":
            if not self.weights:
                raise RecordError("field 'weights' is empty in a record with status 'ok'")
            total = sum(self.weights.values())
            if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
                raise RecordError(f"field 'weights' sums to {total:.6g}, not 1 (tolerance {WEIGHT_SUM_TOLERANCE})")
        if not isinstance(self.scores, dict):
            raise RecordError("field 'scores' must be a mapping of benchmark -> score")
        for name, value in self.scores.items():
            _finite_or_none(value, f"scores.{name}")
        self.in_score = _finite_or_none(self.in_score, "in_score")
        self.out_score = _finite_or_none(self.out_score, "out_score")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise RecordError(f"field 'steps' must be a non-negative integer, got {self.steps!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise RecordError(f"field 'seed' must be an integer or null, got {self.seed!r}")
        if not isinstance(self.config, dict):
            raise RecordError("field 'config' must be a mapping")
        if self.schema_version != SCHEMA_VERSION:
            raise RecordError(f"field 'schema_version' is {self.schema_version!r}; this code reads {SCHEMA_VERSION}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dictionary of this record."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Builds a record from parsed JSON.

        Raises:
            RecordError: unknown or missing fields, or bad values.
        """
        if not isinstance(data, dict):
            raise RecordError(f"a record must be a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise RecordError(f"unknown field(s) {unknown}")
        if "weights" not in data:
            raise RecordError("missing field 'weights'")
        try:
            return cls(**data)
        except TypeError as err:  # e.g. a dict where a number belongs, caught by validate below
            raise RecordError(str(err)) from err


def write_record(record: RunRecord, dirpath: str | os.PathLike[str]) -> Path:
    """Writes ``record`` to ``dirpath/<run_id>.json`` atomically.

    Args:
        record: the record to write (validated again here).
        dirpath: the record directory; created if missing.

    Returns:
        The path written.
    """
    record.validate()
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{record.run_id}.json"
    # allow_nan: NaN scores are legal in a record (a benchmark that produced nothing) and JSON
    # readers in Python accept them; the data module skips NaN targets with a warning.
    text = json.dumps(record.to_dict(), indent=2, sort_keys=True, allow_nan=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@dataclass
class RecordSet:
    """Records read from a directory.

    Attributes:
        records: well-formed records, sorted by run id.
        skipped: ``(path, reason)`` for every file that could not be used.
    """

    records: list[RunRecord]
    skipped: list[tuple[Path, str]]


def read_records(dirpath: str | os.PathLike[str], warn: bool = True) -> RecordSet:
    """Reads every ``*.json`` record in ``dirpath`` (not recursive).

    Malformed files are never used: each is listed in ``RecordSet.skipped`` with the reason,
    and (with ``warn``) one warning names them all with their count. Temporary files of
    writers still in progress are ignored.

    Args:
        dirpath: the record directory.
        warn: emit a ``UserWarning`` listing skipped files.

    Raises:
        FileNotFoundError: ``dirpath`` does not exist or is not a directory.
    """
    directory = Path(dirpath)
    if not directory.is_dir():
        raise FileNotFoundError(f"record directory {str(directory)!r} does not exist")
    records: list[RunRecord] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records.append(RunRecord.from_dict(data))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecordError) as err:
            skipped.append((path, f"{type(err).__name__}: {err}"))
    if warn and skipped:
        listing = "; ".join(f"{p}: {why}" for p, why in skipped)
        warnings.warn(f"skipped {len(skipped)} malformed run record(s): {listing}", stacklevel=2)
    records.sort(key=lambda r: r.run_id)
    return RecordSet(records=records, skipped=skipped)
