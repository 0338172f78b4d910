"""Lightning callbacks that carry the side effects of a run (samples, exports, run records)."""

from callbacks.base_score import BaseScoreRecorder
from callbacks.evaluation_report import EvaluationReport
from callbacks.export import ExportPolicy
from callbacks.interrupt import RunInterruptCheckpoint
from callbacks.mixture_stats import MixtureStats
from callbacks.predictor_figures import PredictorFigures
from callbacks.predictor_proposals import MixtureProposalWriter
from callbacks.predictor_summary import PredictorSummary
from callbacks.progress import StepProgressBar
from callbacks.run_record import RunRecordCallback
from callbacks.samples import CompletionSamples

__all__ = [
    "BaseScoreRecorder",
    "CompletionSamples",
    "EvaluationReport",
    "ExportPolicy",
    "MixtureProposalWriter",
    "MixtureStats",
    "PredictorFigures",
    "PredictorSummary",
    "RunInterruptCheckpoint",
    "RunRecordCallback",
    "StepProgressBar",
]
