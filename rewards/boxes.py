"""Bounding boxes: parsing from untrusted text, coordinate frames, IoU, ground-truth checks.

Boxes are ``(x1, y1, x2, y2)`` tuples of floats. Ground truth is always in pixels of the image
the model sees; a prediction is read in the frame named by ``meta["box_format"]``:
``pixel``, ``norm1000`` (Qwen2-VL's 0..1000 grid) or ``unit`` (0..1), scaled by
``meta["image_size"] = [w, h]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from rewards.base import InvalidSolutionError

Box = tuple[float, float, float, float]
BOX_FORMATS = ("pixel", "norm1000", "unit")
_SCALE = {"pixel": None, "norm1000": 1000.0, "unit": 1.0}

MAX_BOXES = 100
"""At most this many boxes are read from one answer."""
MAX_OBJECTS = 1000
"""At most this many ``{...}`` objects are inspected while looking for boxes."""

_NUM = r"[-+]?(?:\d{1,24}(?:\.\d{0,24})?|\.\d{1,24})(?:[eE][-+]?\d{1,4})?"
_S = r"\s{0,64}"
# "[x1, y1, x2, y2]" or Qwen2-VL's "(x1,y1),(x2,y2)"; bounded repetition keeps every attempt O(1).
BOX_RE = re.compile(
    rf"\[{_S}({_NUM}){_S},{_S}({_NUM}){_S},{_S}({_NUM}){_S},{_S}({_NUM}){_S}\]"
    rf"|\({_S}({_NUM}){_S},{_S}({_NUM}){_S}\){_S},?{_S}\({_S}({_NUM}){_S},{_S}({_NUM}){_S}\)"
)
# One flat "{...}" object, e.g. {'Position': [1, 2, 3, 4], 'Confidence': 0.9}.
_OBJECT_RE = re.compile(r"\{[^{}]{0,2048}\}")
_CONFIDENCE_RE = re.compile(rf"(?i:confidence|score|conf)['\"]?{_S}[:=]{_S}({_NUM})")


def _box_from_match(match: re.Match[str]) -> Box | None:
    groups = match.groups()
    values = groups[:4] if groups[0] is not None else groups[4:]
    box = tuple(float(v) for v in values)
    return box if all(math.isfinite(v) for v in box) else None  # type: ignore[return-value]


def first_box(text: str) -> Box | None:
    """The first box written in ``text`` (either syntax), or None."""
    match = BOX_RE.search(text)
    return _box_from_match(match) if match is not None else None


def _plain_boxes(text: str, limit: int) -> Iterator[Box]:
    for match in islice(BOX_RE.finditer(text), limit):
        box = _box_from_match(match)
        if box is not None:
            yield box


def scan_boxes(text: str, limit: int = MAX_BOXES) -> list[tuple[Box, float]]:
    """Boxes with confidences from an answer, without ``eval``.

    Reads the paper's COCO format ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}, ...]``
    (any quotes; the first box in each ``{...}`` object, confidence from a ``confidence``,
    ``score`` or ``conf`` key, 1.0 if absent). If no object holds a box, every plain box in
    the text is read with confidence 1.0.

    Args:
        text: The answer (untrusted).
        limit: Maximum number of boxes returned.

    Returns:
        Up to ``limit`` ``(box, confidence)`` pairs in written order.
    """
    found: list[tuple[Box, float]] = []
    for obj in islice(_OBJECT_RE.finditer(text), MAX_OBJECTS):
        box = first_box(obj.group(0))
        if box is None:
            continue
        conf_match = _CONFIDENCE_RE.search(obj.group(0))
        confidence = float(conf_match.group(1)) if conf_match is not None else 1.0
        found.append((box, confidence if math.isfinite(confidence) else 0.0))
        if len(found) >= limit:
            break
    if not found:
        found = [(box, 1.0) for box in _plain_boxes(text, limit)]
    return found


def to_pixels(box: Box, box_format: str, image_size: tuple[float, float] | None) -> Box:
    """Convert a predicted box to pixels and clip it to the image (when its size is known)."""
    scale = _SCALE[box_format]
    if image_size is None:
        return box
    w, h = image_size
    x1, y1, x2, y2 = box
    if scale is not None:
        x1, y1, x2, y2 = x1 / scale * w, y1 / scale * h, x2 / scale * w, y2 / scale * h
    # Clipping keeps 1e300-style coordinates from overflowing the area computation.
    return (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))


def from_pixels(box: Box, box_format: str, image_size: tuple[float, float] | None) -> Box:
    """Inverse of :func:`to_pixels` (without clipping): pixels to the model's frame."""
    scale = _SCALE[box_format]
    if scale is None or image_size is None:
        return box
    w, h = image_size
    return (box[0] / w * scale, box[1] / h * scale, box[2] / w * scale, box[3] / h * scale)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0.0 for empty, inverted or non-finite boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if not (iw > 0 and ih > 0):
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    value = inter / union if union > 0 else 0.0
    return value if 0.0 <= value <= 1.0 else (1.0 if value > 1.0 else 0.0)


