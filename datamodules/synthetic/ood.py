"""Synthetic out-of-domain evaluation sets: skills the training domains do not ask for directly.

- :class:`SyntheticBarChart`: read a value off a bar chart (ChartQA-like, numeric answer);
- :class:`SyntheticCounting`: count shapes of a colour or kind (numeric answer);
- :class:`SyntheticComposed`: count the shapes on one side of a described shape (spatial + counting).

Answers are drawn first, uniformly, so the question text alone is worth chance.
"""

from __future__ import annotations

import numpy as np

from datamodules.sample import Record
from datamodules.synthetic.base import COLORS, SHAPES, SyntheticSource, draw_shape, font, place_box
from rewards.composite import VerifierSpec

_NUMERIC_VERIFIERS = [("think_answer_format", 1.0), ("numeric_match", 2.0)]
_COLOR_NAMES = list(COLORS)


class SyntheticBarChart(SyntheticSource):
    """A bar chart with 3-5 lettered bars and their values written on top; asks one bar's value."""

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec(n, w) for n, w in _NUMERIC_VERIFIERS]

    def generate(self, rng: np.random.Generator) -> Record:
        n = int(rng.integers(3, 6))
        values = [int(v) for v in rng.integers(1, 21, size=n)]
        labels = [chr(ord("P") + i) for i in range(n)]
        image, draw = self.canvas()
        s = self.image_size
        fs = max(10, s // 10)
        base, top = s - fs * 1.4, fs * 1.4
        width = (s - 8) / n
        draw.line((2, base, s - 2, base), fill=(0, 0, 0))
        for i, (label, value) in enumerate(zip(labels, values)):
            x1 = 4 + i * width + width * 0.15
            x2 = x1 + width * 0.7
            y = base - value / 20 * (base - top)
            draw.rectangle((x1, y, x2, base), fill=(30, 70, 220))
            draw.text(((x1 + x2) / 2, y - 2), str(value), fill=(0, 0, 0), font=font(fs), anchor="mb")
            draw.text(((x1 + x2) / 2, base + 2), label, fill=(0, 0, 0), font=font(fs), anchor="mt")
        asked = int(rng.integers(n))
        question = f"What is the value of bar {labels[asked]} in the chart? Answer with a number."
        return Record(question, [image], str(values[asked]), {"template": "chart/value"})


class SyntheticCounting(SyntheticSource):
    """How many shapes of a colour (or of a kind) are there; the count is uniform in 1..4."""

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec(n, w) for n, w in _NUMERIC_VERIFIERS]

    def generate(self, rng: np.random.Generator) -> Record:
        by_color = bool(rng.random() < 0.5)
        target = _COLOR_NAMES[int(rng.integers(len(_COLOR_NAMES)))] if by_color else SHAPES[int(rng.integers(3))]
        count = int(rng.integers(1, 5))
        n_other = int(rng.integers(1, 2 + self.difficulty))
        image, draw = self.canvas()
        taken: list[list[int]] = []
        placed = 0
        side = self.shape_side()
        for i in range(count + n_other):
            box = place_box(rng, self.image_size, (side[0] - side[0] // 4, side[1] - side[1] // 4), taken)
            if box is None:
                if i < count:  # the count must be exact: retry the whole scene with the same rng
                    return self.generate(rng)
                break
            taken.append(box)
            is_target = i < count
            if by_color:
                color = target if is_target else _other(rng, _COLOR_NAMES, target)
                kind = SHAPES[int(rng.integers(3))]
            else:
                kind = target if is_target else _other(rng, list(SHAPES), target)
                color = _COLOR_NAMES[int(rng.integers(len(_COLOR_NAMES)))]
            draw_shape(draw, kind, box, COLORS[color])
            placed += is_target
        noun = f"{target} shapes" if by_color else f"{target}s"
        question = f"How many {noun} are in the image? Answer with a number."
        return Record(question, [image], str(placed), {"template": f"count/{'color' if by_color else 'kind'}"})


class SyntheticComposed(SyntheticSource):
    """How many shapes lie entirely left (or right) of a described shape: spatial relation + counting."""

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec(n, w) for n, w in _NUMERIC_VERIFIERS]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        side = (s // 9, s // 7)
        relation = "left" if rng.random() < 0.5 else "right"
        count = int(rng.integers(0, 4))
        anchor = place_box(rng, s, side, region=(2 * s // 5, 2, 3 * s // 5, s - 3))
        assert anchor is not None  # the central strip always has room for one shape
        inside = (2, 2, anchor[0] - 3, s - 3) if relation == "left" else (anchor[2] + 3, 2, s - 3, s - 3)
        outside = (anchor[0], 2, s - 3, s - 3) if relation == "left" else (2, 2, anchor[2], s - 3)
        taken = [anchor]
        for _ in range(count):
            box = place_box(rng, s, side, taken, region=inside)
            if box is None:
                return self.generate(rng)
            taken.append(box)
        for _ in range(int(rng.integers(1, 2 + self.difficulty))):
            box = place_box(rng, s, side, taken, region=outside)
            if box is not None:
                taken.append(box)
        image, draw = self.canvas()
        color, kind = _COLOR_NAMES[int(rng.integers(len(_COLOR_NAMES)))], SHAPES[int(rng.integers(3))]
        draw_shape(draw, kind, anchor, COLORS[color])
        for box in taken[1:]:
            other = (_other(rng, _COLOR_NAMES, color), SHAPES[int(rng.integers(3))])
            draw_shape(draw, other[1], box, COLORS[other[0]])
        question = (
            f"How many shapes lie entirely to the {relation} of the {color} {kind}? Answer with a number."
        )
        return Record(question, [image], str(count), {"template": f"composed/{relation}"})


def _other(rng: np.random.Generator, items: list[str], exclude: str) -> str:
    rest = [x for x in items if x != exclude]
    return rest[int(rng.integers(len(rest)))]
