"""Exact match of short natural-language answers, after normalisation (see :mod:`rewards.text`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.parsing import ANSWER_CLOSE, ANSWER_OPEN, MAX_SCAN_CHARS, answer_or_text, unwrap_latex
from rewards.registry import register
from rewards.text import MAX_ANSWER_TOKENS, normalize_answer


@register("exact_match")
class ExactMatch(Verifier):
    """1.0 if the normalised answer equals the normalised ground truth.

    Normalisation ignores case, punctuation and articles (an answer that is only an article, such as the
    option letter "A", is kept), writes number words as digits ("three" == "3") and maps one-word yes/no
    synonyms ("True" == "yes"); LaTeX wrapping is removed first (``\\boxed{5}`` == ``$5$`` == "5",
    ``\\text{left}`` == "left"). Reads the ``<answer>`` block, or the whole completion when there is none
    (as the paper's reference code does). Answers longer than 64 KiB never match.

    Ground truth: a non-empty string (or an int) with at most 256 words and no answer tags.
    """

    def __init__(self) -> None:
        pass

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> tuple[str, ...]:
        """Return the normalised ground-truth tokens."""
        if isinstance(solution, int) and not isinstance(solution, bool):
            solution = str(solution)
        if not isinstance(solution, str):
            raise InvalidSolutionError(f"solution must be a string, got {type(solution).__name__}")
        if ANSWER_OPEN in solution or ANSWER_CLOSE in solution:
            raise InvalidSolutionError("solution must not contain <answer> tags")
        tokens = normalize_answer(unwrap_latex(solution))
        if tokens is None:
            raise InvalidSolutionError(f"solution has more than {MAX_ANSWER_TOKENS} words")
        if not tokens:
            raise InvalidSolutionError(f"solution {solution[:40]!r} is empty after normalisation")
        return tokens

    def score_one(self, completion: str, target: tuple[str, ...], meta: Mapping[str, Any]) -> tuple[float, bool]:
        """Compare normalised token tuples."""
        answer = answer_or_text(completion, fallback_to_text=True)
        if answer is not None and len(answer) > MAX_SCAN_CHARS:
            return 0.0, False  # far longer than any short answer; not worth normalising
        tokens = normalize_answer(unwrap_latex(answer)) if answer else None
        if not tokens:
            return 0.0, True
        return (1.0 if tokens == target else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground truth as given (stripped)."""
        self.prepare_solution(solution, meta)
        return str(solution).strip()
