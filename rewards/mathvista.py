"""MathVista's answer extraction and normalisation, as lmms-eval's ``MathVistaEvaluator`` applies them.

lmms-eval first takes the response itself when it already is the answer (one of the choices, or an
``int`` / ``float`` for integer and float questions) and otherwise asks an LLM to extract it; it then
normalises the extraction (an option letter, also as ``(B)``, becomes that choice's text, any other text
the nearest choice by edit distance; integers are ``int(float(x))``, floats rounded to the question's
``precision``) and compares the strings. Without an LLM, the extraction step here is rule-based: the
option letter :func:`rewards.choice.extract_choice` finds (else the text itself, so the nearest choice
wins), or the last number for numeric questions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz.distance import Levenshtein

from rewards.base import InvalidSolutionError, Verifier
from rewards.choice import LETTERS, extract_choice
from rewards.parsing import check_answer_block, format_number, last_number, response_text
from rewards.registry import register
from rewards.relaxed import MAX_FLOAT_CHARS

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("text", "integer", "float", "list")
_PAREN_LETTER_RE = re.compile(r"\(([a-zA-Z])\)")


def _as_text(text: str, kind: type) -> str | None:
    """``str(kind(text))`` (``int`` or ``float``), or None where Python cannot read the text as one."""
    if len(text) > MAX_FLOAT_CHARS:
        return None
    try:
        return str(kind(text))
    except ValueError:
        return None


def extract_answer(response: str, question_type: str, answer_type: str, choices: Sequence[str]) -> str:
    """The answer part of a response (lmms-eval's ``extract_answer`` with the LLM step made rule-based)."""
    if not response:
        return ""
    if question_type == "multi_choice" and response in choices:
        return response
    kind = {"integer": int, "float": float}.get(answer_type)
    if kind is not None and (value := _as_text(response, kind)) is not None:
        return value
    if question_type == "multi_choice":
        letter = extract_choice(response, list(choices))
        return letter if letter is not None else response
    if answer_type in ("integer", "float"):
        number = last_number(response)
        return format_number(number.value) if number is not None else response
    return response


def normalize_extraction(
    extraction: str, choices: Sequence[str], question_type: str, answer_type: str, precision: int | None
) -> str | None:
    """lmms-eval's ``normalize_extracted_answer``: the text compared with the ground truth (None: unusable)."""
    if question_type == "multi_choice":
        extraction = extraction.strip()
        letter = _PAREN_LETTER_RE.search(extraction)
        if letter is not None:
            extraction = letter.group(1).upper()
        options = LETTERS[: len(choices)]
        if len(extraction) == 1 and extraction in options:
            return choices[options.index(extraction)]
        # The nearest choice by edit distance (the first on ties); C++, linear in the extraction's length.
        distances = [Levenshtein.distance(extraction, choice) for choice in choices]
        return choices[distances.index(min(distances))]
    if answer_type in ("integer", "float"):
        if len(extraction) > MAX_FLOAT_CHARS:
            return None
        try:
            value = float(extraction)
            return str(int(value)) if answer_type == "integer" else str(round(value, precision))
        except (ValueError, OverflowError):  # "abc", nan and inf
            return None
    return extraction


def _question(meta: Mapping[str, Any]) -> tuple[str, str, list[str], int | None]:
    question_type = meta.get("question_type")
    if question_type not in QUESTION_TYPES:
        raise InvalidSolutionError(f"meta.question_type must be one of {QUESTION_TYPES}, got {question_type!r}")
    answer_type = meta.get("answer_type")
    if answer_type not in ANSWER_TYPES:
        raise InvalidSolutionError(f"meta.answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}")
    choices = meta.get("options") or []
    if isinstance(choices, str) or not isinstance(choices, Sequence) or not all(isinstance(c, str) for c in choices):
        raise InvalidSolutionError(f"meta.options must be a list of strings, got {choices!r}"[:120])
    if question_type == "multi_choice" and not 1 <= len(choices) <= len(LETTERS):
        raise InvalidSolutionError(f"a multi_choice question needs 1 to {len(LETTERS)} meta.options, "
                                   f"got {len(choices)}")
    precision = meta.get("precision")
    if precision is not None:
        if (isinstance(precision, bool) or not isinstance(precision, (int, float)) or precision != int(precision)
                or precision < 0):
            raise InvalidSolutionError(f"meta.precision must be a whole number >= 0 or None, got {precision!r}")
        precision = int(precision)  # the hub stores it as a float (2.0); round() needs an int
    return question_type, answer_type, list(choices), precision


@register("mathvista_match")
class MathVistaMatch(Verifier):
    """1.0 if the extracted, normalised answer equals MathVista's ground truth (lmms-eval's ``safe_equal``).

    Reads the ``<answer>`` block, or the whole completion when there is none (lmms-eval's protocol asks for
    a bare answer). Meta: ``question_type`` (``multi_choice`` / ``free_form``), ``answer_type`` (``text``,
    ``integer``, ``float``, ``list``), ``precision`` (decimals of a float answer; None rounds to a whole
    number, as ``round(x, None)`` does), ``options`` (the choices, for ``multi_choice``).

    Args:
        answer_block: Read the ``<answer>`` block when there is one (the think/answer protocol); False scores
            the whole completion, as lmms-eval's protocol does.

    Ground truth: the answer as MathVista stores it (for ``multi_choice``, the text of the right choice).
    """

    def __init__(self, answer_block: bool = True) -> None:
        self.answer_block = check_answer_block("mathvista_match", answer_block)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> tuple[str, str, str, list[str], int | None]:
        """Return ``(answer, question_type, answer_type, choices, precision)`` after validation."""
        question_type, answer_type, choices, precision = _question(meta)
        if isinstance(solution, (int, float)) and not isinstance(solution, bool):
            solution = str(solution)
        if not isinstance(solution, str) or not solution.strip():
            raise InvalidSolutionError(f"solution must be a non-empty string, got {solution!r}"[:120])
        if question_type == "multi_choice" and solution not in choices:
            raise InvalidSolutionError(f"solution {solution[:40]!r} is not one of meta.options {choices}"[:160])
        return solution, question_type, answer_type, choices, precision

    def score_one(
        self, completion: str, target: tuple[str, str, str, list[str], int | None], meta: Mapping[str, Any]
    ) -> tuple[float, bool]:
        """Extract, normalise and compare as strings."""
        answer, question_type, answer_type, choices, precision = target
        response = response_text(completion, self.answer_block)
        if not response:
            return 0.0, True
        extraction = extract_answer(response, question_type, answer_type, choices)
        prediction = normalize_extraction(extraction, choices, question_type, answer_type, precision)
        if prediction is None:
            return 0.0, True
        return (1.0 if prediction.strip() == answer.strip() else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The right choice's letter for ``multi_choice`` (what lmms-eval's prompt asks for), else the answer."""
        answer, question_type, _, choices, _ = self.prepare_solution(solution, meta)
        return LETTERS[choices.index(answer)] if question_type == "multi_choice" else answer.strip()
