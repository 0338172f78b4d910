"""Synthetic out-of-domain benchmarks: each asks a training domain's skill in another form, with its answer type.

- :class:`SyntheticCounting`: how many shapes (CountBench-like, a number) — the count the objects domain writes
  as a number of boxes;
- :class:`SyntheticBarChart`: the value of a bar against a grid, options in a fixed order (ChartQA-like, a
  letter) — the science domain's level reading in a chart;
- :class:`SyntheticPosition`: which corner holds the shape (two words) — the spatial domain's edge words,
  two at a time.

Answers are drawn first, uniformly, so the question text alone is worth chance. ``docs/WORLD.md`` lists
which domains each needs and the runs that measure it.
"""

from __future__ import annotations

import numpy as np

from datamodules.sample import Record
from datamodules.synthetic.base import (
    COLORS,
    SHAPES,
    SyntheticSource,
    draw_random_shapes,
    draw_shape,
    options_text,
    pick,
    place_box,
    place_boxes,
)
from rewards.composite import VerifierSpec

_COLOR_NAMES = list(COLORS)


class SyntheticCounting(SyntheticSource):
    """How many shapes are in the image (1-4, uniform)? Numeric answer."""

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("numeric_match", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        n = int(rng.integers(1, 5))
        boxes = place_boxes(rng, s, n, (s // 5, s // 4 + 2))
        image, draw = self.canvas()
        draw_random_shapes(draw, rng, boxes)
        return Record("How many shapes are in the image? Answer with a number.", [image], str(n),
                      {"template": f"counting/{n}"})


class SyntheticBarChart(SyntheticSource):
    """One bar against grid lines at 0, 2, ..., 10: its value among options A. 2 ... E. 10 (choice accuracy)."""

    OPTIONS = ("2", "4", "6", "8", "10")

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("choice_accuracy", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        k = int(rng.integers(len(self.OPTIONS)))
        image, draw = self.canvas()
        base, top = s - 10, 10
        for v in range(0, 11, 2):
            y = base - v / 10 * (base - top)
            draw.line((8, y, s - 8, y), fill=(190, 190, 190), width=1)
        x1 = int(rng.integers(14, s - 40))
        y = base - int(self.OPTIONS[k]) / 10 * (base - top)
        draw.rectangle((x1, y, x1 + 24, base), fill=COLORS[pick(rng, _COLOR_NAMES)])
        question = f"What value does the bar show? {options_text(self.OPTIONS)}. Answer with the option's letter."
        return Record(question, [image], "ABCDE"[k], {"options": list(self.OPTIONS), "template": "chart/choice"})


class SyntheticPosition(SyntheticSource):
    """Which corner of the image is the shape in? ``top left`` ... ``bottom right`` (exact match).

    The shape (an eighth to a fifth of the image side) lies anywhere in its quarter, up to 1 px from the
    midlines, so the answer needs both of the spatial domain's axes at once.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("exact_match", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        vertical, horizontal = pick(rng, ("top", "bottom")), pick(rng, ("left", "right"))
        half = s // 2
        region = (2 if horizontal == "left" else half + 1, 2 if vertical == "top" else half + 1,
                  half - 1 if horizontal == "left" else s - 3, half - 1 if vertical == "top" else s - 3)
        box = place_box(rng, s, (s // 8, s // 5), region=region)
        image, draw = self.canvas()
        color, kind = pick(rng, _COLOR_NAMES), pick(rng, SHAPES)
        draw_shape(draw, kind, box, COLORS[color])
        question = (f"Which corner of the image is the {color} {kind} in? "
                    "Answer top left, top right, bottom left or bottom right.")
        return Record(question, [image], f"{vertical} {horizontal}", {"template": "position/corner"})
