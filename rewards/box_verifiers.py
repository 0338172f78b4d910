"""IoU rewards for grounding (one box) and detection (several boxes with confidences)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.base import InvalidSolutionError, Verifier
from rewards.boxes import (
    MAX_BOXES,
    Box,
    box_meta,
    check_box,
    first_box,
    format_box,
    from_pixels,
    iou,
    scan_boxes,
    to_pixels,
)
from rewards.parsing import extract_answer, head
from rewards.registry import register


def _check_threshold(verifier: str, name: str, value: Any, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{verifier}: option {name!r} must be a number in [0, 1), got {value!r}")
    return float(value)


@register("box_iou")
class BoxIoU(Verifier):
    """IoU of the first box in the answer with the ground-truth box.

    The box is the first ``[x1, y1, x2, y2]`` (or ``(x1,y1),(x2,y2)``) in the first 64 KiB of
    the ``<answer>`` block, read in ``meta["box_format"]`` and clipped to ``meta["image_size"]``. Without an
    answer block the score is 0 (the paper's reference code does not fall back here).

    Args:
        threshold: If None, the reward is the IoU itself; otherwise 1.0 when IoU > threshold
            and 0.0 otherwise.

    Ground truth: ``[x1, y1, x2, y2]`` in pixels with x1 < x2, y1 < y2, inside the image.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = _check_threshold("box_iou", "threshold", threshold, allow_none=True)

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> tuple[Box, str, tuple[float, float] | None]:
        """Return ``(gt_box, box_format, image_size)`` after validation."""
        box_format, image_size = box_meta(meta)
        return check_box(solution, "solution", image_size), box_format, image_size

    def score_one(
        self, completion: str, target: tuple[Box, str, tuple[float, float] | None], meta: Mapping[str, Any]
    ) -> tuple[float, bool]:
        """IoU (or the thresholded IoU) of the predicted box."""
        answer = extract_answer(completion)
        box = first_box(head(answer)) if answer else None
        if box is None:
            return 0.0, True
        gt, box_format, image_size = target
        value = iou(to_pixels(box, box_format, image_size), gt)
        if self.threshold is not None:
            value = 1.0 if value > self.threshold else 0.0
        return value, False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground-truth box written in the model's frame."""
        gt, box_format, image_size = self.prepare_solution(solution, meta)
        return format_box(from_pixels(gt, box_format, image_size))


def match_boxes(predicted: Sequence[tuple[Box, float]], gt: Sequence[Box], min_iou: float) -> float:
    """The paper's greedy detection reward.

    Predictions are visited in order of decreasing confidence (ties keep written order); each
    takes the unmatched ground-truth box it overlaps most. A pair with IoU > ``min_iou`` is a
    match and consumes that ground-truth box; otherwise the prediction scores 0 and the box
    stays available to later predictions.

    Args:
        predicted: ``(box, confidence)`` pairs in pixels.
        gt: Ground-truth boxes in pixels (non-empty).
        min_iou: IoU a match must exceed.

    Returns:
        Sum of matched IoUs / max(len(gt), len(predicted)), in [0, 1].
    """
    if not predicted or not gt:
        return 0.0
    available = list(gt)
    total = 0.0
    for box, _ in sorted(predicted, key=lambda pair: -pair[1]):
        if not available:
            break
        best_value, best_index = 0.0, -1
        for index, candidate in enumerate(available):
            value = iou(box, candidate)
            if value > best_value:
                best_value, best_index = value, index
        if best_index >= 0 and best_value > min_iou:
            total += best_value
            available.pop(best_index)
    return total / max(len(gt), len(predicted))


@register("multi_box_iou")
class MultiBoxIoU(Verifier):
    """Detection reward: greedy confidence-ordered IoU matching (see :func:`match_boxes`).

    Reads the paper's ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}, ...]`` or a plain
    list of boxes from the ``<answer>`` block (the first 100 boxes within its first 64 KiB;
    no ``eval``).

    Args:
        min_iou: A prediction only counts when its IoU with a ground-truth box exceeds this.

    Ground truth: a non-empty list of ``[x1, y1, x2, y2]`` pixel boxes.
    """

    def __init__(self, min_iou: float = 0.5) -> None:
        self.min_iou = _check_threshold("multi_box_iou", "min_iou", min_iou, allow_none=False)

    def prepare_solution(
        self, solution: Any, meta: Mapping[str, Any]
    ) -> tuple[list[Box], str, tuple[float, float] | None]:
        """Return ``(gt_boxes, box_format, image_size)`` after validation."""
        box_format, image_size = box_meta(meta)
        if isinstance(solution, (str, bytes)) or not isinstance(solution, Sequence):
            raise InvalidSolutionError(f"solution must be a list of boxes, got {type(solution).__name__}")
        if not solution:
            raise InvalidSolutionError("solution must hold at least one box")
        if len(solution) > MAX_BOXES:
            raise InvalidSolutionError(f"solution has {len(solution)} boxes; at most {MAX_BOXES} are supported")
        return [check_box(b, f"solution[{i}]", image_size) for i, b in enumerate(solution)], box_format, image_size

    def score_one(
        self, completion: str, target: tuple[list[Box], str, tuple[float, float] | None], meta: Mapping[str, Any]
    ) -> tuple[float, bool]:
        """Matched-IoU reward of the predicted boxes."""
        answer = extract_answer(completion)
        predicted = scan_boxes(head(answer)) if answer else []
        if not predicted:
            return 0.0, True
        gt, box_format, image_size = target
        pixels = [(to_pixels(box, box_format, image_size), conf) for box, conf in predicted]
        value = match_boxes(pixels, gt, self.min_iou)
        return (value if math.isfinite(value) else 0.0), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        """The ground-truth boxes in the paper's format, in the model's frame, confidence 1."""
        gt, box_format, image_size = self.prepare_solution(solution, meta)
        boxes = (format_box(from_pixels(b, box_format, image_size)) for b in gt)
        return "[" + ", ".join(f"{{'Position': {box}, 'Confidence': 1.0}}" for box in boxes) + "]"