def box_meta(meta: Mapping[str, Any]) -> tuple[str, tuple[float, float] | None]:
    """Validate and return ``(box_format, image_size)`` from a sample's meta.

    Raises:
        InvalidSolutionError: Naming ``meta.box_format`` or ``meta.image_size``.
    """
    box_format = meta.get("box_format", "pixel")
    if box_format not in BOX_FORMATS:
        raise InvalidSolutionError(f"meta.box_format must be one of {', '.join(BOX_FORMATS)}, got {box_format!r}")
    size = meta.get("image_size")
    if size is None:
        if box_format != "pixel":
            raise InvalidSolutionError(f"meta.image_size is required when meta.box_format is {box_format!r}")
        return box_format, None
    if isinstance(size, str) or not isinstance(size, Sequence) or len(size) != 2:
        raise InvalidSolutionError(f"meta.image_size must be [width, height], got {size!r}")
    for axis, value in zip(("width", "height"), size):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
            raise InvalidSolutionError(f"meta.image_size {axis} must be a positive finite number, got {value!r}")
    return box_format, (float(size[0]), float(size[1]))


def check_box(value: Any, field: str, image_size: tuple[float, float] | None) -> Box:
    """Validate one ground-truth box in pixels.

    Boxes need x1 < x2 and y1 < y2; with a known image size they must lie inside the image
    (1 pixel of slack for annotation rounding).

    Raises:
        InvalidSolutionError: Naming ``field`` (e.g. ``solution[2]``).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 4:
        raise InvalidSolutionError(f"{field} must be a box [x1, y1, x2, y2], got {value!r}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidSolutionError(f"{field}[{i}] must be a finite number, got {v!r}")
    x1, y1, x2, y2 = (float(v) for v in value)
    if not x1 < x2:
        raise InvalidSolutionError(f"{field}: x2 ({x2}) must be greater than x1 ({x1})")
    if not y1 < y2:
        raise InvalidSolutionError(f"{field}: y2 ({y2}) must be greater than y1 ({y1})")
    if not (x2 - x1) * (y2 - y1) > 0:
        raise InvalidSolutionError(f"{field}: the box area underflows to 0")
    if image_size is not None:
        w, h = image_size
        if x1 < -1 or y1 < -1 or x2 > w + 1 or y2 > h + 1:
            raise InvalidSolutionError(f"{field} {list(value)} lies outside the image of size {w:g}x{h:g}")
    return (x1, y1, x2, y2)


def format_box(box: Box) -> str:
    """``[x1, y1, x2, y2]`` with integers where exact, else the shortest round-tripping float."""

    def fmt(v: float) -> str:
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)

    return "[" + ", ".join(fmt(v) for v in box) + "]"
