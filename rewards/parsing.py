"""Shared, linear-time helpers for pulling answers out of untrusted completions.

Every regular expression here has bounded repetition or starts at a fixed delimiter, so a
search costs O(length of the text); nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewards.base import InvalidSolutionError

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"


def extract_answer(text: str) -> str | None:
    """Content of the last complete ``<answer>...</answer>`` block, stripped.

    The block is the last ``<answer>`` that is followed somewhere by ``</answer>``, and it ends
    at the first ``</answer>`` after it. The *last* block is used because models often quote
    the tag while thinking ("I will put the letter in <answer></answer>") before the real
    answer; ending at the *first* closing tag keeps nested tags (``<answer>x<answer>y</answer>
    </answer>``) from leaking a tag into the answer (that example gives ``"y"``).

    Args:
        text: A completion.

    Returns:
        The stripped content, or None if the text has no complete answer block.
    """
    close = text.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, close)
    if start < 0:
        return None
    start += len(ANSWER_OPEN)
    return text[start : text.find(ANSWER_CLOSE, start)].strip()


MAX_SCAN_CHARS = 1 << 16
"""Verifiers read at most this many characters of an answer: the first 64 KiB when they look
for the first box(es), the last 64 KiB when they look for the last number or letter. Real
answers are far shorter; the cap keeps a 1 MB completion to a few milliseconds."""


def head(text: str, limit: int = MAX_SCAN_CHARS) -> str:
    """The first ``limit`` (:data:`MAX_SCAN_CHARS`) characters of ``text``."""
    return text[:limit]


def tail(text: str, limit: int = MAX_SCAN_CHARS) -> str:
    """The last ``limit`` (:data:`MAX_SCAN_CHARS`) characters of ``text``."""
    return text[-limit:]


def ground_truth_texts(solution: Any, max_chars: int = 4096) -> list[str]:
    """A ground truth given as one answer or a list of accepted answers, as stripped strings.

    Numbers become their text. Raises the verifier's ``InvalidSolutionError`` (naming the index) for an
    empty list, an empty or non-text answer, an answer with ``<answer>`` tags or one longer than ``max_chars``.
    """
    values = solution if isinstance(solution, Sequence) and not isinstance(solution, str) else [solution]
    if not values:
        raise InvalidSolutionError("solution holds no answer")
    texts = []
    for i, value in enumerate(values):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise InvalidSolutionError(f"solution[{i}] must be a non-empty string, got {value!r}"[:120])
        if ANSWER_OPEN in value or ANSWER_CLOSE in value:
            raise InvalidSolutionError(f"solution[{i}] must not contain <answer> tags")
        if len(value) > max_chars:
            raise InvalidSolutionError(f"solution[{i}] is longer than {max_chars} characters")
        texts.append(value.strip())
    return texts


def check_answer_block(verifier: str, value: object) -> bool:
    """Validate a verifier's ``answer_block`` option."""
    if not isinstance(value, bool):
        raise ValueError(f"{verifier}: option 'answer_block' must be a bool, got {value!r}")
    return value


def response_text(completion: str, answer_block: bool) -> str:
    """What a benchmark metric reads: the ``<answer>`` content (or the whole text without a block) when
    ``answer_block`` is on - the think/answer protocol - else the whole completion, as lmms-eval scores it."""
    if answer_block:
        return answer_or_text(completion, fallback_to_text=True) or ""
    return completion.strip()


def answer_or_text(text: str, fallback_to_text: bool) -> str | None:
    """:func:`extract_answer`, or the whole stripped text when there is no block and fallback is on."""
    answer = extract_answer(text)
    if answer is None and fallback_to_text:
        return text.strip()
    return answer


def last_match(
    pattern: re.Pattern[str],
    text: str,
    window: int = 4096,
    margin: int = 256,
) -> re.Match[str] | None:
    """The match of ``pattern`` that starts last in ``text``, found by scanning windows backwards.

    ``pattern.finditer`` over a whole 1 MB text with hundreds of thousands of matches costs far
    more than the answer is worth; searching ``window``-sized chunks from the end stops at the
    first chunk that has a match. Each search may read ``margin`` characters past its chunk so
    look-aheads and matches that straddle the chunk end see their context; ``margin`` must
    exceed the longest match the caller accepts.

    Args:
        pattern: Compiled pattern; matches should be short (a letter, a number).
        text: Text to search.
        window: Chunk length.
        margin: Extra characters each search may read past its chunk.

    Returns:
        The last-starting match, or None.
    """
    end = len(text)
    while end > 0:
        start = max(0, end - window)
        found = None
        for match in pattern.finditer(text, start, min(len(text), end + margin)):
            if match.start() >= end:
                break
            found = match
        if found is not None:
            return found
        end = start
    return None


# --- LaTeX wrappers --------------------------------------------------------------------------

