"""Synthetic stand-ins for a VLM's generic pretraining, used to build the tiny base model.

A real base model (Qwen2-VL) arrives knowing where things are in an image and how many there are; the
tiny offline model starts from random weights. These generators teach those generic skills before the
training domains are seen (``configs/tiny_base.yaml``); they are not training domains of the paper.
:class:`datamodules.SyntheticCounting` (numeric answers) plays the same role for counting.
"""

from __future__ import annotations

import numpy as np

from datamodules.sample import Record
from datamodules.synthetic.base import COLORS, SHAPES, Box, SyntheticSource, draw_shape, place_box
from rewards.composite import VerifierSpec

_COLOR_NAMES = list(COLORS)


class SyntheticGrounding(SyntheticSource):
    """"Output the bounding box of the red circle": grounding of a described shape (box IoU).

    The scene has ``difficulty`` shapes with distinct descriptions (one at difficulty 1, so the skill
    learned first is localisation alone; binding a description to its place comes with more shapes).
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        image, draw = self.canvas()
        boxes: list[Box] = []
        descs: list[tuple[str, str]] = []
        while len(boxes) < self.difficulty:
            box = place_box(rng, self.image_size, self.shape_side(), boxes)
            desc = (_COLOR_NAMES[int(rng.integers(len(_COLOR_NAMES)))], SHAPES[int(rng.integers(len(SHAPES)))])
            if box is None:  # no room left: start the scene again from the same stream
                boxes, descs = [], []
                image, draw = self.canvas()
                continue
            if desc in descs:
                continue
            boxes.append(box)
            descs.append(desc)
            draw_shape(draw, desc[1], box, COLORS[desc[0]])
        asked = int(rng.integers(len(boxes)))
        color, kind = descs[asked]
        question = f"Output the bounding box of the {color} {kind} {self.box_hint()}."
        return Record(question, [image], list(boxes[asked]), {"template": f"grounding/{len(boxes)}"})
