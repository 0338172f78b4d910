"""Verifiable rewards: verifiers, their registry, and per-domain weighted rewards.

Importing this package registers the built-in verifiers: ``think_answer_format``,
``choice_accuracy``, ``exact_match``, ``numeric_match``, ``box_iou`` and ``multi_box_iou``.
"""

from rewards.base import InvalidSolutionError, Verifier, VerifierCrashWarning, VerifierResult
from rewards.registry import (
    ENTRY_POINT_GROUP,
    UnknownVerifierError,
    available_verifiers,
    build_verifier,
    get_verifier,
    register,
)

# Built-ins register themselves on import; order matters only for readability.
from rewards.format import ThinkAnswerFormat  # noqa: E402  isort: skip
from rewards.choice import ChoiceAccuracy  # noqa: E402  isort: skip
from rewards.exact import ExactMatch  # noqa: E402  isort: skip
from rewards.numeric import NumericMatch  # noqa: E402  isort: skip
from rewards.box_verifiers import BoxIoU, MultiBoxIoU  # noqa: E402  isort: skip
from rewards.composite import DomainReward, RewardOutput, VerifierSpec  # noqa: E402  isort: skip

__all__ = [
    "ENTRY_POINT_GROUP",
    "BoxIoU",
    "ChoiceAccuracy",
    "DomainReward",
    "ExactMatch",
    "InvalidSolutionError",
    "MultiBoxIoU",
    "NumericMatch",
    "RewardOutput",
    "ThinkAnswerFormat",
    "UnknownVerifierError",
    "Verifier",
    "VerifierCrashWarning",
    "VerifierResult",
    "VerifierSpec",
    "available_verifiers",
    "build_verifier",
    "get_verifier",
    "register",
]
