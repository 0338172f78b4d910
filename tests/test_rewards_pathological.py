"""Hostile 1 MB completions: every verifier returns a score in [0, 1] (the timing targets live in
benchmarks/verifiers.py; here a quadratic parser would show up as a test that never ends)."""

from typing import Any

import pytest

from rewards import build_verifier

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

MB = 1 << 20


def fill(piece: str, head: str = "", tail: str = "") -> str:
    return head + piece * ((MB - len(head) - len(tail)) // len(piece) + 1) + tail


ANSWER = ("<think>\nx\n</think>\n<answer>\n", "\n</answer>")
PATHOLOGICAL = {
    "open_answer_tags": fill("<answer>"),  # never closed
    "answer_pairs": fill("<answer></answer>"),  # a million empty blocks
    "think_tags_then_answer": fill("<think>", tail="<answer>\nB\n</answer>"),  # unbalanced think
    "format_delimiters": fill("\n</think>\n<answer>\n", "<think>\n", "\n</answer>\nX"),  # regex backtracking bait
    "nested_answers": "<answer>" * (MB // 17) + "</answer>" * (MB // 17),  # deeply nested tags
    "digit_run": fill("9", *ANSWER),  # one enormous number
    "many_numbers": fill("1, ", *ANSWER),  # a quarter million numbers
    "fraction_bait": fill("\\frac{1}{", *ANSWER),  # unterminated LaTeX
    "open_brackets": fill("[", *ANSWER),  # JSON bomb: unclosed
    "nested_brackets": ANSWER[0] + "[" * (MB // 2) + "]" * (MB // 2) + ANSWER[1],  # JSON bomb: balanced
    "partial_boxes": fill("[1, 2, 3, ", *ANSWER),  # boxes that never complete
    "many_boxes": fill("[1, 2, 30, 40] ", *ANSWER),  # far more boxes than the cap
    "coco_objects": fill("{'Position': [1, 2, 30, 40], 'Confidence': 0.5}, ", ANSWER[0] + "[", "]" + ANSWER[1]),
    "open_objects": fill("{'Position': [1, 2, ", *ANSWER),  # objects that never close
    "huge_coordinates": fill("[1e300, -1e300, 1e308, 1e308] ", *ANSWER),  # overflow bait
    "letters": fill("A ", *ANSWER),  # half a million standalone letters
    "letters_no_block": fill("B "),  # the same without an answer block (whole-text fallback)
    "words": fill("twenty one the ", *ANSWER),  # normaliser bait
    "binary": fill("".join(map(chr, range(256)))),  # control characters and Latin-1
    "nan_inf": fill("nan inf -inf 1e999 ", *ANSWER),  # non-finite numbers
    "whitespace": fill(" \n\t", *ANSWER),  # empty-looking answer
}

SOLUTIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "think_answer_format": (None, {}),
    "choice_accuracy": ("B", {"options": ["cat", "dog"]}),
    "exact_match": ("twenty one", {}),
    "numeric_match": (21, {}),
    "box_iou": ([1, 2, 30, 40], {"image_size": [64, 64], "box_format": "pixel"}),
    "multi_box_iou": ([[1, 2, 30, 40]], {"image_size": [64, 64], "box_format": "pixel"}),
}
# The paper's accuracy reward and the benchmark metrics (also used by the property tests).
BENCHMARK_SOLUTIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "paper_accuracy": ("21", {}),
    "math_verify": ("\\frac{42}{2}", {}),
    "relaxed_accuracy": (["21"], {}),
    "anls": (["twenty one", "21"], {}),
    "mathvista_match": ("6", {"question_type": "multi_choice", "answer_type": "text", "precision": None,
                              "options": ["2", "4", "6", "8"]}),
    "mmmu_match": ("B", {"options": ["cat", "dog", "bird", "fish"], "question_type": "multiple-choice"}),
}
SOLUTIONS |= BENCHMARK_SOLUTIONS


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_megabyte_completions_score_in_range(name: str) -> None:
    solution, meta = SOLUTIONS[name]
    verifier = build_verifier(name)
    texts = list(PATHOLOGICAL.values())
    result = verifier.score(texts, [solution] * len(texts), [meta] * len(texts))
    for case, value in zip(PATHOLOGICAL, result.scores, strict=False):
        assert 0.0 <= value <= 1.0, case


def test_pathological_texts_are_a_megabyte() -> None:
    assert all(len(text) >= MB - 64 for text in PATHOLOGICAL.values())


def test_known_answers_survive_hostile_padding() -> None:
    """Where the right answer is present, the padding must not hide it."""
    many = build_verifier("multi_box_iou").score([PATHOLOGICAL["coco_objects"]], *zip(SOLUTIONS["multi_box_iou"]))
    assert many.scores == [pytest.approx(0.01)]  # 100 boxes read, one matches the single object
    choice = build_verifier("choice_accuracy")
    letters = choice.score([PATHOLOGICAL["letters_no_block"]], *zip(SOLUTIONS["choice_accuracy"]))
    assert letters.scores == [1.0]
    fmt = build_verifier("think_answer_format").score([PATHOLOGICAL["format_delimiters"]], [None], [{}])
    assert fmt.scores == [0.0]  # the trailing "X" breaks the format
