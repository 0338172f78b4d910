"""Symbolic equivalence with math-verify (``\\frac{1}{2}`` == ``0.5`` == ``\\boxed{1/2}``), bounded in size and time."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.math_sandbox import MAX_MATH_CHARS, shared_sandbox
from rewards.parsing import ANSWER_CLOSE, ANSWER_OPEN, answer_or_text, tail
from rewards.registry import register


def check_timeout(verifier: str, value: Any) -> float:
    """A positive, finite per-answer deadline in seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < math.inf:
        raise ValueError(f"{verifier}: option 'timeout_s' must be a positive number of seconds, got {value!r}")
    return float(value)


def math_text(solution: Any) -> str:
    """A ground truth as text for math-verify (numbers as written by ``str``)."""
    if isinstance(solution, (int, float)) and not isinstance(solution, bool):
        solution = str(solution)
    if not isinstance(solution, str) or not solution.strip():
        raise InvalidSolutionError(f"solution must be a non-empty string or number, got {solution!r}"[:120])
    if ANSWER_OPEN in solution or ANSWER_CLOSE in solution:
        raise InvalidSolutionError("solution must not contain <answer> tags")
    if len(solution) > MAX_MATH_CHARS:
        raise InvalidSolutionError(f"solution is longer than {MAX_MATH_CHARS} characters")
    return solution.strip()


@register("math_verify")
class MathVerify(Verifier):
    """1.0 if math-verify finds the answer equivalent to the ground truth (``verify(parse(gold), parse(answer))``).

    Reads the ``<answer>`` block, or the last :data:`~rewards.math_sandbox.MAX_MATH_CHARS` characters of the
    completion when there is none; a longer answer block scores 0. Parsing runs in a child process that is
    killed past ``timeout_s`` (the answer then scores 0), so no completion can stall a step for longer.

    Args:
        timeout_s: Deadline for one answer, in seconds.

    Ground truth: a number, or text math-verify can parse (``"42"``, ``"\\\\frac{3}{4}"``, ``"$x^2+1$"``).
    """

    def __init__(self, timeout_s: float = 1.0) -> None:
        self.timeout_s = check_timeout("math_verify", timeout_s)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground truth as text."""
        return math_text(solution)

    def validate_solution(self, solution: Any, meta: Mapping[str, Any]) -> None:
        """Also check that math-verify can read the ground truth (it must equal itself)."""
        super().validate_solution(solution, meta)
        gold = math_text(solution)
        verdict = shared_sandbox().equivalent(gold, gold, timeout_s=max(self.timeout_s, 10.0))
        if verdict != "1":
            raise InvalidSolutionError(f"math-verify cannot read solution {gold[:40]!r} (verdict {verdict!r})")

    def score_one(self, completion: str, target: str, meta: Mapping[str, Any]) -> tuple[float, bool]:
        """math-verify's verdict; a timeout, or an answer without a readable expression, scores 0."""
        answer = answer_or_text(completion, fallback_to_text=False)
        if answer is None:
            answer = tail(completion.strip(), MAX_MATH_CHARS)
        if not answer:
            return 0.0, True
        verdict = shared_sandbox().equivalent(target, answer, timeout_s=self.timeout_s)
        return (1.0 if verdict == "1" else 0.0), verdict not in ("1", "0")

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground truth as given."""
        return math_text(solution)