_BOXED = "\\boxed{"
_TEXT_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\s{0,4}\{(.*)\}", re.DOTALL)
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def _boxed_content(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces balance, or None."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, begin = 1, start + len(_BOXED)
    for i in range(begin, len(text)):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i]
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def unwrap_latex(text: str) -> str:
    """A short answer without its LaTeX wrapping: ``\\boxed{5}`` -> ``5``, ``$\\text{left}$`` -> ``left``.

    The content of the last balanced ``\\boxed{...}`` if there is one; then, repeatedly (three times at
    most), math delimiters around the whole answer (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``)
    and a ``\\text{...}`` / ``\\mathrm{...}`` around all of it are removed. Linear in the text's length.
    """
    text = text.strip()
    boxed = _boxed_content(text)
    if boxed is not None:
        text = boxed.strip()
    for _ in range(3):
        before = text
        for opening, closing in _MATH_DELIMITERS:
            if len(text) >= len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
                text = text[len(opening) : len(text) - len(closing)].strip()
                break
        match = _TEXT_WRAPPER_RE.fullmatch(text)
        if match is not None and _balanced(match.group(1)):  # not "\\text{a} and \\text{b}"
            text = match.group(1).strip()
        if text == before:
            break
    return text


# --- numbers -------------------------------------------------------------------------------

_EXP = r"(?:[eE][-+]?[0-9]{1,4})?"
_DEC = rf"(?:[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]*)?{_EXP}|(?<!\.)\.[0-9]+{_EXP})"
# A number: an optional sign, then LaTeX \frac / \sqrt of plain numbers, or a decimal with an
# optional "/ denominator" and an optional percent sign. The look-behinds keep a scan that
# starts inside "12345" or "1.5" from reading "345" or "5"; an ellipsis ("...5") is not a decimal point, and
# a leading-dot decimal (".5") is not one after another dot. The sign may be typographic (U+2212, or its small
# and full-width forms).
MINUS_SIGNS = "-\u2212\ufe63\uff0d"  # "-" first: in a character class it is then literal, not a range
NUMBER_RE = re.compile(
    rf"(?<![0-9])(?<![0-9]\.)(?P<sign>[{MINUS_SIGNS}+]?)(?:"
    # \frac takes two arguments, each braced or a single bare digit: \frac{3}{4}, \frac12, \frac1{2}.
    rf"\\[dt]?frac\s{{0,4}}(?:\{{\s{{0,8}}(?P<fn>[-+]?{_DEC})\s{{0,8}}\}}|(?P<fn1>[0-9]))"
    rf"\s{{0,4}}(?:\{{\s{{0,8}}(?P<fd>[-+]?{_DEC})\s{{0,8}}\}}|(?P<fd1>[0-9]))"
    rf"|\\sqrt\s{{0,4}}\{{\s{{0,8}}(?P<sq>{_DEC})\s{{0,8}}\}}"
    rf"|(?P<num>{_DEC})(?:\s{{0,4}}/\s{{0,4}}(?P<den>{_DEC}))?)"
    rf"(?P<pct>\s{{0,4}}\\?%)?"
)
MAX_NUMBER_CHARS = 64  # longer digit runs are noise, and float() of them is slow


@dataclass(frozen=True, slots=True)
class Number:
    """A parsed number; ``percent`` records a trailing ``%`` (the value excludes the /100)."""

    value: float
    percent: bool = False

    def candidates(self) -> tuple[float, ...]:
        """Values this number may stand for: ``50%`` is read as 50 or as 0.5."""
        return (self.value, self.value / 100.0) if self.percent else (self.value,)


def _to_float(token: str | None) -> float | None:
    if token is None or len(token) > MAX_NUMBER_CHARS:
        return None
    try:
        value = float(token.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def number_from_match(match: re.Match[str]) -> Number | None:
    """Evaluate a :data:`NUMBER_RE` match; None if it is too long, non-finite or divides by 0."""
    if len(match.group(0)) > 4 * MAX_NUMBER_CHARS:
        return None
    groups = match.groupdict()
    if groups["fn"] is not None or groups["fn1"] is not None:
        num, den = _to_float(groups["fn"] or groups["fn1"]), _to_float(groups["fd"] or groups["fd1"])
    elif groups["sq"] is not None:
        radicand = _to_float(groups["sq"])
        num, den = (math.sqrt(radicand) if radicand is not None and radicand >= 0 else None), 1.0
    else:
        num = _to_float(groups["num"])
        den = _to_float(groups["den"]) if groups["den"] is not None else 1.0
    if num is None or den is None or den == 0:
        return None
    value = num / den
    if groups["sign"] and groups["sign"] in MINUS_SIGNS:
        value = -value
    if not math.isfinite(value):
        return None
    return Number(value, percent=groups["pct"] is not None)


def parse_number(text: str) -> Number | None:
    """Parse a text that is exactly one number (ground truth), e.g. ``"1,234"``, ``"\\frac{3}{4}"``."""
    match = NUMBER_RE.fullmatch(text.strip())
    return number_from_match(match) if match is not None else None


_DIGITS_RE = re.compile(r"[0-9]+")
_CONTEXT = 2 * MAX_NUMBER_CHARS  # room for a sign, "\\frac{", separators and "%" around a digit run


def last_number(text: str) -> Number | None:
    """The last number in the last :data:`MAX_SCAN_CHARS` characters of ``text``, or None.

    :data:`NUMBER_RE` starts with a look-behind, so the regex engine must try it at every
    position; the last digit run is found first with a pattern the engine can skip to, and
    the full pattern only runs in a small window around it.
    """
    text = tail(text)
    run = last_match(_DIGITS_RE, text, margin=_CONTEXT)
    if run is None:
        return None
    found = None
    for match in NUMBER_RE.finditer(text, max(0, run.start() - _CONTEXT), min(len(text), run.end() + _CONTEXT)):
        found = match
    return number_from_match(found) if found is not None else None


def format_number(value: float) -> str:
    """Shortest text that :func:`parse_number` reads back as exactly ``value``."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
