"""ChartQA's relaxed accuracy, as lmms-eval scores it (``chartqa_process_results``).

A number within 5 % of a numeric ground truth is right; anything else must equal the ground truth
ignoring case. Both sides are read as Python reads a float (``"12"``, ``"1e3"``, ``"45%"`` -> 0.45);
a ground truth of 0 is compared as text (a relative error to 0 is undefined).
"""

from __future__ import annotations

import math

from rewards.answers import AnswerListVerifier
from rewards.parsing import MAX_SCAN_CHARS, check_answer_block
from rewards.registry import register

MAX_FLOAT_CHARS = 64
"""Longer texts are not read as numbers (``float()`` of a 1 MB digit run is slow and never a chart value)."""


def chart_float(text: str) -> float | None:
    """``text`` as lmms-eval's ``_to_float`` reads it: ``float(text)``, a trailing ``%`` dividing by 100.

    Returns None where ``float()`` fails (or the text is longer than :data:`MAX_FLOAT_CHARS`). Like the
    reference, ``"nan"`` and ``"inf"`` are numbers; they are never within tolerance of a finite value.
    """
    if len(text) > MAX_FLOAT_CHARS:
        return None
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str, max_relative_change: float = 0.05) -> bool:
    """lmms-eval's ``relaxed_correctness`` (from Qwen-VL's ChartQA evaluation).

    Args:
        prediction: The model's answer, stripped.
        target: One ground-truth answer, stripped.
        max_relative_change: Largest accepted ``|prediction - target| / |target|`` for numbers.
    """
    predicted, expected = chart_float(prediction), chart_float(target)
    if predicted is not None and expected:  # a zero target falls through to the text comparison
        return abs(predicted - expected) / abs(expected) <= max_relative_change
    return prediction.lower() == target.lower()


@register("relaxed_accuracy")
class RelaxedAccuracy(AnswerListVerifier):
    """1.0 if the answer is within ``max_relative_change`` of a numeric ground truth, or equals it ignoring case.

    Reads the ``<answer>`` block, or the whole completion when there is none (lmms-eval's protocol asks
    for a bare answer). Both sides are stripped (the reference compares untrimmed text).

    Args:
        max_relative_change: Tolerance for numbers (0.05: ChartQA's 5 %).
        answer_block: Read the ``<answer>`` block when there is one (the think/answer protocol); False scores
            the whole completion, as lmms-eval's protocol does.

    Ground truth: a non-empty string or number, or a list of them (``HuggingFaceM4/ChartQA``'s ``label``;
    the best match counts).
    """

    def __init__(self, max_relative_change: float = 0.05, answer_block: bool = True) -> None:
        self.answer_block = check_answer_block("relaxed_accuracy", answer_block)
        value = max_relative_change
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
            raise ValueError(f"relaxed_accuracy: max_relative_change must be a finite number >= 0, got {value!r}")
        self.max_relative_change = float(value)

    def similarity(self, answer: str, accepted: list[str]) -> float:
        """1.0 if the answer is relaxed-correct for any accepted answer."""
        if len(answer) > MAX_SCAN_CHARS:
            return 0.0  # neither a number nor any chart label
        return 1.0 if any(relaxed_correct(answer, t, self.max_relative_change) for t in accepted) else 0.0
