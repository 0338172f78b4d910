"""Table tests for ``box_iou`` and ``multi_box_iou``."""

from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier
from rewards.boxes import iou, scan_boxes

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

PIX = {"image_size": [100, 100], "box_format": "pixel"}
N1000 = {"image_size": [500, 1000], "box_format": "norm1000"}
UNIT = {"image_size": [500, 1000], "box_format": "unit"}
GT = [0, 0, 10, 10]


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


BOX_CASES: list[tuple[str, Any, dict[str, Any], dict[str, Any], float, bool]] = [
    (wrap("[0, 0, 10, 10]"), GT, PIX, {}, 1.0, False),  # exact pixel box
    (wrap("[200, 100, 400, 300]"), [100, 100, 200, 300], N1000, {}, 1.0, False),  # Qwen2-VL 0..1000 grid
    (wrap("[0.2, 0.1, 0.4, 0.3]"), [100, 100, 200, 300], UNIT, {}, 1.0, False),  # unit coordinates
    (wrap("[0, 0, 10, 5]"), GT, PIX, {}, 0.5, False),  # half overlap: continuous IoU
    (wrap("[50, 50, 60, 60]"), GT, PIX, {}, 0.0, False),  # disjoint
    (wrap("[0, 0, 10, 5]"), GT, PIX, {"threshold": 0.5}, 0.0, False),  # thresholded: IoU must exceed t
    (wrap("[0, 0, 10, 6]"), GT, PIX, {"threshold": 0.5}, 1.0, False),  # thresholded: IoU 0.6 > 0.5
    (wrap("[10, 0, 0, 10]"), GT, PIX, {}, 0.0, False),  # inverted box (x2 < x1) scores 0
    (wrap("[0, 0, 1e300, 1e300]"), [0, 0, 100, 100], PIX, {}, 1.0, False),  # huge coordinates clipped to the image
    (wrap("[0, 0, 1e300, 1e300]"), GT, {}, {}, 0.0, False),  # huge coordinates without image size: finite 0
    (wrap("(0,0),(10,10)"), GT, PIX, {}, 1.0, False),  # Qwen2-VL "(x1,y1),(x2,y2)" syntax
    (wrap("[0, 0, 10, 10] or [5, 5, 6, 6]"), GT, PIX, {}, 1.0, False),  # the first box counts
    ("[0, 0, 10, 10]", GT, PIX, {}, 0.0, True),  # no answer block: no fallback for boxes
    (wrap("[1, 2, 3]"), GT, PIX, {}, 0.0, True),  # three numbers are not a box
    (wrap("[-10, -10, 10, 10]"), GT, PIX, {}, 1.0, False),  # negative part clipped away
    (wrap("[ 0 ,\n 0 , 10 , 10 ]"), GT, PIX, {}, 1.0, False),  # whitespace and newlines inside
    (wrap('{"bbox_2d": [0, 0, 10, 10], "label": "cat"}'), GT, PIX, {}, 1.0, False),  # JSON object around the box
    (wrap("[0.0, 0.0, 10.0, 10.0]"), GT, PIX, {}, 1.0, False),  # float coordinates
    (wrap("[nan, 0, 10, 10]"), GT, PIX, {}, 0.0, True),  # NaN is not a coordinate
]


@pytest.mark.parametrize(("completion", "solution", "meta", "options", "score", "parse_failed"), BOX_CASES)
def test_box_iou_table(
    completion: str, solution: Any, meta: dict[str, Any], options: dict[str, Any], score: float, parse_failed: bool
) -> None:
    result = build_verifier("box_iou", **options).score([completion], [solution], [meta])
    assert result.scores == [pytest.approx(score)]
    assert result.parse_failed == [parse_failed]


def coco(*entries: tuple[list[float], float]) -> str:
    return "[" + ", ".join(f"{{'Position': {box}, 'Confidence': {conf}}}" for box, conf in entries) + "]"


B1, B2 = [0, 0, 10, 10], [20, 20, 30, 30]
MULTI_CASES: list[tuple[str, Any, dict[str, Any], float, bool]] = [
    (wrap(coco((B1, 0.9), (B2, 0.8))), [B1, B2], PIX, 1.0, False),  # paper format, both found
    (wrap(coco((B1, 0.9)).replace("'", '"')), [B1], PIX, 1.0, False),  # double quotes (JSON)
    (wrap(f"[{B1}, {B2}]"), [B1, B2], PIX, 1.0, False),  # plain list of boxes
    (wrap(coco((B1, 0.9))), [B1, B2], PIX, 0.5, False),  # one of two objects found
    (wrap(coco((B1, 0.9), (B2, 0.8))), [B1], PIX, 0.5, False),  # a false positive halves the reward
    (wrap(coco(([0, 0, 10, 5], 0.9))), [B1], PIX, 0.0, False),  # IoU exactly 0.5 does not match
    (wrap(coco(([0, 0, 10, 6], 0.9))), [B1], PIX, 0.6, False),  # IoU 0.6 matches and counts 0.6
    (wrap(coco(([0, 0, 10, 6], 0.9), (B1, 0.1))), [B1], PIX, 0.3, False),  # confident weak box claims the object
    (wrap(coco(([0, 0, 10, 6], 0.1), (B1, 0.9))), [B1], PIX, 0.5, False),  # reversed confidences: exact box first
    (wrap("[{'Position': [0, 0, 10, 10]}]"), [B1], PIX, 1.0, False),  # no confidence: 1.0
    (wrap("[]"), [B1], PIX, 0.0, True),  # empty prediction
    (coco((B1, 1.0)), [B1], PIX, 0.0, True),  # no answer block
    (wrap(coco(*[(B1, 1.0)] * 150)), [B1], PIX, 0.01, False),  # only the first 100 boxes are read
    (wrap(coco(([0, 0, 20, 10], 1.0))), [[0, 0, 10, 10]], N1000, 1.0, False),  # norm1000 -> pixels (500x1000)
    (wrap(coco(([10, 10, 0, 0], 1.0))), [B1], PIX, 0.0, False),  # inverted box
    (wrap("[[[[[[[[]]]]]]]]"), [B1], PIX, 0.0, True),  # nested brackets, no box
    (wrap("[{'Position': [0, 0, 10, 10], 'Confidence': nan}]"), [B1], PIX, 1.0, False),  # unreadable confidence: 1.0
    (wrap('[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]'), [B1], PIX, 1.0, False),  # Qwen2.5-VL JSON style
    (wrap(coco((B2, 0.9), (B1, 0.8))), [B1, B2], PIX, 1.0, False),  # order of predictions is irrelevant
]


