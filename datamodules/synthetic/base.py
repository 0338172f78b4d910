"""Shared machinery of the synthetic domains: seeding, splits, shapes and drawing.

Every record is a pure function of ``(seed, part, index)``: nothing is cached or written to disk,
and a record costs well under a millisecond to build at the default 112 x 112 size.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from datamodules.sample import Record
from datamodules.sources.base import Part, Source, SourceSplit
from rewards.boxes import BOX_FORMATS

BoxFormat = Literal["pixel", "norm1000", "unit"]
Box = list[int]

#: Colour names the questions use, with saturated RGB values that stay distinct after resizing.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (235, 200, 0),
    "purple": (140, 40, 170),
    "orange": (245, 130, 20),
}
SHAPES = ("square", "circle", "triangle")
_PART_IDS = {"train": 0, "eval": 1}


def draw_shape(
    draw: ImageDraw.ImageDraw, kind: str, box: Sequence[int], color: tuple[int, int, int], outline: int = 0
) -> None:
    """Draws a shape whose bounding box is exactly ``box = [x1, y1, x2, y2]`` (inclusive).

    Args:
        draw: The drawer.
        kind: ``square``, ``circle`` or ``triangle``.
        box: The bounding box in pixels.
        color: RGB colour.
        outline: 0 fills the shape; a positive width draws only its outline, that many pixels wide.
    """
    x1, y1, x2, y2 = box
    style = {"outline": color, "width": outline} if outline else {"fill": color}
    if kind == "square":
        draw.rectangle((x1, y1, x2, y2), **style)
    elif kind == "circle":
        draw.ellipse((x1, y1, x2, y2), **style)
    elif kind == "triangle":
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], **style)
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {SHAPES}")


def overlaps(a: Sequence[int], b: Sequence[int], gap: int = 2) -> bool:
    """True if boxes ``a`` and ``b`` come closer than ``gap`` pixels."""
    return not (a[2] + gap < b[0] or b[2] + gap < a[0] or a[3] + gap < b[1] or b[3] + gap < a[1])


def place_box(
    rng: np.random.Generator,
    image_size: int,
    side: tuple[int, int],
    taken: Sequence[Sequence[int]] = (),
    region: tuple[int, int, int, int] | None = None,
    tries: int = 200,
) -> Box | None:
    """A random square box of side in ``side`` inside ``region`` not overlapping ``taken``.

    Args:
        rng: Random generator.
        image_size: Image side in pixels.
        side: Inclusive range of the box side.
        taken: Boxes to keep clear of.
        region: ``(x1, y1, x2, y2)`` the box must lie in; default the whole image less a margin.
        tries: Rejection-sampling budget (bounded so generation time is bounded).

    Returns:
        ``[x1, y1, x2, y2]`` in pixels, or ``None`` if no position was found.
    """
    margin = 2
    rx1, ry1, rx2, ry2 = region or (margin, margin, image_size - 1 - margin, image_size - 1 - margin)
    for _ in range(tries):
        s = int(rng.integers(side[0], side[1] + 1))
        if rx2 - rx1 < s or ry2 - ry1 < s:
            continue
        x = int(rng.integers(rx1, rx2 - s + 1))
        y = int(rng.integers(ry1, ry2 - s + 1))
        box = [x, y, x + s, y + s]
        if not any(overlaps(box, t) for t in taken):
            return box
    return None



def place_boxes(rng: np.random.Generator, image_size: int, n: int, side: tuple[int, int]) -> list[Box]:
    """``n`` non-overlapping square boxes with sides in ``side``, drawn again from scratch until all fit.

    Callers keep ``n * side`` well inside the image, so a retry is rare.
    """
    while True:
        boxes: list[Box] = []
        for _ in range(n):
            box = place_box(rng, image_size, side, boxes, tries=100)
            if box is not None:
                boxes.append(box)
        if len(boxes) == n:
            return boxes


def draw_random_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, boxes: Sequence[Box]) -> None:
    """One shape of a random kind and colour in each box."""
    for box in boxes:
        draw_shape(draw, pick(rng, SHAPES), box, COLORS[pick(rng, list(COLORS))])

def options_text(options: Sequence[str]) -> str:
    """``"Options: A. x, B. y, ..."`` as the question text lists them."""
    return "Options: " + ", ".join(f"{'ABCDEFGH'[i]}. {o}" for i, o in enumerate(options))


def pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    """One of ``items``, uniformly."""
    return items[int(rng.integers(len(items)))]


class _SyntheticSplit(SourceSplit):
    def __init__(self, source: SyntheticSource, part: Part, size: int) -> None:
        self.source = source
        self.part_id = _PART_IDS[part]
        self.size = size

    def __len__(self) -> int:
        return self.size

    def record(self, index: int) -> Record:
        if not 0 <= index < self.size:
            raise IndexError(f"record {index} out of range [0, {self.size})")
        rng = np.random.default_rng([self.source.seed, self.part_id, index])
        record = self.source.generate(rng)
        record.meta.setdefault("image_size", [self.source.image_size, self.source.image_size])
        record.meta.setdefault("box_format", self.source.box_format)
        return record


class SyntheticSource(Source):
    """Base of the synthetic domains: a deterministic generator with a train and an eval part.

    Train and eval records come from different seed streams (``(seed, 0, i)`` and ``(seed, 1, i)``).

    Args:
        train_size: Number of training records (0: no train part).
        eval_size: Number of evaluation records (0: no eval part).
        seed: Seed of the generator.
        image_size: Side of the square images in pixels.
        box_format: How the model is asked to write boxes (``meta["box_format"]``); ground-truth
            boxes are always pixels of the generated image.
    """

    def __init__(
        self,
        train_size: int = 1000,
        eval_size: int = 100,
        seed: int = 0,
        image_size: int = 112,
        box_format: BoxFormat = "pixel",
    ) -> None:
        if train_size < 0 or eval_size < 0:
            raise ValueError(f"sizes must be >= 0, got train_size={train_size}, eval_size={eval_size}")
        if not 64 <= image_size <= 2048:
            raise ValueError(f"image_size must be in [64, 2048], got {image_size}")
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
        self.train_size = train_size
        self.eval_size = eval_size
        self.seed = seed
        self.image_size = image_size
        self.box_format = box_format

    def split(self, part: Part) -> SourceSplit | None:
        size = self.train_size if part == "train" else self.eval_size
        return _SyntheticSplit(self, part, size) if size > 0 else None

    def canvas(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        """A white RGB image of ``image_size`` and a drawer on it."""
        image = Image.new("RGB", (self.image_size, self.image_size), (255, 255, 255))
        return image, ImageDraw.Draw(image)

    def box_hint(self) -> str:
        """How the question asks for boxes in ``box_format``."""
        return {
            "pixel": f"as [x1, y1, x2, y2] in pixels of the {self.image_size}x{self.image_size} image",
            "norm1000": "as [x1, y1, x2, y2] scaled to 0-1000",
            "unit": "as [x1, y1, x2, y2] scaled to 0-1",
        }[self.box_format]

    @abstractmethod
    def generate(self, rng: np.random.Generator) -> Record:
        """Builds one record from ``rng`` (the only source of randomness)."""
