"""Parsers for the ground-truth strings of the real datasets (trusted data, but still no ``eval``).

All patterns are linear-time (no nested quantifiers) and every input is length-capped.
"""

from __future__ import annotations

import re

from datamodules.sources.base import BadSampleError

MAX_TEXT = 20_000
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_BOX_RE = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
_POSITION_RE = re.compile(r"""['"]Position['"]\s*:\s*(\[[^\[\]]{0,200}\])""")
_LETTER_RE = re.compile(r"\(?([A-H])\)?[.:)]?")
# An option line: "A. text", "A: text", "(A) text" or "A) text", at the start of a line.
_OPTION_LINE_RE = re.compile(r"^[ \t]*\(?([A-H])[.:)][ \t]*(\S[^\n]*)$", re.MULTILINE)


def _cap(text: str, field: str) -> str:
    if not isinstance(text, str):
        raise BadSampleError(f"field {field!r} must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise BadSampleError(f"field {field!r} is longer than {MAX_TEXT} characters")
    return text


def answer_content(solution: str, field: str = "solution") -> str:
    """The content of the last ``<answer>...</answer>`` block, or the whole string without tags.

    Raises:
        BadSampleError: If the value is not a string or the answer is empty.
    """
    text = _cap(solution, field)
    blocks = _ANSWER_RE.findall(text)
    content = (blocks[-1] if blocks else text).strip()
    if not content:
        raise BadSampleError(f"field {field!r} has an empty answer")
    return content


def parse_box(text: str, field: str = "solution") -> list[float]:
    """The first ``[x1, y1, x2, y2]`` in ``text``.

    Raises:
        BadSampleError: If there is none.
    """
    match = _BOX_RE.search(_cap(text, field))
    if match is None:
        raise BadSampleError(f"field {field!r} holds no box [x1, y1, x2, y2]: {text[:80]!r}")
    return [float(v) for v in match.groups()]


def parse_positions(text: str, field: str = "solution") -> list[list[float]]:
    """Boxes of ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}, ...]`` (Visual-RFT detection format).

    Raises:
        BadSampleError: If no well-formed ``Position`` box is found.
    """
    boxes = []
    for inner in _POSITION_RE.findall(_cap(text, field)):
        match = _BOX_RE.fullmatch(inner.strip())
        if match is None:
            raise BadSampleError(f"field {field!r} has a malformed Position {inner[:60]!r}")
        boxes.append([float(v) for v in match.groups()])
    if not boxes:
        raise BadSampleError(f"field {field!r} holds no 'Position' box: {text[:80]!r}")
    return boxes


def parse_letter(text: str, options: list[str] | None = None, field: str = "solution") -> str:
    """An option letter from ``"B"``, ``"(B)"``, ``"B."``, or from the text of one of ``options``.

    Raises:
        BadSampleError: If the answer is neither a letter nor an option's text.
    """
    content = text.strip()
    match = _LETTER_RE.fullmatch(content)
    if match is not None:
        return match.group(1)
    if options:
        folded = [o.strip().casefold() for o in options]
        if content.casefold() in folded:
            return "ABCDEFGH"[folded.index(content.casefold())]
    raise BadSampleError(f"field {field!r} is not an option letter: {content[:60]!r}")


def parse_options(question: str) -> list[str] | None:
    """Option texts listed one per line as ``A. ...`` / ``(A) ...`` in a question, if A, B, ... in order."""
    found = _OPTION_LINE_RE.findall(_cap(question, "problem"))
    letters = [letter for letter, _ in found]
    if len(found) >= 2 and letters == list("ABCDEFGH"[: len(found)]):
        return [text.strip() for _, text in found]
    return None


def parse_string_list(text: str, field: str = "options") -> list[str]:
    """A Python-literal list of strings (``"['a', \\"b's\\"]"``), as MMMU stores options, without eval.

    Raises:
        BadSampleError: If the text is not a flat list of quoted strings.
    """
    text = _cap(text, field).strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise BadSampleError(f"field {field!r} is not a list literal: {text[:60]!r}")
    items: list[str] = []
    i, n = 1, len(text) - 1
    while True:
        while i < n and text[i] in " \t\n,":
            i += 1
        if i >= n:
            return items
        quote = text[i]
        if quote not in "'\"":
            raise BadSampleError(f"field {field!r}: expected a quoted string at position {i}: {text[i:i + 20]!r}")
        i += 1
        chars = []
        while i < n and text[i] != quote:
            if text[i] == "\\" and i + 1 < n:
                i += 1
                chars.append({"n": "\n", "t": "\t"}.get(text[i], text[i]))
            else:
                chars.append(text[i])
            i += 1
        if i >= n:
            raise BadSampleError(f"field {field!r}: unterminated string")
        items.append("".join(chars))
        i += 1
        while i < n and text[i] in " \t\n":
            i += 1
        if i < n and text[i] != ",":
            raise BadSampleError(f"field {field!r}: expected ',' at position {i}: {text[i:i + 20]!r}")
