"""Multiple-choice accuracy: the option letter (A-H) in the answer equals the ground truth."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.parsing import answer_or_text, last_match, tail
from rewards.registry import register
from rewards.text import normalize_answer

LETTERS = "ABCDEFGH"

# The whole answer is a letter: "B", "b", "(B)", "[B]", "B.", "B:".
_LETTER_ONLY_RE = re.compile(r"[(\[]?\s{0,4}([A-Ha-h])\s{0,4}[)\]]?\s{0,4}[.:]?")
# The answer starts with a labelled option: "B. dog", "(B) dog", "B) dog", "B: dog".
_LETTER_PREFIX_RE = re.compile(r"[(\[]?([A-H])(?:[)\]]\s{0,4}[.:]?|[.:])\s")
# "Answer: B", "the answer is (B)", "option C", "Choice: D".
# Spelled-out case-insensitivity lets the engine skip to candidate first letters (a/o/c).
_ANSWER_IS_RE = re.compile(
    r"(?:[Aa][Nn][Ss][Ww][Ee][Rr]|[Oo][Pp][Tt][Ii][Oo][Nn]|[Cc][Hh][Oo][Ii][Cc][Ee])"
    r"(?:\s{1,8}is)?\s{0,8}[:\uff1a]?\s{0,8}[(\[]?([A-H])(?!\w)"
)
# A standalone capital letter among the first n options (index n - 1).
# The look-behind sits after the letter so the regex engine can skip ahead to candidate
# capitals (a pattern that starts with a look-behind is tried at every position: 6x slower).
_STANDALONE_RES = tuple(
    re.compile(rf"([A-{LETTERS[n - 1]}])(?<!\w[A-{LETTERS[n - 1]}])(?!\w)") for n in range(1, len(LETTERS) + 1)
)


def _options(meta: Mapping[str, Any]) -> list[str] | None:
    options = meta.get("options")
    if options is None:
        return None
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise InvalidSolutionError(f"meta.options must be a list of strings, got {type(options).__name__}")
    if not 1 <= len(options) <= len(LETTERS):
        raise InvalidSolutionError(f"meta.options must have 1 to {len(LETTERS)} entries, got {len(options)}")
    for i, option in enumerate(options):
        if not isinstance(option, str):
            raise InvalidSolutionError(f"meta.options[{i}] must be a string, got {type(option).__name__}")
    return list(options)


def extract_choice(answer: str, options: Sequence[str] | None) -> str | None:
    """The option letter an answer picks, or None.

    Tried in order: the whole answer is a letter; the answer starts with a labelled option;
    "answer is X" (last occurrence); the answer's text equals an option's text (exactly, then
    normalised as in ``exact_match``); the last standalone capital letter among the valid options. The last
    three look only at the last 64 KiB of the answer.

    Args:
        answer: The answer text (untrusted).
        options: The option texts, A first, or None if unknown.
    """
    match = _LETTER_ONLY_RE.fullmatch(answer)
    if match is not None:
        return match.group(1).upper()
    match = _LETTER_PREFIX_RE.match(answer)
    if match is not None:
        return match.group(1)
    answer = tail(answer)  # the searches below look for the *last* occurrence
    match = last_match(_ANSWER_IS_RE, answer, margin=64)
    if match is not None:
        return match.group(1)
    if options:
        # The option's exact text first: normalisation drops signs and punctuation, so "5" and "-5" (both
        # options of a thermometer reading) would otherwise both match "5", and the first would win.
        stripped = answer.strip()
        for letter, option in zip(LETTERS, options, strict=False):
            if option.strip() == stripped:
                return letter
        normalized = normalize_answer(answer)
        if normalized:
            for letter, option in zip(LETTERS, options, strict=False):
                if normalize_answer(option) == normalized:
                    return letter
    match = last_match(_STANDALONE_RES[len(options) - 1 if options else -1], answer, margin=8)
    return match.group(1) if match is not None else None


@register("choice_accuracy")
class ChoiceAccuracy(Verifier):
    """1.0 if the chosen option letter equals the ground-truth letter.

    Reads the ``<answer>`` block, or - as the paper does - the whole completion when there is
    none (so the last standalone letter of the reasoning counts). ``meta["options"]`` (the
    option texts, A first) enables matching by option text and limits letters to the options.

    Ground truth: a letter A-H (``"B"``, ``"(B)"`` and ``"b."`` are accepted), among the options
    when they are given.
    """

    def __init__(self) -> None:
        pass

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """Return the ground-truth letter in upper case; raises if it is not a valid option letter."""
        options = _options(meta)
        if not isinstance(solution, str):
            raise InvalidSolutionError(f"solution must be an option letter string, got {type(solution).__name__}")
        match = _LETTER_ONLY_RE.fullmatch(solution.strip())
        if match is None:
            raise InvalidSolutionError(f"solution must be an option letter A-H, got {solution[:40]!r}")
        letter = match.group(1).upper()
        if options is not None and LETTERS.index(letter) >= len(options):
            raise InvalidSolutionError(
                f"solution {letter!r} is not among the {len(options)} options in meta.options"
            )
        return letter

    def score_one(self, completion: str, target: str, meta: Mapping[str, Any]) -> tuple[float, bool]:
        """Compare the extracted letter with the target letter."""
        answer = answer_or_text(completion, fallback_to_text=True)
        letter = extract_choice(answer, meta.get("options")) if answer else None
        if letter is None:
            return 0.0, True
        return (1.0 if letter == target else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The bare ground-truth letter."""
        return self.prepare_solution(solution, meta)

