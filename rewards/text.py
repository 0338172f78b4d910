"""Normalisation of short natural-language answers for exact matching.

``normalize_answer("The Twenty-one dogs.") == ("21", "dogs")``: case-folded word and number
tokens, punctuation and the articles a/an/the dropped (unless the answer is nothing but articles:
``"A"``, an option letter, stays ``("a",)``), number words written as digits
(zero to ninety-nine), numbers in a canonical form (``"1,000.50" -> "1000.5"``, a leading minus kept:
``"-5"`` is not ``"5"``, and a typographic minus sign, U+2212, is a minus; digits of any script read as ASCII
digits, after NFC normalisation), and a
one-word yes/no synonym (true, correct, yeah, ...) mapped to ``yes``/``no``.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import islice

MAX_ANSWER_TOKENS = 256
"""Answers with more tokens than this never match (ground truths are short answers)."""

# Two stages: _RUN_RE finds runs of letters/digits (starting with a character class, which
# the regex engine can skip to quickly), _PIECE_RE splits a mixed run into numbers and words.
# Thousands-separated numbers come first so "1,000" stays one number; letters in any script.
# A minus sign belongs to a number when it starts the run ("-5", "(-5)"), not inside one ("3-5", "twenty-one");
# so does a leading decimal point (".5", "-.5"), but not one after a word or another dot ("Fig.5", "...5").
_RUN_RE = re.compile(r"(?:(?<![^\W_])-(?=\.?[0-9]))?(?:(?<![\w.])\.(?=[0-9]))?[^\W_]+(?:[.,][0-9]+)*")
_PIECE_RE = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|-?[0-9]+(?:\.[0-9]+)?|[^\W\d_]+")

# Typeset answers (math datasets, models trained on them) write U+2212 MINUS SIGN or its small / full-width
# forms; without this the sign would be dropped as punctuation and U+2212 followed by 5 would equal "5".
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-"})

_ARTICLES = frozenset({"a", "an", "the"})
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_YES = frozenset({"yes", "true", "correct", "yeah", "yep", "y"})
_NO = frozenset({"no", "false", "incorrect", "nope", "n"})


def _canonical_number(token: str) -> str:
    sign = "-" if token.startswith("-") else ""
    token = token.lstrip("-").replace(",", "")
    whole, dot, frac = token.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0") if dot else ""
    number = f"{whole}.{frac}" if frac else whole
    return number if number == "0" else sign + number  # "-0" is 0


def normalize_answer(text: str, max_tokens: int = MAX_ANSWER_TOKENS) -> tuple[str, ...] | None:
    """Normalise a short answer to a tuple of tokens.

    Args:
        text: The answer (untrusted; any length: only the first ``max_tokens + 1`` tokens are read).
        max_tokens: Token cap; longer answers return None.

    Returns:
        The normalised tokens (possibly empty), or None if the text has more than ``max_tokens``.
    """
    raw: list[str] = []
    # NFC first: a decomposed accent (e + U+0301) is not a word character and would split "café".
    for run in islice(_RUN_RE.finditer(unicodedata.normalize("NFC", text.translate(_MINUS_SIGNS))), max_tokens + 1):
        piece = run.group(0)
        if not piece.isascii():  # full-width and other scripts' digits are numbers too ("２１" is 21)
            piece = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in piece)
        if piece.startswith((".", "-.")):  # ".5" is 0.5
            piece = piece.replace(".", "0.", 1)
        if piece.isalpha():
            raw.append(piece)
        else:
            raw.extend(_PIECE_RE.findall(piece))
    if len(raw) > max_tokens:
        return None
    tokens: list[str] = []
    articles: list[str] = []
    after_tens = False  # previous token was a tens word, so "twenty one" can become "21"
    for token in raw:
        if token[0].isdigit() or token[0] == "-":
            tokens.append(_canonical_number(token))
            after_tens = False
            continue
        word = token.casefold()
        if word in _ARTICLES:
            articles.append(word)
            continue
        unit = _UNITS.get(word)
        if unit is not None and after_tens and 0 < unit < 10:
            tokens[-1] = str(int(tokens[-1]) + unit)
            after_tens = False
            continue
        tens = _TENS.get(word)
        tokens.append(str(unit) if unit is not None else str(tens) if tens is not None else word)
        after_tens = tens is not None
    if not tokens:
        # Only articles: the answer *is* the word - an option letter "A" most often - not an empty answer.
        return tuple(articles)
    if len(tokens) == 1:
        if tokens[0] in _YES:
            return ("yes",)
        if tokens[0] in _NO:
            return ("no",)
    return tuple(tokens)

