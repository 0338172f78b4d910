"""The mixture optimiser: run records, GP predictor, baselines, proposal strategies.

Importing the package lets YAML name its classes briefly (``class_path: GPPredictor``).
"""

from predictors.baselines import LinearScheffe, QuadraticScheffe, ScheffePolynomial
from predictors.datamodule import RunRecordDataModule
from predictors.gp import GPSurrogate, MixtureGP
from predictors.means import PeakMean
from predictors.module import GPPredictor
from predictors.plots import PredictorFigures
from predictors.records import RecordError, RecordSet, RunRecord, read_records, write_record
from predictors.selection import PrequentialMeanSelector
from predictors.strategies import (
    AlphaCredit,
    BayesOptBatch,
    DirichletRandom,
    ExcludeOneDrop,
    InclusionRidge,
    ModelArgmax,
    ProposalStrategy,
    SeedMixtures,
)
from predictors.table import RunTable, table_from_records
from predictors.writer import MixtureProposalWriter

__all__ = [
    "AlphaCredit",
    "BayesOptBatch",
    "DirichletRandom",
    "ExcludeOneDrop",
    "GPPredictor",
    "GPSurrogate",
    "InclusionRidge",
    "LinearScheffe",
    "MixtureGP",
    "MixtureProposalWriter",
    "ModelArgmax",
    "PeakMean",
    "PredictorFigures",
    "PrequentialMeanSelector",
    "ProposalStrategy",
    "QuadraticScheffe",
    "RecordError",
    "RecordSet",
    "RunRecord",
    "RunRecordDataModule",
    "RunTable",
    "ScheffePolynomial",
    "SeedMixtures",
    "read_records",
    "table_from_records",
    "write_record",
]
