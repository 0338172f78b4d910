"""The mixture optimiser: run records, the GP predictor, baselines, proposal strategies, the mixture search.

Configs name the classes briefly (``class_path: predictors.GPPredictor``). Importing the package is
cheap: a name is imported from its module when first used (PEP 562), so a GRPO run, which only writes
run records (:mod:`predictors.records`), never loads GPyTorch, BoTorch or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "AlphaCredit": "predictors.strategies",
    "BayesOptBatch": "predictors.strategies",
    "DirichletRandom": "predictors.strategies",
    "ExcludeOneDrop": "predictors.strategies",
    "GPOptions": "predictors.gp",
    "GPPredictor": "predictors.gp_predictor",
    "GPSurrogate": "predictors.gp",
    "InclusionRidge": "predictors.strategies",
    "LinearScheffe": "predictors.baselines",
    "MeanChoice": "predictors.mean_selection",
    "MixtureGP": "predictors.gp_model",
    "ModelArgmax": "predictors.strategies",
    "PeakMean": "predictors.means",
    "ProposalStrategy": "predictors.strategies",
    "QuadraticScheffe": "predictors.baselines",
    "RecordError": "predictors.records",
    "RecordSet": "predictors.records",
    "RunRecord": "predictors.records",
    "RunRecordDataModule": "predictors.datamodule",
    "RunTable": "predictors.run_table",
    "ScheffePolynomial": "predictors.baselines",
    "SeedMixtures": "predictors.strategies",
    "choose_mean": "predictors.mean_selection",
    "fit_gp": "predictors.gp",
    "read_records": "predictors.records",
    "table_from_records": "predictors.run_table",
    "write_record": "predictors.records",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'predictors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
