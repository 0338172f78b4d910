"""Multi-domain mixture data: domains, sources (synthetic and real), the mixture sampler and the DataModule."""

from datamodules.datamodule import MultiDomainDataModule
from datamodules.domain import Domain, normalize_weights
from datamodules.sample import DEFAULT_PROMPT_TEMPLATE, PROMPT_SUFFIX, EvalBenchmark, Record, Sample
from datamodules.sampler import MixtureSampler
from datamodules.sources import (
    BadSampleError,
    ChartQASource,
    GeoQAVSource,
    HFSource,
    InfoVQASource,
    LISASource,
    MathVistaSource,
    MMMUSource,
    ProblemSolutionSource,
    SATSource,
    ScienceQASource,
    Source,
    SourceSplit,
    ViRFTCOCOSource,
)
from datamodules.stream import MixtureBatch, MixtureStream
from datamodules.synthetic import (
    SyntheticBarChart,
    SyntheticComposed,
    SyntheticCounting,
    SyntheticGeometry,
    SyntheticGrounding,
    SyntheticObjects,
    SyntheticReferring,
    SyntheticScience,
    SyntheticSource,
    SyntheticSpatial,
)

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "PROMPT_SUFFIX",
    "BadSampleError",
    "ChartQASource",
    "Domain",
    "EvalBenchmark",
    "GeoQAVSource",
    "HFSource",
    "InfoVQASource",
    "LISASource",
    "MMMUSource",
    "MathVistaSource",
    "MixtureBatch",
    "MixtureSampler",
    "MixtureStream",
    "MultiDomainDataModule",
    "ProblemSolutionSource",
    "Record",
    "SATSource",
    "Sample",
    "ScienceQASource",
    "Source",
    "SourceSplit",
    "SyntheticBarChart",
    "SyntheticComposed",
    "SyntheticCounting",
    "SyntheticGeometry",
    "SyntheticGrounding",
    "SyntheticObjects",
    "SyntheticReferring",
    "SyntheticScience",
    "SyntheticSource",
    "SyntheticSpatial",
    "ViRFTCOCOSource",
    "normalize_weights",
]
