"""ANLS, the Average Normalized Levenshtein Similarity of DocVQA / InfographicVQA, as lmms-eval scores it.

For each accepted answer: both sides lower-cased with runs of whitespace collapsed, edit distance
divided by the longer of the two *unnormalised* lengths (lmms-eval's ``anls``, from Qwen-VL's
``infographicsvqa_eval.py``); the similarity is one minus the smallest of these, and 0 below the threshold.
``"facebok"`` against ``"facebook"`` scores 1 - 1/8 = 0.875.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rapidfuzz.distance import Levenshtein

from rewards.base import Verifier
from rewards.parsing import check_answer_block, ground_truth_texts, response_text
from rewards.registry import register


def _normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_score(prediction: str, answers: list[str], threshold: float = 0.5) -> float:
    """lmms-eval's per-question ANLS of ``prediction`` against the accepted ``answers``.

    An answer whose length differs from the prediction's by more than ``(1 - threshold)`` of the longer
    one can only score below the threshold, so its edit distance is not computed (a 1 MB prediction
    costs one pass over the text).
    """
    predicted = _normalize(prediction)
    best = 0.0
    for answer in answers:
        length = max(len(answer.upper()), len(prediction.upper()))
        if length == 0:  # both empty: the reference's distance 0, similarity 1
            best = 1.0
            continue
        expected = _normalize(answer)
        # The distance is at least the difference of the (normalised) lengths.
        if 1.0 - abs(len(predicted) - len(expected)) / length < threshold:
            continue
        similarity = 1.0 - Levenshtein.distance(expected, predicted) / length
        best = max(best, similarity)
    return best if best >= threshold else 0.0


@register("anls")
class ANLS(Verifier):
    """Best normalized Levenshtein similarity over the accepted answers; 0 below ``threshold``.

    Reads the ``<answer>`` block, or the whole completion when there is none (lmms-eval's protocol asks
    for a bare answer).

    Args:
        threshold: Similarities below it score 0 (0.5: DocVQA's and InfographicVQA's).
        answer_block: Read the ``<answer>`` block when there is one (the think/answer protocol); False scores
            the whole completion, as lmms-eval's protocol does.

    Ground truth: a non-empty string, or a list of accepted answers (``lmms-lab/DocVQA``'s ``answers``).
    """

    def __init__(self, threshold: float = 0.5, answer_block: bool = True) -> None:
        self.answer_block = check_answer_block("anls", answer_block)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"anls: threshold must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> list[str]:
        """The accepted answers, stripped."""
        return ground_truth_texts(solution)

    def score_one(self, completion: str, target: list[str], meta: Mapping[str, Any]) -> tuple[float, bool]:
        """ANLS of the answer against the accepted answers."""
        answer = response_text(completion, self.answer_block)
        if not answer:
            return 0.0, True
        value = anls_score(answer, target, self.threshold)
        return (value if math.isfinite(value) else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The first accepted answer."""
        return ground_truth_texts(solution)[0]
