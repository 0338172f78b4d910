"""Synthetic stand-ins for the paper's multiple-choice domains: GeoQA-V (geometry) and ScienceQA (science).

Both answer with an option letter. The options are always listed in the same ascending order, so a letter
codes a value: a tiny model reads the value off the figure but cannot learn, at this size and budget, to find
a value among shuffled printed options (``docs/WORLD.md``). The correct value is drawn uniformly, so the
question text alone is worth chance (1 / #options).
"""

from __future__ import annotations

import math

import numpy as np

from datamodules.sample import Record
from datamodules.synthetic.base import SyntheticSource, options_text
from rewards.composite import VerifierSpec

_CHOICE_VERIFIERS = [VerifierSpec("think_answer_format", 1.0), VerifierSpec("choice_accuracy", 2.0)]
_LETTERS = "ABCDEFGH"


class SyntheticGeometry(SyntheticSource):
    """How many sides does the polygon have? Options A. 3, B. 4, C. 5, D. 6 (GeoQA-V-like, choice accuracy).

    A grey regular polygon, radius 30-42 % of the image side, turned at random, near the centre.
    Trains reading a figure's form.
    """

    OPTIONS = ("3", "4", "5", "6")

    def default_verifiers(self) -> list[VerifierSpec]:
        return list(_CHOICE_VERIFIERS)

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        sides = int(rng.integers(3, 7))
        radius = s * (0.30 + 0.12 * rng.random())
        turn = rng.random() * 2 * math.pi / sides
        cx = s / 2 + (rng.random() - 0.5) * 0.1 * s
        cy = s / 2 + (rng.random() - 0.5) * 0.1 * s
        points = [(cx + radius * math.cos(turn + 2 * math.pi * i / sides),
                   cy + radius * math.sin(turn + 2 * math.pi * i / sides)) for i in range(sides)]
        image, draw = self.canvas()
        draw.polygon(points, fill=(200, 200, 200), outline=(0, 0, 0), width=2)
        question = (f"How many sides does the polygon have? {options_text(self.OPTIONS)}. "
                    "Answer with the option's letter.")
        letter = _LETTERS[self.OPTIONS.index(str(sides))]
        return Record(question, [image], letter, {"options": list(self.OPTIONS), "template": "geometry/sides"})


def draw_level_gauge(draw, x: int, top: int, bottom: int, fraction: float) -> None:
    """A thermometer at column ``x``: a tube from ``top`` to ``bottom``, a bulb, 6 ticks, red liquid to ``fraction``."""
    draw.rounded_rectangle((x - 7, top - 3, x + 7, bottom + 3), radius=6, outline=(0, 0, 0), width=2)
    draw.ellipse((x - 11, bottom, x + 11, bottom + 20), fill=(220, 30, 30))
    for tick in range(6):
        y = bottom - tick / 5 * (bottom - top)
        draw.line((x + 8, y, x + 15, y), fill=(0, 0, 0), width=1)
    draw.rectangle((x - 4, bottom - fraction * (bottom - top), x + 4, bottom + 4), fill=(220, 30, 30))


class SyntheticScience(SyntheticSource):
    """What temperature does the thermometer show? Options A. 10 ... E. 50 (ScienceQA-like, choice accuracy).

    A thermometer on a fixed 0-50 scale with an unlabelled tick every 10 degrees, at a random column; the
    liquid stops at one of the five option values. Trains reading a level against a scale.

    Args:
        descending: List the options from 50 down to 10 (A. 50 ... E. 10), the other convention a dataset may
            use. The question says so in its option list, and the letter of a level is the mirror of the
            ascending one. The shipped tiny base, trained on ascending lists only, writes no well-formed answer
            to this form when decoding greedily (``docs/TRANSFER.md``, "The conflict world").
        **kwargs: :class:`SyntheticSource`'s arguments.
    """

    OPTIONS = ("10", "20", "30", "40", "50")

    def __init__(self, *, descending: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.descending = descending

    def default_verifiers(self) -> list[VerifierSpec]:
        return list(_CHOICE_VERIFIERS)

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        k = int(rng.integers(len(self.OPTIONS)))
        image, draw = self.canvas()
        x = s // 2 + int(rng.integers(-20, 21))
        draw_level_gauge(draw, x, top=10, bottom=s - 22, fraction=int(self.OPTIONS[k]) / 50)
        options = self.OPTIONS[::-1] if self.descending else self.OPTIONS
        question = (f"What temperature in degrees Celsius does the thermometer show? {options_text(options)}. "
                    "Answer with the option's letter.")
        template = "science/thermometer-descending" if self.descending else "science/thermometer"
        meta = {"options": list(options), "template": template}
        return Record(question, [image], _LETTERS[options.index(self.OPTIONS[k])], meta)
