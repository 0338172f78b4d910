"""Synthetic domains: small PIL scenes, deterministic from a seed, one per paper domain plus OOD sets."""

from datamodules.synthetic.base import SyntheticSource
from datamodules.synthetic.ood import SyntheticBarChart, SyntheticComposed, SyntheticCounting
from datamodules.synthetic.perception import SyntheticObjects, SyntheticReferring, SyntheticSpatial
from datamodules.synthetic.pretrain import SyntheticGrounding
from datamodules.synthetic.reasoning import SyntheticGeometry, SyntheticScience

__all__ = [
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
]
