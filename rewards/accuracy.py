"""The paper's accuracy reward (its open-r1 lineage: ``accuracy_sat_reward`` of the MoDoMoDo code).

A completion is right when any of these holds, checked cheapest first (the reward is their OR):

1. the ``<answer>`` content equals the ground truth exactly (after stripping both);
2. the last standalone option letter A-H of the answer equals the ground truth - the reference's pattern
   ``(^|\\s|\\[|\\()([A-H])(\\s|\\]|\\)|$)``, scanned left to right without overlaps, so ``"B."`` and
   ``"B,"`` are not letters while ``"B"``, ``"(B)"`` and ``"[B]"`` are;
3. math-verify finds the answer and the ground truth equivalent (``verify(parse(answer), parse(gold))``).

Where this departs from the reference, and why: the answer is the last complete ``<answer>`` block read
across lines (the reference's pattern has no DOTALL, so a block spanning lines - which the paper's strict
format always writes - fell back to the whole completion; that fallback is kept for completions without a
block); math-verify reads that answer, at most 1,024 characters of it, in a child process with a deadline
(the reference parsed the whole completion in-process, where ``\\boxed{9^{9^{9^9}}}`` stalls training).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rewards.base import Verifier
from rewards.math_sandbox import MAX_MATH_CHARS, shared_sandbox
from rewards.parsing import MAX_SCAN_CHARS, answer_or_text, last_match, tail
from rewards.registry import register
from rewards.symbolic import check_timeout, math_text
from rewards.text import normalize_answer

# The reference's letter pattern, verbatim in meaning; matches are at most 3 characters long.
_LETTER_RE = re.compile(r"(^|\s|\[|\()([A-H])(\s|\]|\)|$)")
MAX_CACHED_GOLDS = 4096


def last_letter(text: str) -> str | None:
    """The last letter the reference's ``extract_letters(text)[-1]`` returns (read from the last 64 KiB)."""
    match = last_match(_LETTER_RE, tail(text), margin=8)
    return match.group(2) if match is not None else None


@register("paper_accuracy")
class PaperAccuracy(Verifier):
    """1.0 for an exact answer, a matching last option letter, or a math-verify equivalent (see the module).

    Args:
        normalize: Compare step 1 after ``exact_match``'s normalisation (case, punctuation, articles, number
            words) instead of the reference's exact string equality.
        timeout_s: math-verify's deadline per answer, in seconds (past it, that step scores 0).

    Ground truth: a non-empty string or number (an option letter, a word, a number, LaTeX).
    """

    def __init__(self, normalize: bool = False, timeout_s: float = 1.0) -> None:
        if not isinstance(normalize, bool):
            raise ValueError(f"paper_accuracy: option 'normalize' must be a bool, got {normalize!r}")
        self.normalize = normalize
        self.timeout_s = check_timeout("paper_accuracy", timeout_s)
        self._no_math: set[str] = set()  # ground truths math-verify finds no expression in (letters, words)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> tuple[str, tuple[str, ...] | None]:
        """The ground truth text, and its normalised tokens when ``normalize`` is on."""
        gold = math_text(solution)
        return gold, (normalize_answer(gold) if self.normalize else None)

    def score_one(
        self, completion: str, target: tuple[str, tuple[str, ...] | None], meta: Mapping[str, Any]
    ) -> tuple[float, bool]:
        """Exact match, then the last letter, then math-verify."""
        gold, tokens = target
        answer = answer_or_text(completion, fallback_to_text=True)
        if not answer:
            return 0.0, True
        if len(answer) <= MAX_SCAN_CHARS:
            if (normalize_answer(answer) == tokens) if self.normalize else (answer == gold):
                return 1.0, False
        if last_letter(answer) == gold:
            return 1.0, False
        if gold in self._no_math or len(answer) > MAX_MATH_CHARS:
            return 0.0, False
        verdict = shared_sandbox().equivalent(gold, answer, gold_first=False, timeout_s=self.timeout_s)
        if verdict == "g":
            if len(self._no_math) >= MAX_CACHED_GOLDS:
                self._no_math.clear()
            self._no_math.add(gold)
        return (1.0 if verdict == "1" else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground truth as given (step 1 matches it)."""
        return math_text(solution)
