"""The ``<think>...</think><answer>...</answer>`` format reward."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rewards.base import Verifier
from rewards.registry import register

STRICT_PATTERN = r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"
"""The paper's reference pattern (used with ``re.DOTALL``); kept for documentation and tests.

Run as a regex it backtracks quadratically on texts with many ``</think>`` tags, so
:func:`strict_format_ok` decides the same language with three string scans instead.
"""

_THINK_OPEN, _ANSWER_CLOSE = "<think>", "</answer>"
_STRICT_HEAD, _STRICT_MIDDLE, _STRICT_TAIL = "<think>\n", "\n</think>\n<answer>\n", "\n</answer>"
_LOOSE_MIDDLE_RE = re.compile(r"</think>\s*<answer>")


def _strict_body_ok(body: str) -> bool:
    # "<think>\n" A "\n</think>\n<answer>\n" B "\n</answer>" for some A, B (either may be empty):
    # the middle delimiter must fit between the fixed head and tail.
    return (
        body.startswith(_STRICT_HEAD)
        and body.endswith(_STRICT_TAIL)
        and body.find(_STRICT_MIDDLE, len(_STRICT_HEAD), len(body) - len(_STRICT_TAIL)) >= 0
    )


def strict_format_ok(text: str) -> bool:
    """Linear-time equivalent of ``re.match(STRICT_PATTERN, text, re.DOTALL) is not None``.

    Python's ``$`` also matches before one final newline, so a single trailing ``"\\n"`` is allowed.
    """
    return _strict_body_ok(text) or (text.endswith("\n") and _strict_body_ok(text[:-1]))


def loose_format_ok(text: str) -> bool:
    """Whitespace-tolerant format: ``\\s* <think> ... </think> \\s* <answer> ... </answer> \\s*``."""
    body = text.strip()
    if not (body.startswith(_THINK_OPEN) and body.endswith(_ANSWER_CLOSE)):
        return False
    return _LOOSE_MIDDLE_RE.search(body, len(_THINK_OPEN), len(body) - len(_ANSWER_CLOSE)) is not None


@register("think_answer_format")
class ThinkAnswerFormat(Verifier):
    """1.0 if the completion is a think block followed by an answer block, else 0.0.

    With ``format_gate=True`` in :class:`~rewards.composite.DomainReward`, a sample failing this
    check scores 0 on every other verifier too (the paper's rule).

    Args:
        strict: Use the paper's exact pattern
            ``^<think>\\n.*?\\n</think>\\n<answer>\\n.*?\\n</answer>$`` (newlines required where
            shown); if False, any whitespace (or none) is allowed around and between the blocks.
    """

    is_format = True

    def __init__(self, strict: bool = True) -> None:
        if not isinstance(strict, bool):
            raise ValueError(f"think_answer_format: option 'strict' must be a bool, got {strict!r}")
        self.strict = strict
        self._check = strict_format_ok if strict else loose_format_ok

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> None:
        """The format does not depend on the ground truth; any solution is accepted."""
        return None

    def score_one(self, completion: str, target: None, meta: Mapping[str, Any]) -> tuple[float, bool]:
        """1.0 for a well-formed completion; ``parse_failed`` flags a malformed one."""
        ok = self._check(completion)
        return (1.0 if ok else 0.0), not ok

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """Any answer content passes the format check; the empty string is the simplest."""
        return ""
