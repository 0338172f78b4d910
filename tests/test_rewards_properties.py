"""Property tests: any text scores in [0, 1] without raising; reference completions score 1."""

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_rewards_pathological import BENCHMARK_SOLUTIONS

from rewards import DomainReward, build_verifier

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

# One valid ground truth per verifier, for scoring arbitrary text against.
VALID: dict[str, tuple[Any, dict[str, Any]]] = {
    "think_answer_format": (None, {}),
    "choice_accuracy": ("B", {"options": ["cat", "dog", "bird"]}),
    "exact_match": ("twenty one", {}),
    "numeric_match": ("3/4", {}),
    "box_iou": ([10, 10, 50, 60], {"image_size": [100, 80], "box_format": "norm1000"}),
    "multi_box_iou": ([[0, 0, 5, 5], [10, 10, 50, 60]], {"image_size": [100, 80], "box_format": "unit"}),
    **BENCHMARK_SOLUTIONS,
}

# Pieces that steer random text into the parsers' interesting corners.
_PIECES = [
    "<think>", "</think>", "<answer>", "</answer>", "\n", " ", "[", "]", "{", "}", "(", ")", ",", ":", "'",
    '"', "Position", "Confidence", "1e300", "-", "nan", "inf", "0", "7", "1000", ".", "/", "%", "\\frac{",
    "\\sqrt{", "A", "B", "(B)", "Answer: ", "yes", "twenty", "the", "\x00", "\ufffd", "Ｂ", "1,000",
]  # fmt: skip
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=5)), max_size=60).map("".join),
)


@pytest.mark.parametrize("name", sorted(VALID))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts)
def test_any_text_scores_in_unit_interval(name: str, text: str) -> None:
    solution, meta = VALID[name]
    result = build_verifier(name).score([text], [solution], [meta])
    (value,) = result.scores
    assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    assert isinstance(result.parse_failed[0], bool)


_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda w: w not in {"a", "an", "the"}
)


@st.composite
def image_and_format(draw: st.DrawFn) -> dict[str, Any]:
    size = [draw(st.integers(2, 4000)), draw(st.integers(2, 4000))]
    return {"image_size": size, "box_format": draw(st.sampled_from(["pixel", "norm1000", "unit"]))}


@st.composite
def pixel_box(draw: st.DrawFn, meta: dict[str, Any]) -> list[float]:
    """A box at least 1 pixel wide and high (sub-pixel boxes are not ground truth)."""
    w, h = meta["image_size"]
    x1, y1 = draw(st.floats(0, w - 1)), draw(st.floats(0, h - 1))
    return [x1, y1, draw(st.floats(x1 + 1, w)), draw(st.floats(y1 + 1, h))]


@st.composite
def solutions(draw: st.DrawFn) -> tuple[str, Any, dict[str, Any]]:
    name = draw(st.sampled_from(["choice_accuracy", "exact_match", "numeric_match", "box_iou", "multi_box_iou",
                                 "paper_accuracy", "relaxed_accuracy", "anls", "mmmu_match"]))
    if name in ("paper_accuracy", "relaxed_accuracy", "anls"):  # any short text answer is its own reference
        return name, " ".join(draw(st.lists(_words, min_size=1, max_size=4))), {}
    if name == "mmmu_match":
        n = draw(st.integers(1, 8))
        options = draw(st.lists(_words, min_size=n, max_size=n))
        return name, "ABCDEFGH"[draw(st.integers(0, n - 1))], {"options": options, "question_type": "multiple-choice"}
    if name == "choice_accuracy":
        n = draw(st.integers(1, 8))
        options = draw(st.lists(_words, min_size=n, max_size=n))
        return name, "ABCDEFGH"[draw(st.integers(0, n - 1))], draw(st.sampled_from([{}, {"options": options}]))
    if name == "exact_match":
        return name, " ".join(draw(st.lists(_words, min_size=1, max_size=6))), {}
    if name == "numeric_match":
        value = draw(
            st.one_of(
                st.integers(-(10**12), 10**12),
                st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
                st.tuples(st.integers(-999, 999), st.integers(1, 999)).map(lambda f: f"\\frac{{{f[0]}}}{{{f[1]}}}"),
                st.integers(0, 100).map(lambda p: f"{p}%"),
            )
        )
        return name, value, {}
    meta = draw(image_and_format())
    if name == "box_iou":
        return name, draw(pixel_box(meta)), meta
    return name, draw(st.lists(pixel_box(meta), min_size=1, max_size=8)), meta


@settings(max_examples=300, deadline=None)
@given(case=solutions(), think=st.sampled_from(["", "Let me think.", "a\nb"]))
# A coordinate 6e-8 px below the top edge of a 60-px image: 1e-9 of the unit frame, written as 0.
@example(case=("box_iou", [0.0, 5.960464477539063e-08, 1.0, 2.0], {"image_size": [2, 60], "box_format": "unit"}),
         think="")
def test_reference_completion_scores_one(case: tuple[str, Any, dict[str, Any]], think: str) -> None:
    name, solution, meta = case
    reward = DomainReward([{"name": "think_answer_format"}, {"name": name, "weight": 2.0}])
    reward.validate_solution(solution, meta, sample_id="prop")
    completion = reward.reference_completion(solution, meta, think=think)
    out = reward([completion], [solution], [meta])
    assert out.results["think_answer_format"].scores == [1.0]
    # The canonical answer writes a normalised coordinate within 1e-9 (of max(1, |v|)) of an integer as that integer,
    # so each of the four coordinates may move by up to 1e-9 of the image side in pixels; against a box side of at
    # least 1 px that costs the IoU at most 4e-9 times the image side, plus float rounding.
    tolerance = 1e-9 + (4e-9 * max(meta["image_size"]) if "image_size" in meta else 0.0)
    assert out.results[name].scores[0] == pytest.approx(1.0, abs=tolerance)
