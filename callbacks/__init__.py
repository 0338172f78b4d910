"""Lightning callbacks that carry the side effects of a run (samples, exports, run records)."""

from callbacks.evaluation_report import EvaluationReport
from callbacks.export import ExportPolicy
from callbacks.interrupt import RunInterruptCheckpoint
from callbacks.mixture_stats import MixtureStats
from callbacks.progress import StepProgressBar
from callbacks.run_record import RunRecordCallback
from callbacks.samples import CompletionSamples

__all__ = [
    "CompletionSamples",
    "EvaluationReport",
    "ExportPolicy",
    "MixtureStats",
    "RunInterruptCheckpoint",
    "RunRecordCallback",
    "StepProgressBar",
]
