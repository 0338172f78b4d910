"""Numeric answers compared as numbers, within a tolerance."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.parsing import Number, answer_or_text, format_number, last_number, parse_number
from rewards.registry import register


def _check_tolerance(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= value < math.inf):
        raise ValueError(f"numeric_match: option {name!r} must be a finite number >= 0, got {value!r}")
    return float(value)


@register("numeric_match")
class NumericMatch(Verifier):
    """1.0 if the last number in the answer equals the ground truth within tolerance.

    Understands integers, decimals, scientific notation, ``a/b``, thousands separators
    (``1,234``), percentages (``50%`` matches 50 or 0.5) and simple LaTeX (``\\frac{a}{b}``,
    ``\\dfrac``, ``\\sqrt{n}``). Reads the ``<answer>`` block, or the whole completion when there
    is none.

    Args:
        rel_tol: Relative tolerance (``math.isclose``).
        abs_tol: Absolute tolerance (``math.isclose``).

    Ground truth: a finite int/float, or a string that is exactly one number in the forms above.
    """

    def __init__(self, rel_tol: float = 1e-4, abs_tol: float = 0.0) -> None:
        self.rel_tol = _check_tolerance("rel_tol", rel_tol)
        self.abs_tol = _check_tolerance("abs_tol", abs_tol)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> Number:
        """Parse the ground truth into a :class:`~rewards.parsing.Number`."""
        if isinstance(solution, bool):
            raise InvalidSolutionError("solution must be a number, got a bool")
        if isinstance(solution, (int, float)):
            if not math.isfinite(solution):
                raise InvalidSolutionError(f"solution must be finite, got {solution!r}")
            return Number(float(solution))
        if not isinstance(solution, str):
            raise InvalidSolutionError(f"solution must be a number or numeric string, got {type(solution).__name__}")
        number = parse_number(solution)
        if number is None:
            raise InvalidSolutionError(f"solution {solution[:40]!r} is not a (finite) number")
        return number

    def score_one(self, completion: str, target: Number, meta: Mapping[str, Any]) -> tuple[float, bool]:
        """Compare every reading of the predicted number with every reading of the target."""
        answer = answer_or_text(completion, fallback_to_text=True)
        predicted = last_number(answer) if answer else None
        if predicted is None:
            return 0.0, True
        # "50%" may stand for 50 or 0.5 when the other side is a plain number; two percentages compare as written
        # (otherwise "0.5%" would meet "50%" through 0.5).
        pairs = ([(predicted.value, target.value)] if predicted.percent and target.percent
                 else [(p, t) for p in predicted.candidates() for t in target.candidates()])
        match = any(math.isclose(p, t, rel_tol=self.rel_tol, abs_tol=self.abs_tol) for p, t in pairs)
        return (1.0 if match else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground-truth value as a plain decimal (``"3/4"`` -> ``"0.75"``, ``"50%"`` -> ``"50%"``)."""
        number = self.prepare_solution(solution, meta)
        return format_number(number.value) + ("%" if number.percent else "")
