"""Synthetic stand-ins for a VLM's generic pretraining, used to build the tiny base model.

A real base model (Qwen2-VL) arrives knowing where things are in an image; the tiny offline model starts from
random weights and learns it here: :class:`SyntheticGrounding`, the box of one described shape (stage 1,
``configs/tiny_pretrain.yaml``), and :class:`SyntheticOutline`, the same in another image style (part of
stage 2, ``configs/tiny_base.yaml``). Neither is a training domain or a benchmark.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from datamodules.sample import Record
from datamodules.synthetic.base import COLORS, SHAPES, Box, SyntheticSource, draw_shape, pick, place_box
from rewards.composite import VerifierSpec

_COLOR_NAMES = list(COLORS)


class SyntheticGrounding(SyntheticSource):
    """"Output the bounding box of the red circle": grounding of a described shape (box IoU).

    The scene has ``num_shapes`` shapes (a fifth to a third of the image side) with distinct descriptions.
    With one, the skill learned is localisation alone; binding a description to its place needs more.

    Args:
        num_shapes: Shapes per scene (1 to 4).
        **kwargs: :class:`~datamodules.synthetic.base.SyntheticSource`'s arguments.
    """

    def __init__(self, num_shapes: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 1 <= num_shapes <= 4:
            raise ValueError(f"num_shapes must be 1 to 4, got {num_shapes}")
        self.num_shapes = num_shapes

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        image, draw = self.canvas()
        boxes: list[Box] = []
        descs: list[tuple[str, str]] = []
        side = (self.image_size // 5, self.image_size // 3)
        while len(boxes) < self.num_shapes:
            box = place_box(rng, self.image_size, side, boxes)
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


#: Background of :class:`SyntheticOutline` (every other generator draws on white).
OUTLINE_BACKGROUND = (215, 215, 215)


class SyntheticOutline(SyntheticSource):
    """The box of a shape drawn as a 4-px outline on a grey background (box IoU): grounding in another style."""

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s = self.image_size
        target = place_box(rng, s, (s // 3, s // 2))
        image = Image.new("RGB", (s, s), OUTLINE_BACKGROUND)
        draw = ImageDraw.Draw(image)
        color, kind = pick(rng, _COLOR_NAMES), pick(rng, SHAPES)
        draw_shape(draw, kind, target, COLORS[color], outline=4)
        question = f"Output the bounding box of the {color} {kind} outline {self.box_hint()}."
        return Record(question, [image], list(target), {"template": "outline/one"})
