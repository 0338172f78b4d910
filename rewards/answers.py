"""The shape shared by the short-answer benchmark metrics: an answer against a list of accepted answers."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from rewards.base import Verifier
from rewards.parsing import ground_truth_texts, response_text


class AnswerListVerifier(Verifier):
    """Scores the answer (see :func:`~rewards.parsing.response_text`) by its best match among the accepted ones.

    Subclasses set :attr:`answer_block` in ``__init__`` and implement :meth:`similarity`.

    Ground truth: a non-empty string or number, or a list of accepted answers.
    """

    answer_block: bool = True

    @abstractmethod
    def similarity(self, answer: str, accepted: list[str]) -> float:
        """The score in [0, 1] of a non-empty ``answer`` against the ``accepted`` answers."""

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> list[str]:
        """The accepted answers, stripped."""
        return ground_truth_texts(solution)

    def score_one(self, completion: str, target: list[str], meta: Mapping[str, Any]) -> tuple[float, bool]:
        """:meth:`similarity` of the answer; an empty answer fails to parse."""
        answer = response_text(completion, self.answer_block)
        if not answer:
            return 0.0, True
        value = self.similarity(answer, target)
        return (value if math.isfinite(value) else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The first accepted answer."""
        return ground_truth_texts(solution)[0]
