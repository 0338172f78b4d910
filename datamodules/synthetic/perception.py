"""Synthetic stand-ins for the paper's perception domains: COCO (objects), LISA (referring), SAT (spatial).

Each scene holds one or two large shapes (a quarter to a half of the image side, several of the 16 image tokens
of the tiny model), so what a question asks is visible without binding a description to one of many objects.
The skills they train and share are listed in ``docs/WORLD.md``.
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
    pick,
    place_box,
    place_boxes,
)
from rewards.composite import VerifierSpec

_COLOR_NAMES = list(COLORS)
#: Grey of the referring domain's distractor: no colour word of the questions names it.
DISTRACTOR_GREY = (150, 150, 150)


class SyntheticObjects(SyntheticSource):
    """Find every shape; answer: the list of their boxes (COCO-like, multi-box IoU).

    One or two shapes of any kind and colour, 28-41 px at 112 px; the answer lists them all, so the count is
    part of the answer (a missing or extra box lowers the score). Trains localisation and counting.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("multi_box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        n = int(rng.integers(1, 3))
        boxes = place_boxes(rng, s, n, (s // 4, s // 3 + 4))
        image, draw = self.canvas()
        draw_random_shapes(draw, rng, boxes)
        boxes.sort()
        question = f"Find every shape in the image and output their bounding boxes {self.box_hint()}."
        return Record(question, [image], boxes, {"template": f"objects/{n}"})


class SyntheticReferring(SyntheticSource):
    """"Output the bounding box of the red circle": one coloured shape and a small grey square (LISA-like, box IoU).

    The described shape (a third to a half of the image side) is the only coloured one; the grey square
    (a ninth to a seventh) is a distractor a box prior cannot ignore. Trains localisation.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        target = place_box(rng, s, (s // 3, s // 2))
        distractor = place_box(rng, s, (s // 9, s // 7), [target])
        image, draw = self.canvas()
        color, kind = pick(rng, _COLOR_NAMES), pick(rng, SHAPES)
        if distractor is not None:
            draw_shape(draw, "square", distractor, DISTRACTOR_GREY)
        draw_shape(draw, kind, target, COLORS[color])
        question = f"Output the bounding box of the {color} {kind} {self.box_hint()}."
        return Record(question, [image], list(target), {"template": "referring/one"})


#: The four answers of :class:`SyntheticSpatial`, also the words of :class:`datamodules.SyntheticPosition`.
EDGES = ("left", "right", "top", "bottom")


class SyntheticSpatial(SyntheticSource):
    """Which edge of the image is the shape nearest to? ``left``, ``right``, ``top`` or ``bottom`` (SAT-like).

    The answer is drawn first, uniformly; the shape (a fifth to a third of the image side) sits off the corners,
    its nearest edge at least 8 px nearer than the next; scored by exact match. Trains coarse position, named with
    the edge words.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("exact_match", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        while True:
            answer = pick(rng, EDGES)
            side = int(rng.integers(s // 5, s // 3))
            along = int(rng.integers(side // 2 + 14, s - side // 2 - 14))  # centre along the edge, off the corners
            gap = int(rng.integers(2, s // 5))  # distance to the answered edge
            if answer == "left":
                cx, cy = gap + side // 2, along
            elif answer == "right":
                cx, cy = s - 1 - gap - side // 2, along
            elif answer == "top":
                cx, cy = along, gap + side // 2
            else:
                cx, cy = along, s - 1 - gap - side // 2
            box = [cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side]
            distance = {"left": box[0], "right": s - 1 - box[2], "top": box[1], "bottom": s - 1 - box[3]}
            if sorted(distance.values())[1] - distance[answer] >= 8:  # the nearest edge is clear to the eye
                break
        image, draw = self.canvas()
        color, kind = pick(rng, _COLOR_NAMES), pick(rng, SHAPES)
        draw_shape(draw, kind, box, COLORS[color])
        question = f"Which edge of the image is the {color} {kind} nearest to? Answer left, right, top or bottom."
        return Record(question, [image], answer, {"template": "spatial/edge"})
