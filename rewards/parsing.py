"""Shared, linear-time helpers for pulling answers out of untrusted completions.

Every regular expression here has bounded repetition or starts at a fixed delimiter, so a
search costs O(length of the text); nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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


def head(text: str) -> str:
    """The first :data:`MAX_SCAN_CHARS` characters of ``text``."""
    return text[:MAX_SCAN_CHARS]


def tail(text: str) -> str:
    """The last :data:`MAX_SCAN_CHARS` characters of ``text``."""
    return text[-MAX_SCAN_CHARS:]


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
    rf"\\[dt]?frac\s{{0,4}}\{{\s{{0,8}}(?P<fn>[-+]?{_DEC})\s{{0,8}}\}}"
    rf"\s{{0,4}}\{{\s{{0,8}}(?P<fd>[-+]?{_DEC})\s{{0,8}}\}}"
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
    if groups["fn"] is not None:
        num, den = _to_float(groups["fn"]), _to_float(groups["fd"])
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
