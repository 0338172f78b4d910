"""Data sources: the interface, the real-data adapters and their parsers."""

from datamodules.sources.base import BadSampleError, Source, SourceSplit
from datamodules.sources.benchmarks import BenchmarkSource, ChartQASource, InfoVQASource, MathVistaSource, MMMUSource
from datamodules.sources.hf import HFSource, fit_size
from datamodules.sources.paper import (
    GeoQAVSource,
    LISASource,
    ProblemSolutionSource,
    SATSource,
    ScienceQASource,
    ViRFTCOCOSource,
)

__all__ = [
    "BadSampleError",
    "BenchmarkSource",
    "ChartQASource",
    "GeoQAVSource",
    "HFSource",
    "InfoVQASource",
    "LISASource",
    "MMMUSource",
    "MathVistaSource",
    "ProblemSolutionSource",
    "SATSource",
    "ScienceQASource",
    "Source",
    "SourceSplit",
    "ViRFTCOCOSource",
    "fit_size",
]
