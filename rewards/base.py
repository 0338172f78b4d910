"""The verifier interface: a batch of completions in, per-sample scores in [0, 1] out.

A verifier scores untrusted model text against trusted ground truth. The split of work is:

* :meth:`Verifier.prepare_solution` turns one ground truth (and its meta) into whatever the
  verifier compares against, raising :class:`InvalidSolutionError` on bad data. It runs on
  trusted data, so its errors propagate: a broken dataset must stop the run.
* :meth:`Verifier.score_one` parses one completion and compares it with the prepared ground
  truth. It runs on untrusted text; :meth:`Verifier.score` still guards it, so one
  unforeseen completion cannot crash a training run (it scores 0 and emits a
  :class:`VerifierCrashWarning`, which the test-suite turns into an error).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class InvalidSolutionError(ValueError):
    """A ground-truth solution (or its meta) is malformed; the message names the field."""


class VerifierCrashWarning(RuntimeWarning):
    """A verifier raised on a completion; the sample was scored 0 instead of crashing the run."""


@dataclass(frozen=True)
class VerifierResult:
    """Scores of one verifier on a batch of ``n`` completions.

    Args:
        name: Registered name of the verifier, used in the logged keys.
        scores: ``n`` scores, each a finite float in [0, 1].
        parse_failed: ``n`` flags; True where no answer could be extracted from the completion
            (for a format verifier: where the completion does not have the required format).
    """

    name: str
    scores: list[float]
    parse_failed: list[bool]

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.parse_failed):
            raise ValueError(
                f"VerifierResult {self.name!r}: {len(self.scores)} scores but "
                f"{len(self.parse_failed)} parse_failed flags"
            )
        for i, value in enumerate(self.scores):
            if not (0.0 <= value <= 1.0):  # also False for NaN
                raise ValueError(f"VerifierResult {self.name!r}: score {value!r} at index {i} is not in [0, 1]")

    @property
    def mean(self) -> float:
        """Mean score over the batch (0.0 for an empty batch, so logs stay finite)."""
        return math.fsum(self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def parse_fail_rate(self) -> float:
        """Fraction of the batch whose answer could not be extracted (0.0 for an empty batch)."""
        return sum(self.parse_failed) / len(self.parse_failed) if self.parse_failed else 0.0

    def to_log_dict(self, prefix: str = "reward") -> dict[str, float]:
        """Entries for ``LightningModule.log_dict``.

        Args:
            prefix: First component of every key.

        Returns:
            ``{"<prefix>/<name>/mean": ..., "<prefix>/<name>/parse_fail": ...}``.
        """
        return {
            f"{prefix}/{self.name}/mean": self.mean,
            f"{prefix}/{self.name}/parse_fail": self.parse_fail_rate,
        }


def as_text(completion: object) -> str:
    """Return a completion as ``str``; bytes are decoded leniently, other types are a caller bug."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (bytes, bytearray)):
        return bytes(completion).decode("utf-8", errors="replace")
    raise TypeError(f"completions must be str, got {type(completion).__name__}")


class Verifier(ABC):
    """Scores completions of one kind of answer (a letter, a number, a box, ...).

    Subclasses are registered with :func:`rewards.registry.register`, which sets :attr:`name`.
    Options are keyword arguments of ``__init__`` and are validated there.
    """

    name: ClassVar[str] = ""
    is_format: ClassVar[bool] = False

    @property
    def display_name(self) -> str:
        """The registered name, or the class name for an unregistered (class-path) verifier."""
        return self.name or type(self).__name__

    @abstractmethod
    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> Any:
        """Check one ground truth and convert it to the form :meth:`score_one` compares against.

        Raises:
            InvalidSolutionError: If the solution or a meta field it needs is malformed.
        """

    @abstractmethod
    def score_one(self, completion: str, target: Any, meta: Mapping[str, Any]) -> tuple[float, bool]:
        """Score one completion against a prepared ground truth.

        Returns:
            ``(score, parse_failed)`` with the score in [0, 1].
        """

    @abstractmethod
    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ``<answer>`` content that scores 1.0 for this solution."""

    def validate_solution(self, solution: Any, meta: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidSolutionError` naming the offending field if the ground truth is bad."""
        if not isinstance(meta, Mapping):
            raise InvalidSolutionError(f"meta must be a mapping, got {type(meta).__name__}")
        self.prepare_solution(solution, meta)

    def score(
        self, completions: Sequence[str], solutions: Sequence[Any], metas: Sequence[Mapping[str, Any]]
    ) -> VerifierResult:
        """Score a batch of ``n`` completions.

        Args:
            completions: ``n`` model outputs (untrusted text).
            solutions: ``n`` ground truths.
            metas: ``n`` meta mappings (see docs/CONTRACTS.md for the keys).

        Returns:
            A :class:`VerifierResult` with ``n`` scores in [0, 1].

        Raises:
            ValueError: If the three sequences differ in length.
            InvalidSolutionError: If a ground truth is malformed (never because of the completion).
        """
        if not (len(completions) == len(solutions) == len(metas)):
            raise ValueError(
                f"{self.display_name}: got {len(completions)} completions, {len(solutions)} solutions "
                f"and {len(metas)} metas; they must be equal"
            )
        scores: list[float] = []
        failed: list[bool] = []
        # GRPO scores G completions per prompt against the same solution object: prepare it once.
        # Keys are ids of objects the argument lists keep alive for the whole call.
        prepared: dict[tuple[int, int], Any] = {}
        for completion, solution, meta in zip(completions, solutions, metas, strict=False):
            key = (id(solution), id(meta))
            if key in prepared:
                target = prepared[key]
            else:
                target = prepared[key] = self.prepare_solution(solution, meta)
            text = as_text(completion)
            try:
                value, parse_failed = self.score_one(text, target, meta)
            except Exception as err:  # noqa: BLE001 - untrusted text must not end a training run
                warnings.warn(
                    f"verifier {self.display_name!r} raised {type(err).__name__}: {err}; scored 0",
                    VerifierCrashWarning,
                    stacklevel=2,
                )
                value, parse_failed = 0.0, True
            value = float(value)
            # NaN compares False with everything, so it falls to 0.0 here.
            scores.append(value if 0.0 <= value <= 1.0 else (1.0 if value > 1.0 else 0.0))
            failed.append(bool(parse_failed))
        return VerifierResult(self.display_name, scores, failed)
