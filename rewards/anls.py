"""ANLS, the Average Normalized Levenshtein Similarity of DocVQA / InfographicVQA, as lmms-eval scores it.

For each accepted answer: both sides lower-cased with runs of whitespace collapsed, edit distance
divided by the longer of the two *unnormalised* lengths (lmms-eval's ``anls``, from Qwen-VL's
``infographicsvqa_eval.py``); the similarity is one minus the smallest of these, and 0 below the threshold.
``"facebok"`` against ``"facebook"`` scores 1 - 1/8 = 0.875.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from rewards.answers import AnswerListVerifier
from rewards.parsing import check_answer_block
from rewards.registry import register


def _normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


# Characters str.split() treats as whitespace in ASCII text (it also splits on \x1c-\x1f).
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _upper_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.upper())  # "ß".upper() is "SS"


def _min_normalized_length(text: str) -> int:
    """A lower bound on ``len(_normalize(text))``, in a few C-level passes (whitespace runs become one space)."""
    if not text.isascii():
        return 0
    return len(text) - sum(text.count(c) for c in _ASCII_WHITESPACE)


def anls_score(prediction: str, answers: list[str], threshold: float = 0.5, raw_length: bool = True) -> float:
    """lmms-eval's per-question ANLS of ``prediction`` against the accepted ``answers``.

    The edit distance is at least the difference of the normalised lengths, so an answer that can only score
    below the threshold is never compared character by character (a 1 MB prediction costs a few passes).

    Args:
        prediction: The model's answer.
        answers: The accepted answers.
        threshold: Similarities below it count as 0.
        raw_length: Divide by the longer *unnormalised* length, as lmms-eval does (whitespace padding then
            raises the score); False divides by the longer normalised length, as ANLS is defined.
    """
    upper = _upper_length(prediction)
    floor = _min_normalized_length(prediction)
    predicted: str | None = None
    best = 0.0
    for answer in answers:
        expected = _normalize(answer)
        if predicted is None and raw_length:
            length = max(_upper_length(answer), upper)
            if length and 1.0 - (floor - len(expected)) / length < threshold:
                continue  # cannot reach the threshold whatever the normalised prediction is
        if predicted is None:
            predicted = _normalize(prediction)
        length = max(_upper_length(answer), upper) if raw_length else max(len(expected), len(predicted))
        if length == 0:  # both empty: the reference's distance 0, similarity 1
            best = 1.0
            continue
        if 1.0 - abs(len(predicted) - len(expected)) / length < threshold:
            continue
        best = max(best, 1.0 - Levenshtein.distance(expected, predicted) / length)
    return best if best >= threshold else 0.0


@register("anls")
class ANLS(AnswerListVerifier):
    """Best normalized Levenshtein similarity over the accepted answers; 0 below ``threshold``.

    Reads the ``<answer>`` block, or the whole completion when there is none (lmms-eval's protocol asks
    for a bare answer).

    Args:
        threshold: Similarities below it score 0 (0.5: DocVQA's and InfographicVQA's).
        raw_length: Divide the distance by the longer unnormalised length (lmms-eval's choice, under which
            whitespace padding raises the score); False uses the normalised lengths, as ANLS is defined.
        answer_block: Read the ``<answer>`` block when there is one (the think/answer protocol); False scores
            the whole completion, as lmms-eval's protocol does.

    Ground truth: a non-empty string, or a list of accepted answers (``lmms-lab/DocVQA``'s ``answers``).
    """

    def __init__(self, threshold: float = 0.5, raw_length: bool = True, answer_block: bool = True) -> None:
        self.answer_block = check_answer_block("anls", answer_block)
        if not isinstance(raw_length, bool):
            raise ValueError(f"anls: option 'raw_length' must be a bool, got {raw_length!r}")
        self.raw_length = raw_length
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"anls: threshold must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)

    def similarity(self, answer: str, accepted: list[str]) -> float:
        """ANLS of the answer against the accepted answers."""
        return anls_score(answer, accepted, self.threshold, self.raw_length)
