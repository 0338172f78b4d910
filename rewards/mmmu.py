"""MMMU's rule-based answer parsing and matching, as lmms-eval's ``mmmu_process_results`` applies them.

Multiple-choice responses go through ``parse_multi_choice_response`` (a bracketed letter ``(B)``, then a
letter followed by a space, then ``B.``, then - in responses of more than five words - an option's text;
the last occurrence wins among several), open responses through ``parse_open_response`` (the tail after
the last "so", "is", "therefore", "answer", ... of each sentence, plus every number in it, lower-cased and
numbers rounded to 2 decimals) and ``eval_open`` (a normalised ground truth contained in a parsed string, or
equal to a parsed number). Where no option can be found the reference picks one at random; here that
case scores the expected value of the pick, 1 / (number of options), or 0 with ``random_guess: false``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.choice import LETTERS
from rewards.parsing import check_answer_block, response_text, tail
from rewards.registry import register
from rewards.relaxed import MAX_FLOAT_CHARS

MAX_OPEN_CHARS = 4096
"""Open responses are parsed from their last 4 KiB: the parser splits sentences and lists every number, so
its cost grows with the text, and an answer of that length is not a short answer anyway."""

_COMMA_NUMBER_RE = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC_RE = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE_NUMBER_RE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")
_SENTENCE_RE = re.compile(r"\.\s(?=[A-Z])|\n")
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
_WORD_RE = re.compile(r"\S+")


def _more_than_five_words(text: str) -> bool:
    count = 0
    for _ in _WORD_RE.finditer(text):
        count += 1
        if count > 5:
            return True
    return False


def parse_multi_choice(response: str, options: Sequence[str]) -> str | None:
    """The option letter MMMU's ``parse_multi_choice_response`` picks, or None where it would guess."""
    for char in ",.!?;:'":
        response = response.strip(char)
    response = f" {response} "  # so a letter at either end has a space beside it
    letters = LETTERS[: len(options)]
    in_brackets = [c for c in letters if f"({c})" in response]
    candidates = (in_brackets or [c for c in letters if f"{c} " in response]
                  or [c for c in letters if f"{c}." in response])
    by_text = False
    if not candidates and _more_than_five_words(response):
        lowered = response.lower()
        candidates = [c for c, option in zip(letters, options, strict=False) if option.lower() in lowered]
        by_text = True
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if by_text:
        lowered = response.lower()
        positions = [lowered.rfind(options[letters.index(c)].lower()) for c in candidates]
    elif in_brackets:
        positions = [response.rfind(f"({c})") for c in candidates]
    else:
        positions = [response.rfind(f" {c} ") for c in candidates]
    return candidates[positions.index(max(positions))]  # the last one written (the first on ties)


def _is_number(text: str) -> bool:
    if len(text) > MAX_FLOAT_CHARS:
        return False
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_open(text: str) -> list[str | float]:
    """MMMU's ``normalize_str``: a number rounded to 2 decimals, else lower-case text (a single character padded)."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def _numbers(text: str) -> list[str]:
    return _COMMA_NUMBER_RE.findall(text) + _SCIENTIFIC_RE.findall(text) + _SIMPLE_NUMBER_RE.findall(text)


def parse_open(response: str) -> list[str | float]:
    """MMMU's ``parse_open_response``: the candidate answers of an open response."""
    response = response.strip().strip(".").lower()
    sentences = _SENTENCE_RE.split(response)
    keys = []
    for index, sentence in enumerate(sentences):
        indicators = _KEY_INDICATORS + (("=",) if index == len(sentences) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in sentence:
                candidate = sentence.split(indicator)[-1].strip()
                if shortest is None or len(candidate) < len(shortest):
                    shortest = candidate
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    if not keys:
        keys = [response]
    predictions: list[str | float] = []
    for text in keys + [n for key in keys for n in _numbers(key)]:
        predictions.extend(normalize_open(text))
    return list(dict.fromkeys(predictions))


def eval_open(answer: str, predictions: list[str | float]) -> bool:
    """MMMU's ``eval_open``: a normalised answer inside a predicted string, or equal to a predicted number."""
    expected = normalize_open(answer)
    for prediction in predictions:
        if isinstance(prediction, str):
            if any(isinstance(e, str) and e in prediction for e in expected):
                return True
        elif prediction in expected:
            return True
    return False


@register("mmmu_match")
class MMMUMatch(Verifier):
    """MMMU accuracy: the parsed option letter equals the answer letter, or the open answer is found.

    Reads the ``<answer>`` block, or the whole completion when there is none (lmms-eval's protocol asks for a
    bare answer). Meta: ``options`` (the option texts, A first) and ``question_type`` (``multiple-choice`` or
    ``open``; without it, a question with options is multiple choice).

    Args:
        random_guess: Where no option can be parsed, score 1 / (number of options), the expected score of
            the reference's random pick; False scores 0.
        answer_block: Read the ``<answer>`` block when there is one (the think/answer protocol); False scores
            the whole completion, as lmms-eval's protocol does.

    Ground truth: an option letter for multiple choice (among the options), else the answer text.
    """

    def __init__(self, random_guess: bool = True, answer_block: bool = True) -> None:
        self.answer_block = check_answer_block("mmmu_match", answer_block)
        if not isinstance(random_guess, bool):
            raise ValueError(f"mmmu_match: option 'random_guess' must be a bool, got {random_guess!r}")
        self.random_guess = random_guess

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> tuple[str, list[str] | None]:
        """Return ``(answer, options)``; ``options`` is None for an open question."""
        options = meta.get("options") or None
        if options is not None and (
            isinstance(options, str) or not isinstance(options, Sequence)
            or not all(isinstance(o, str) for o in options)
        ):
            raise InvalidSolutionError(f"meta.options must be a list of strings, got {options!r}"[:120])
        question_type = meta.get("question_type", "multiple-choice" if options else "open")
        if question_type not in ("multiple-choice", "open"):
            raise InvalidSolutionError(f"meta.question_type must be 'multiple-choice' or 'open', got {question_type!r}")
        if isinstance(solution, (int, float)) and not isinstance(solution, bool):
            solution = str(solution)
        if not isinstance(solution, str) or not solution.strip():
            raise InvalidSolutionError(f"solution must be a non-empty string, got {solution!r}"[:120])
        if question_type == "open":
            return solution, None
        if not options or len(options) > len(LETTERS):
            raise InvalidSolutionError(f"a multiple-choice question needs 1 to {len(LETTERS)} meta.options")
        if solution not in LETTERS[: len(options)]:
            raise InvalidSolutionError(f"solution {solution[:40]!r} is not an option letter among "
                                       f"{len(options)} options")
        return solution, list(options)

    def score_one(
        self, completion: str, target: tuple[str, list[str] | None], meta: Mapping[str, Any]
    ) -> tuple[float, bool]:
        """Parse the response the way MMMU's evaluation does and compare."""
        answer, options = target
        response = response_text(completion, self.answer_block)
        if not response:
            return (1.0 / len(options) if options and self.random_guess else 0.0), True
        if options is None:
            predictions = parse_open(tail(response, MAX_OPEN_CHARS))
            return (1.0 if eval_open(answer, predictions) else 0.0), False
        letter = parse_multi_choice(tail(response), options)
        if letter is None:
            return (1.0 / len(options) if self.random_guess else 0.0), True
        return (1.0 if letter == answer else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The answer as stored (the letter for multiple choice)."""
        return self.prepare_solution(solution, meta)[0].strip()
