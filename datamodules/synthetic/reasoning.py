"""Synthetic stand-ins for the paper's reasoning domains: GeoQA-V (geometry) and ScienceQA (science).

Both are multiple choice (options A-D, answer the letter). The numbers and names that decide the
answer are only drawn in the image, and the correct option sits at a uniformly random rank and
position among evenly spaced options, so the question text alone is worth chance (25 %).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from datamodules.sample import Record
from datamodules.synthetic.base import SyntheticSource, choice_options, font, options_text
from rewards.composite import VerifierSpec

_CHOICE_VERIFIERS = [("think_answer_format", 1.0), ("choice_accuracy", 2.0)]
#: Invented organism and object names: real ones would let world knowledge answer without the image.
_NAMES = ["vorn", "tarb", "quill", "mesk", "dral", "fenn", "zell", "pogo"]


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int) -> None:
    """Black text centred on ``xy``."""
    draw.text(xy, text, fill=(0, 0, 0), font=font(size), anchor="mm")


class SyntheticGeometry(SyntheticSource):
    """A figure with labelled lengths or angles; options A-D (GeoQA-V-like, choice accuracy).

    Templates: area or perimeter of a rectangle with labelled sides; the third angle of a triangle
    with two labelled angles; the hypotenuse of a right triangle with labelled legs (all need the
    labels read); the number of sides of a drawn polygon (needs the figure only: half of the
    questions at difficulty 1, a fifth above).
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec(n, w) for n, w in _CHOICE_VERIFIERS]

    def generate(self, rng: np.random.Generator) -> Record:
        labelled = ["area", "perimeter", "angle", "hypotenuse"]
        sides_share = 0.5 if self.difficulty == 1 else 0.2
        template = "sides" if rng.random() < sides_share else labelled[int(rng.integers(4))]
        image, draw = self.canvas()
        s = self.image_size
        fs = max(10, s // 9)
        if template == "sides":
            correct = int(rng.integers(3, 7))
            radius = s * (0.30 + 0.12 * rng.random())
            turn = rng.random() * 2 * math.pi / correct
            pts = [(s / 2 + radius * math.cos(turn + 2 * math.pi * i / correct),
                    s / 2 + radius * math.sin(turn + 2 * math.pi * i / correct)) for i in range(correct)]
            draw.polygon(pts, fill=(200, 200, 200), outline=(0, 0, 0), width=2)
            question = "How many sides does the polygon have?"
            step = 1
        elif template in ("area", "perimeter"):
            w, h = (int(v) for v in rng.integers(4, 13, size=2))
            scale = (s - 3 * fs) / 12
            x1, y1 = 1.5 * fs, 1.5 * fs
            x2, y2 = x1 + w * scale, y1 + h * scale
            draw.rectangle((x1, y1, x2, y2), outline=(0, 0, 0), width=2)
            _label(draw, ((x1 + x2) / 2, y2 + fs * 0.7), str(w), fs)
            _label(draw, (x2 + fs * 0.8, (y1 + y2) / 2), str(h), fs)
            correct = w * h if template == "area" else 2 * (w + h)
            question = f"What is the {template} of the rectangle?"
            step = int(rng.integers(2, 5))
        elif template == "angle":
            a = int(rng.integers(3, 9)) * 10
            b = int(rng.integers(3, 15 - a // 10)) * 10  # a + b <= 140, so the third angle is >= 40
            correct = 180 - a - b
            base = s - 2 * fs
            p0, p1 = (fs, s - fs), (fs + base, s - fs)
            # Apex from the two base angles (law of sines), then shrink the figure to fit.
            ta, tb = math.radians(a), math.radians(b)
            side = base * math.sin(tb) / math.sin(ta + tb)
            apex = (p0[0] + side * math.cos(ta), p0[1] - side * math.sin(ta))
            k = min(1.0, (s - 2 * fs) / max(1.0, p0[1] - apex[1]))
            pts = [
                (p0[0], p0[1]),
                (p0[0] + base * k, p1[1]),
                (p0[0] + (apex[0] - p0[0]) * k, p0[1] - (p0[1] - apex[1]) * k),
            ]
            draw.polygon(pts, outline=(0, 0, 0), width=2)
            _label(draw, (pts[0][0] + fs * 1.1, pts[0][1] - fs * 0.5), f"{a}°", fs)
            _label(draw, (pts[1][0] - fs * 1.1, pts[1][1] - fs * 0.5), f"{b}°", fs)
            question = "Two angles of the triangle are marked. What is the third angle, in degrees?"
            step = 10
        else:
            k = int(rng.integers(1, 3))
            leg_a, leg_b, hyp = [(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25)][int(rng.integers(4))]
            if rng.random() < 0.5:
                leg_a, leg_b = leg_b, leg_a
            leg_a, leg_b, hyp = leg_a * k, leg_b * k, hyp * k
            scale = (s - 3 * fs) / max(leg_a, leg_b)
            p0 = (1.5 * fs, s - 1.5 * fs)
            pts = [p0, (p0[0] + leg_a * scale, p0[1]), (p0[0], p0[1] - leg_b * scale)]
            draw.polygon(pts, outline=(0, 0, 0), width=2)
            draw.rectangle((p0[0], p0[1] - 6, p0[0] + 6, p0[1]), outline=(0, 0, 0))
            _label(draw, ((pts[0][0] + pts[1][0]) / 2, p0[1] + fs * 0.7), str(leg_a), fs)
            _label(draw, (p0[0] - fs * 0.8, (pts[0][1] + pts[2][1]) / 2), str(leg_b), fs)
            correct = hyp
            question = "The triangle has a right angle and two labelled legs. How long is the hypotenuse?"
            step = int(rng.integers(1, 4))
        options, letter = choice_options(rng, correct, step, low=3 if template == "sides" else 1)
        question = f"{question} {options_text(options)}. Answer with the option's letter."
        return Record(question, [image], letter, {"options": options, "template": f"geometry/{template}"})


class SyntheticScience(SyntheticSource):
    """A simple science diagram; options A-D (ScienceQA-like, choice accuracy).

    Templates: read a thermometer; the top predator of a drawn food chain; the heavier of two
    objects on a tilted balance (the last two need the drawn names read). At difficulty 1 half the
    questions are thermometers with a fixed 0-50 scale, readable from the liquid's height alone.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec(n, w) for n, w in _CHOICE_VERIFIERS]

    def generate(self, rng: np.random.Generator) -> Record:
        easy = self.difficulty == 1 and rng.random() < 0.5
        template = "thermometer" if easy else ["thermometer", "food_chain", "balance"][int(rng.integers(3))]
        image, draw = self.canvas()
        s = self.image_size
        fs = max(10, s // 10)
        if template == "thermometer":
            low = 0 if easy else int(rng.integers(-2, 3)) * 10
            value = low + int(rng.integers(1, 10)) * 5
            top, bottom, x = fs, s - 2 * fs, s // 2
            draw.rounded_rectangle((x - 5, top - 3, x + 5, bottom + 3), radius=5, outline=(0, 0, 0), width=2)
            draw.ellipse((x - 9, bottom, x + 9, bottom + 18), fill=(220, 30, 30))
            y_of = lambda v: bottom - (v - low) / 50 * (bottom - top)  # noqa: E731 - the scale of this drawing
            for v in range(low, low + 51, 10):
                draw.line((x + 6, y_of(v), x + 12, y_of(v)), fill=(0, 0, 0))
                _label(draw, (x + 12 + fs, y_of(v)), str(v), fs)
            draw.rectangle((x - 3, y_of(value), x + 3, bottom + 4), fill=(220, 30, 30))
            options, letter = choice_options(rng, value, 5, low=-100)
            question = "What temperature in degrees Celsius does the thermometer show?"
        elif template == "food_chain":
            names = [str(n) for n in rng.choice(_NAMES, size=4, replace=False)]
            # Drawn bottom (food) to top (predator) in a column; arrows point from food to eater.
            ys = [s - fs * 1.2 - i * (s - 2.4 * fs) / 3 for i in range(4)]
            for i, (name, y) in enumerate(zip(names, ys)):
                _label(draw, (s / 2, y), name, fs)
                if i < 3:
                    draw.line((s / 2, y - fs * 0.6, s / 2, ys[i + 1] + fs * 0.6), fill=(0, 0, 0), width=2)
                    tip = ys[i + 1] + fs * 0.6
                    draw.polygon([(s / 2, tip), (s / 2 - 4, tip + 6), (s / 2 + 4, tip + 6)], fill=(0, 0, 0))
            order = [int(i) for i in rng.permutation(4)]
            options = [names[i] for i in order]
            letter = "ABCD"[options.index(names[3])]
            question = "The arrows point from food to eater. Which organism is at the top of this food chain?"
        else:
            names = [str(n) for n in rng.choice(_NAMES, size=4, replace=False)]
            left, right = names[0], names[1]
            heavier_left = bool(rng.random() < 0.5)
            tilt = 0.18 * (1 if heavier_left else -1)  # the heavier side goes down
            cx, cy, half = s / 2, s * 0.6, s * 0.38
            lx, ly = cx - half * math.cos(tilt), cy + half * math.sin(tilt)
            rx, ry = cx + half * math.cos(tilt), cy - half * math.sin(tilt)
            draw.polygon([(cx, cy), (cx - 8, cy + 16), (cx + 8, cy + 16)], fill=(90, 90, 90))
            draw.line((lx, ly, rx, ry), fill=(0, 0, 0), width=3)
            for (px, py), name in (((lx, ly), left), ((rx, ry), right)):
                draw.rectangle((px - 9, py - 18, px + 9, py - 2), fill=(30, 70, 220))
                _label(draw, (px, py - 18 - fs * 0.7), name, fs)
            order = [int(i) for i in rng.permutation(4)]
            options = [names[i] for i in order]
            letter = "ABCD"[options.index(left if heavier_left else right)]
            question = "The balance tips towards the heavier object. Which object is heavier?"
        question = f"{question} {options_text(options)}. Answer with the option's letter."
        return Record(question, [image], letter, {"options": options, "template": f"science/{template}"})
