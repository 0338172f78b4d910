"""Synthetic stand-ins for the paper's perception domains: COCO (objects), LISA (referring), SAT (spatial)."""

from __future__ import annotations

import numpy as np

from datamodules.sample import Record
from datamodules.synthetic.base import COLORS, SHAPES, Box, SyntheticSource, draw_shape, place_box
from rewards.composite import VerifierSpec

_COLOR_NAMES = list(COLORS)


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _unique_desc(rng: np.random.Generator, used: set[tuple[str, str]]) -> tuple[str, str]:
    """A (colour, shape) pair not in ``used`` (and adds it)."""
    while True:
        desc = (_pick(rng, _COLOR_NAMES), _pick(rng, list(SHAPES)))
        if desc not in used:
            used.add(desc)
            return desc


def _render(source: SyntheticSource, shapes: list[tuple[str, str, Box]]):
    image, draw = source.canvas()
    for color, kind, box in shapes:
        draw_shape(draw, kind, box, COLORS[color])
    return image


class SyntheticObjects(SyntheticSource):
    """Find every shape of a named kind; answer: the list of their boxes (COCO-like, multi-box IoU).

    1 to ``1 + difficulty`` shapes are of the asked kind; ``0`` to ``difficulty`` others are of other
    kinds. At difficulty 1 half the scenes have no other kind, so a model that can localise shapes but
    not yet tell kinds apart scores on part of the domain (the tiny base model's starting point).
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("multi_box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        kind = _pick(rng, list(SHAPES))
        others = [k for k in SHAPES if k != kind]
        n_target = int(rng.integers(1, 2 + self.difficulty))
        n_total = n_target + int(rng.integers(0, 1 + self.difficulty))
        side = self.shape_side()
        shapes: list[tuple[str, str, Box]] = []
        for i in range(n_total):
            box = place_box(rng, self.image_size, side, [b for _, _, b in shapes])
            if box is None:
                break
            shapes.append((_pick(rng, _COLOR_NAMES), kind if i < n_target else _pick(rng, others), box))
        boxes = [b for _, k, b in shapes if k == kind]
        question = f"Find every {kind} in the image and output their bounding boxes {self.box_hint()}."
        return Record(question, [_render(self, shapes)], boxes, {"template": "objects/find_all"})


_RELATIONS = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}


def _region_beyond(relation: str, anchor: Box, size: int) -> tuple[int, int, int, int]:
    """The part of a ``size``-pixel image strictly ``relation`` (left/right/above/below) of ``anchor``, 3 px apart."""
    return {
        "left": (2, 2, anchor[0] - 3, size - 3),
        "right": (anchor[2] + 3, 2, size - 3, size - 3),
        "above": (2, 2, size - 3, anchor[1] - 3),
        "below": (2, anchor[3] + 3, size - 3, size - 3),
    }[relation]


def _strictly(relation: str, box: Box, anchor: Box) -> bool:
    """True if ``box`` lies entirely on the ``relation`` side of ``anchor``."""
    return {
        "left": box[2] < anchor[0],
        "right": box[0] > anchor[2],
        "above": box[3] < anchor[1],
        "below": box[1] > anchor[3],
    }[relation]


class SyntheticReferring(SyntheticSource):
    """"The shape to the left of the red square": answer its box (LISA-like, single-box IoU).

    Exactly one shape lies entirely on the named side of the uniquely described anchor; the
    ``difficulty - 1`` distractors never do. At difficulty 1 the scene is the anchor and the target
    alone, so the answer is also the extreme shape in the named direction.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("box_iou", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s, side = self.image_size, self.shape_side()
        while True:  # bounded in practice: every relation leaves room at these sizes
            relation = _pick(rng, list(_RELATIONS))
            room = side[1] + 6
            region = {
                "left": (room, 2, s - 3, s - 3),
                "right": (2, 2, s - 3 - room, s - 3),
                "above": (2, room, s - 3, s - 3),
                "below": (2, 2, s - 3, s - 3 - room),
            }[relation]
            anchor = place_box(rng, s, side, region=region)
            if anchor is None:
                continue
            target = place_box(rng, s, side, [anchor], region=_region_beyond(relation, anchor, s))
            if target is not None:
                break
        used: set[tuple[str, str]] = set()
        anchor_desc = _unique_desc(rng, used)
        shapes = [(*anchor_desc, anchor), (*_unique_desc(rng, used), target)]
        for _ in range(self.difficulty - 1):
            box = place_box(rng, s, side, [b for _, _, b in shapes])
            if box is not None and not _strictly(relation, box, anchor):
                shapes.append((*_unique_desc(rng, used), box))
        color, kind = anchor_desc
        question = (
            f"Output the bounding box of the shape {_RELATIONS[relation]} the {color} {kind} {self.box_hint()}."
        )
        return Record(question, [_render(self, shapes)], list(target), {"template": f"referring/{relation}"})


class SyntheticSpatial(SyntheticSource):
    """Spatial relations answered with one word (SAT-like, exact match).

    Templates: left/right of, above/below, which of two shapes is nearer to a third (answered with its
    colour), and which of 2-3 shapes lies furthest in a direction (answered with its colour; half of
    the questions at difficulty 1, since it needs no binding of a named shape to its place). The
    answer is drawn first, uniformly, so the question text cannot predict it.
    """

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("exact_match", 2.0)]

    def generate(self, rng: np.random.Generator) -> Record:
        s, side = self.image_size, self.shape_side()
        if self.difficulty == 1 and rng.random() < 0.5:
            return self._extreme(rng, s, side)
        template = _pick(rng, ["left_right", "above_below", "nearest"])
        used: set[tuple[str, str]] = set()
        while True:
            b = place_box(rng, s, side, region=(s // 3, s // 3, 2 * s // 3, 2 * s // 3))
            if template == "nearest":
                near = place_box(rng, s, side, [b])
                far = place_box(rng, s, side, [b] + ([near] if near else []))
                if near is None or far is None:
                    continue
                d_near, d_far = (np.hypot(*(np.subtract(_center(x), _center(b)))) for x in (near, far))
                if d_near > d_far:
                    near, far, d_near, d_far = far, near, d_far, d_near
                if d_far < 1.4 * d_near:  # keep the answer unambiguous to the eye
                    continue
                shapes = [(*_unique_desc(rng, used), box) for box in (b, near, far)]
                while shapes[1][0] == shapes[2][0]:  # answered by colour, so the two colours must differ
                    used.discard(shapes[2][:2])
                    shapes[2] = (*_unique_desc(rng, used), far)
                answer = shapes[1][0]
                first, second = (shapes[1], shapes[2]) if rng.random() < 0.5 else (shapes[2], shapes[1])
                question = (
                    f"Which is closer to the {shapes[0][0]} {shapes[0][1]}: the {first[0]} {first[1]} "
                    f"or the {second[0]} {second[1]}? Answer with its colour."
                )
                break
            relation = _pick(rng, ["left", "right"] if template == "left_right" else ["above", "below"])
            a = place_box(rng, s, side, [b], region=_region_beyond(relation, b, s))
            if a is None:
                continue
            shapes = [(*_unique_desc(rng, used), a), (*_unique_desc(rng, used), b)]
            answer = relation
            a_desc, b_desc = (f"{c} {k}" for c, k, _ in shapes)
            if template == "left_right":
                question = f"Is the {a_desc} to the left or to the right of the {b_desc}? Answer left or right."
            else:
                question = f"Is the {a_desc} above or below the {b_desc}? Answer above or below."
            break
        for _ in range(self.difficulty - 1):
            box = place_box(rng, s, side, [x for _, _, x in shapes])
            if box is not None:
                shapes.append((*_unique_desc(rng, used), box))
        return Record(question, [_render(self, shapes)], answer, {"template": f"spatial/{template}"})

    def _extreme(self, rng: np.random.Generator, s: int, side: tuple[int, int]) -> Record:
        """Which of 2-3 differently coloured shapes lies furthest left / right / up / down."""
        direction = _pick(rng, list(_EXTREMES))
        axis, sign = _EXTREMES[direction]
        n = int(rng.integers(2, 4))
        while True:
            boxes: list[Box] = []
            for _ in range(n):
                box = place_box(rng, s, side, boxes)
                if box is not None:
                    boxes.append(box)
            keys = sorted(sign * _center(b)[axis] for b in boxes)
            if len(boxes) >= 2 and keys[-1] - keys[-2] >= side[0] / 2:  # a clear winner to the eye
                break
        used: set[tuple[str, str]] = set()
        shapes = [(*_unique_desc(rng, used), b) for b in boxes]
        while len({c for c, _, _ in shapes}) < len(shapes):  # answered by colour: colours must differ
            used = set()
            shapes = [(*_unique_desc(rng, used), b) for b in boxes]
        winner = max(shapes, key=lambda x: sign * _center(x[2])[axis])
        question = f"Which shape is {direction}? Answer with its colour."
        return Record(question, [_render(self, shapes)], winner[0], {"template": "spatial/extreme"})


#: Question wording -> (axis of the box centre, sign that makes "further" larger).
_EXTREMES = {
    "furthest to the left": (0, -1),
    "furthest to the right": (0, 1),
    "highest in the image": (1, -1),
    "lowest in the image": (1, 1),
}


def _center(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
