"""Verifiable rewards: verifiers, their registry, and per-domain weighted rewards.

Importing this package registers the built-in verifiers: ``think_answer_format``,
``choice_accuracy``, ``exact_match``, ``numeric_match``, ``box_iou``, ``multi_box_iou``, the paper's
``paper_accuracy``, ``math_verify``, and lmms-eval's benchmark metrics ``relaxed_accuracy`` (ChartQA),
``anls`` (InfographicVQA), ``mathvista_match`` and ``mmmu_match``.
"""

from rewards.base import InvalidSolutionError, Verifier, VerifierCrashWarning, VerifierResult
from rewards.registry import (
    ENTRY_POINT_GROUP,
    VERIFIERS,
    Registry,
    UnknownNameError,
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
from rewards.symbolic import MathVerify  # noqa: E402  isort: skip
from rewards.accuracy import PaperAccuracy  # noqa: E402  isort: skip
from rewards.relaxed import RelaxedAccuracy  # noqa: E402  isort: skip
from rewards.anls import ANLS  # noqa: E402  isort: skip
from rewards.mathvista import MathVistaMatch  # noqa: E402  isort: skip
from rewards.mmmu import MMMUMatch  # noqa: E402  isort: skip
from rewards.composite import DomainReward, RewardOutput, VerifierSpec  # noqa: E402  isort: skip

__all__ = [
    "ANLS",
    "ENTRY_POINT_GROUP",
    "VERIFIERS",
    "BoxIoU",
    "ChoiceAccuracy",
    "DomainReward",
    "ExactMatch",
    "InvalidSolutionError",
    "MMMUMatch",
    "MathVerify",
    "MathVistaMatch",
    "MultiBoxIoU",
    "NumericMatch",
    "PaperAccuracy",
    "Registry",
    "RelaxedAccuracy",
    "RewardOutput",
    "ThinkAnswerFormat",
    "UnknownNameError",
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
