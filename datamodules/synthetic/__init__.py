"""Synthetic domains: small PIL scenes, deterministic from a seed, one per paper domain plus OOD benchmarks.

The world's design (which skill each domain trains, which skills each out-of-domain benchmark needs, where
domains help or hurt each other) and the runs that measure it are in ``docs/WORLD.md``.
"""

from datamodules.synthetic.base import SyntheticSource
from datamodules.synthetic.ood import SyntheticBarChart, SyntheticCounting, SyntheticPosition
from datamodules.synthetic.perception import SyntheticObjects, SyntheticReferring, SyntheticSpatial
from datamodules.synthetic.pretrain import SyntheticGrounding, SyntheticOutline
from datamodules.synthetic.reasoning import SyntheticGeometry, SyntheticScience

__all__ = [
    "SyntheticBarChart",
    "SyntheticCounting",
    "SyntheticGeometry",
    "SyntheticGrounding",
    "SyntheticObjects",
    "SyntheticOutline",
    "SyntheticPosition",
    "SyntheticReferring",
    "SyntheticScience",
    "SyntheticSource",
    "SyntheticSpatial",
]
