"""Bounding boxes: parsing from untrusted text, coordinate frames, IoU, ground-truth checks.

Boxes are ``(x1, y1, x2, y2)`` tuples of floats. Ground truth is always in pixels of the image
the model sees; a prediction is read in the frame named by ``meta["box_format"]``:
``pixel``, ``norm1000`` (Qwen2-VL's 0..1000 grid) or ``unit`` (0..1), scaled by
``meta["image_size"] = [w, h]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.base import InvalidSolutionError

Box = tuple[float, float, float, float]
BOX_FORMATS = ("pixel", "norm1000", "unit")
_SCALE = {"pixel": None, "norm1000": 1000.0, "unit": 1.0}

MAX_BOXES = 100
"""At most this many boxes are read from one answer."""
MAX_OBJECT_CHARS = 2048
"""A ``{...}`` object longer than this is not searched for the box's confidence."""

_NUM = r"[-+]?(?:[0-9]{1,24}(?:\.[0-9]{0,24})?|\.[0-9]{1,24})(?:[eE][-+]?[0-9]{1,4})?"
_S = r"\s{0,64}"
# "[x1, y1, x2, y2]" or Qwen2-VL's "(x1,y1),(x2,y2)"; bounded repetition keeps every attempt O(1).
BOX_RE = re.compile(
    rf"\[{_S}({_NUM}){_S},{_S}({_NUM}){_S},{_S}({_NUM}){_S},{_S}({_NUM}){_S}\]"
    rf"|\({_S}({_NUM}){_S},{_S}({_NUM}){_S}\){_S},?{_S}\({_S}({_NUM}){_S},{_S}({_NUM}){_S}\)"
)
# "confidence" / "conf" / "score" in any case, spelled out so the engine can skip to [CcSs]; the value may be quoted.
_CONFIDENCE_RE = re.compile(
    rf"[CcSs](?:[Oo][Nn][Ff](?:[Ii][Dd][Ee][Nn][Cc][Ee])?|[Cc][Oo][Rr][Ee])['\"]?{_S}[:=]{_S}['\"]?({_NUM})"
)


# A box, optionally followed - within the same object, before any bracket or brace - by its
# confidence (the paper's key order). Group 9 is that confidence.
_BOX_CONF_RE = re.compile(rf"(?:{BOX_RE.pattern})(?:[^{{}}\[\]]{{0,128}}?{_CONFIDENCE_RE.pattern})?")
_isfinite = math.isfinite


def _box_from_groups(g: tuple[str | None, ...]) -> Box | None:
    # Every captured string matches _NUM, which float() always accepts (possibly as inf).
    if g[0] is not None:
        box = (float(g[0]), float(g[1]), float(g[2]), float(g[3]))  # type: ignore[arg-type]
    else:
        box = (float(g[4]), float(g[5]), float(g[6]), float(g[7]))  # type: ignore[arg-type]
    if _isfinite(box[0]) and _isfinite(box[1]) and _isfinite(box[2]) and _isfinite(box[3]):
        return box
    return None


def first_box(text: str) -> Box | None:
    """The first box written in ``text`` (either syntax), or None."""
    match = BOX_RE.search(text)
    return _box_from_groups(match.groups()) if match is not None else None


def scan_boxes(text: str, limit: int = MAX_BOXES) -> list[tuple[Box, float]]:
    """Boxes with confidences from an answer, without ``eval``.

    Reads the paper's COCO format ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}, ...]``
    with any quotes, JSON such as ``[{"bbox_2d": [...], "label": "cat"}]``, and plain lists of
    boxes. Every box in the text counts, except later boxes inside the same ``{...}`` object;
    a box inside an object takes its confidence from a ``confidence``, ``conf`` or ``score``
    key of that object (any case), and 1.0 otherwise.

    Args:
        text: The answer (untrusted).
        limit: Maximum number of boxes returned.

    Returns:
        Up to ``limit`` ``(box, confidence)`` pairs in written order.
    """
    found: list[tuple[Box, float]] = []
    current_object = -1
    for match in _BOX_CONF_RE.finditer(text):
        groups = match.groups()
        box = _box_from_groups(groups)
        if box is None:
            continue
        start = match.start()
        confidence = 1.0
        # The enclosing object, if any: the nearest "{" before the box with no "}" in between.
        opening = text.rfind("{", max(0, start - MAX_OBJECT_CHARS), start)
        if opening >= 0 and text.find("}", opening, start) < 0:
            if opening == current_object:
                continue  # a second box in the same object (e.g. a size field)
            current_object = opening
            if groups[8] is not None:
                confidence = float(groups[8])
            else:  # the confidence is elsewhere in the object: search all of it
                box_end = match.end(4) if groups[0] is not None else match.end(8)
                closing = text.find("}", box_end, opening + MAX_OBJECT_CHARS)
                conf = _CONFIDENCE_RE.search(text, opening, closing if closing >= 0 else box_end)
                if conf is not None:
                    confidence = float(conf.group(1))
            if not _isfinite(confidence):
                confidence = 0.0
        found.append((box, confidence))
        if len(found) >= limit:
            break
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
    if 0.0 <= x1 <= w and 0.0 <= x2 <= w and 0.0 <= y1 <= h and 0.0 <= y2 <= h:
        return (x1, y1, x2, y2)  # the common case: already inside the image
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
    for axis, value in zip(("width", "height"), size, strict=False):
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
    """``[x1, y1, x2, y2]`` with integers where exact, else the shortest round-tripping float.

    A coordinate within 1e-9 (relative) of an integer is written as that integer: a ground-truth box given as
    integers on the 0-1000 grid, converted to pixels and back, comes back one rounding error away from them.
    """

    def fmt(v: float) -> str:
        nearest = round(v) if abs(v) < 1e15 else None
        if nearest is not None and abs(v - nearest) <= 1e-9 * max(1.0, abs(v)):
            return str(int(nearest))
        return repr(v)

    return "[" + ", ".join(fmt(v) for v in box) + "]"
