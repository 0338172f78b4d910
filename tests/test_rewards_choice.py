"""Table tests for ``choice_accuracy``."""

from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier
from rewards.choice import extract_choice

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

OPTS = {"options": ["a cat", "the dog", "a bird", "a fish"]}


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


CASES: list[tuple[str, str, dict[str, Any], float, bool]] = [
    (wrap("B"), "B", {}, 1.0, False),  # bare letter
    (wrap("(B)"), "B", {}, 1.0, False),  # parenthesised letter
    (wrap("B."), "B", {}, 1.0, False),  # letter with a full stop
    (wrap("[D]"), "D", {}, 1.0, False),  # bracketed letter
    (wrap("b"), "B", {}, 1.0, False),  # lower-case bare letter
    (wrap("Answer: B"), "B", {}, 1.0, False),  # "Answer:" prefix
    (wrap("The answer is (C)"), "B", {}, 0.0, False),  # a wrong letter is parsed, scores 0
    (wrap("Option: D"), "D", {}, 1.0, False),  # "Option:" prefix
    (wrap("B. the dog"), "B", OPTS, 1.0, False),  # labelled option text
    (wrap("The Dog."), "B", OPTS, 1.0, False),  # option text, normalised (case, article, punctuation)
    (wrap("a fish"), "D", OPTS, 1.0, False),  # option text whose article is also a letter
    ("So it must be B", "B", {}, 1.0, False),  # no answer block: last standalone letter of the text
    (wrap("I don't know"), "A", {}, 0.0, True),  # no letter at all
    (wrap("Because"), "B", {}, 0.0, True),  # a capital inside a word is not standalone
    (wrap("A or maybe E"), "A", OPTS, 1.0, False),  # E is not among 4 options, so A is the last valid one
    (wrap("A and C"), "C", {}, 1.0, False),  # several letters: the last one
    ("<answer>A</answer> then <answer>B</answer>", "B", {}, 1.0, False),  # the last complete block wins
    ("<answer>A</answer> then <answer>B", "B", {}, 0.0, False),  # an unclosed block is ignored
    ("", "A", {}, 0.0, True),  # empty completion
    (wrap("answer is a"), "A", {}, 0.0, True),  # lower-case "a" inside a sentence is an article
    (wrap("Ｂ"), "B", {}, 0.0, True),  # a full-width letter is not an option letter
]


@pytest.mark.parametrize(("completion", "solution", "meta", "score", "parse_failed"), CASES)
def test_choice_table(completion: str, solution: str, meta: dict[str, Any], score: float, parse_failed: bool) -> None:
    result = build_verifier("choice_accuracy").score([completion], [solution], [meta])
    assert result.scores == [score]
    assert result.parse_failed == [parse_failed]


@pytest.mark.parametrize(
    ("solution", "meta", "field"),
    [
        ("Z", {}, "solution"),  # not a letter A-H
        ("E", OPTS, "solution"),  # beyond the 4 options
        (3, {}, "solution"),  # not a string
        ("AB", {}, "solution"),  # two letters
        ("A", {"options": "a, b"}, "meta.options"),  # options given as one string
        ("A", {"options": [f"o{i}" for i in range(9)]}, "meta.options"),  # more than 8 options
        ("A", {"options": ["x", 2]}, "meta.options[1]"),  # a non-string option
    ],
)
def test_choice_rejects_bad_ground_truth(solution: Any, meta: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSolutionError, match=field.replace("[", r"\[").replace("]", r"\]")):
        build_verifier("choice_accuracy").validate_solution(solution, meta)


def test_choice_canonical_answer_normalises_letter() -> None:
    assert build_verifier("choice_accuracy").canonical_answer("(c)", OPTS) == "C"


def test_option_text_with_a_sign_picks_its_own_option() -> None:
    """A thermometer's options can hold both "-5" and "5": the answer "5" is option C, not the first look-alike."""
    options = ["-5", "0", "5", "10"]
    assert extract_choice("5", options) == "C"
    assert extract_choice("-5", options) == "A"
    assert extract_choice(" 0 ", options) == "B"