@pytest.mark.parametrize(("completion", "solution", "meta", "score", "parse_failed"), MULTI_CASES)
def test_multi_box_iou_table(
    completion: str, solution: Any, meta: dict[str, Any], score: float, parse_failed: bool
) -> None:
    result = build_verifier("multi_box_iou").score([completion], [solution], [meta])
    assert result.scores == [pytest.approx(score)]
    assert result.parse_failed == [parse_failed]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[{'Position': [1, 2, 3, 4], 'Confidence': 0.25}]", [((1, 2, 3, 4), 0.25)]),  # paper format
        ('[{"Confidence": 0.2, "Position": [1, 2, 3, 4]}]', [((1, 2, 3, 4), 0.2)]),  # confidence before the box
        ('[{"Position": [1, 2, 3, 4], "Confidence": "0.3"}]', [((1, 2, 3, 4), 0.3)]),  # confidence as a string
        ("[{'box': [1, 2, 3, 4], 'tags': ['a'], 'SCORE': 0.5}]", [((1, 2, 3, 4), 0.5)]),  # confidence past a list
        ("[{'box': [1, 2, 3, 4], 'size': [9, 9, 9, 9]}]", [((1, 2, 3, 4), 1.0)]),  # second box of an object skipped
        ("[1, 2, 3, 4] score: 0.3", [((1, 2, 3, 4), 1.0)]),  # confidences only come from objects
        ("[{'Position': [1, 2, 3, 4], 'Confidence': 1e999}]", [((1, 2, 3, 4), 0.0)]),  # infinite confidence -> 0
        ("{'Position': [1, 2, 3, 4], 'Confidence': 0.1} [5, 6, 7, 8]", [((1, 2, 3, 4), 0.1), ((5, 6, 7, 8), 1.0)]),
    ],
)
def test_scan_boxes_confidences(text: str, expected: list[tuple[tuple[float, ...], float]]) -> None:
    assert scan_boxes(text) == expected


def test_iou_is_symmetric_and_bounded() -> None:
    a, b = (0.0, 0.0, 4.0, 4.0), (2.0, 2.0, 6.0, 6.0)
    assert iou(a, b) == iou(b, a) == pytest.approx(4 / 28)


BAD_BOXES = [
    ("box_iou", [10, 0, 5, 10], PIX, "x2"),  # x2 < x1
    ("box_iou", [0, 10, 10, 10], PIX, "y2"),  # zero height
    ("box_iou", [0, 0, 10], PIX, "solution must be a box"),  # three numbers
    ("box_iou", [0, 0, float("nan"), 10], PIX, r"solution\[2\]"),  # NaN coordinate
    ("box_iou", [0, 0, 200, 10], PIX, "outside the image"),  # beyond the image
    ("box_iou", "0, 0, 10, 10", PIX, "solution must be a box"),  # a string
    ("box_iou", GT, {"box_format": "norm1000"}, "meta.image_size"),  # normalised frame needs the size
    ("box_iou", GT, {"image_size": [0, 10]}, "meta.image_size"),  # zero width
    ("box_iou", GT, {"box_format": "xywh"}, "meta.box_format"),  # unknown frame
    ("multi_box_iou", [], PIX, "at least one box"),  # empty list
    ("multi_box_iou", [B1, [5, 5, 1, 1]], PIX, r"solution\[1\]"),  # the bad box is named
    ("multi_box_iou", B1, PIX, r"solution\[0\]"),  # a single box instead of a list of boxes
    ("multi_box_iou", [B1] * 101, PIX, "at most 100"),  # more than the verifier reads
]


@pytest.mark.parametrize(("name", "solution", "meta", "message"), BAD_BOXES)
def test_box_verifiers_reject_bad_ground_truth(name: str, solution: Any, meta: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSolutionError, match=message):
        build_verifier(name).validate_solution(solution, meta)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("box_iou", {"threshold": 1.5}),  # above 1
        ("box_iou", {"threshold": True}),  # a bool is not a number here
        ("multi_box_iou", {"min_iou": -0.1}),  # negative
    ],
)
def test_box_verifiers_reject_bad_options(name: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        build_verifier(name, **options)
