"""Table tests for lmms-eval's benchmark metrics: relaxed accuracy, ANLS, MathVista's and MMMU's parsing.

Expected values are what lmms-eval's own functions (``relaxed_correctness``, ``anls``,
``parse_multi_choice_response``, ``parse_open_response`` + ``eval_open``, ``normalize_extracted_answer``)
return for the same response and ground truth.
"""

from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


def score(name: str, completion: str, solution: Any, meta: dict[str, Any] | None = None, **options: Any) -> tuple:
    result = build_verifier(name, **options).score([completion], [solution], [meta or {}])
    return result.scores[0], result.parse_failed[0]


RELAXED = [
    ("41", "42", 1.0),  # 2.4 % off: within ChartQA's 5 %
    ("39", "42", 0.0),  # 7.1 % off
    ("45%", "0.45", 1.0),  # a percentage is a fraction
    ("0.45", "45%", 1.0),  # ... on either side
    ("Brazil", "brazil", 1.0),  # text: case-insensitive
    ("Brazil.", "Brazil", 0.0),  # ... but otherwise exact
    ("0", "0", 1.0),  # a zero target is compared as text ...
    ("0.0", "0", 0.0),  # ... so 0.0 is not 0
    ("1e3", "1000", 1.0),  # Python's float() reads scientific notation
    ("nan", "5", 0.0),  # nan is a number, never within tolerance
    ("1,000", "1000", 0.0),  # float() does not read thousands separators: text comparison fails
]


@pytest.mark.parametrize(("answer", "target", "expected"), RELAXED)
def test_relaxed_accuracy_table(answer: str, target: str, expected: float) -> None:
    assert score("relaxed_accuracy", wrap(answer), target) == (expected, False)


def test_relaxed_accuracy_takes_the_best_label_and_reads_a_bare_answer() -> None:
    assert score("relaxed_accuracy", "41", ["17", "42"]) == (1.0, False)  # lmms-eval's protocol: no answer block
    assert score("relaxed_accuracy", wrap(""), "42") == (0.0, True)
    assert score("relaxed_accuracy", wrap("44"), "42", max_relative_change=0.1) == (1.0, False)


ANLS_CASES = [
    ("facebok", ["facebook"], 0.875),  # one edit in eight characters
    ("Facebook", ["facebook"], 1.0),  # case is ignored
    ("face", ["facebook"], 0.5),  # exactly at the threshold: kept
    ("fac", ["facebook"], 0.0),  # below 0.5: zero
    ("  multiple   spaces ", ["multiple spaces"], 1.0),  # whitespace runs collapse
    ("54", ["54%", "54"], 1.0),  # the best of the accepted answers
    ("5", ["54%"], 0.0),  # distance 2 over length 3
]


@pytest.mark.parametrize(("answer", "answers", "expected"), ANLS_CASES)
def test_anls_table(answer: str, answers: list[str], expected: float) -> None:
    value, failed = score("anls", answer, answers)  # the whole completion, as lmms-eval's protocol gives it
    assert value == pytest.approx(expected, abs=1e-12) and not failed


MC = {"question_type": "multi_choice", "answer_type": "text", "precision": None, "options": ["2", "4", "6", "8"]}
INT = {"question_type": "free_form", "answer_type": "integer", "precision": None}
FLOAT2 = {"question_type": "free_form", "answer_type": "float", "precision": 2.0}  # the hub stores it as a float
LIST = {"question_type": "free_form", "answer_type": "list", "precision": None}
MATHVISTA = [
    ("C", "6", MC, 1.0),  # the option letter becomes the choice's text
    ("(C) 6", "6", MC, 1.0),  # a bracketed letter wins
    ("6", "6", MC, 1.0),  # the choice's text itself
    ("D", "6", MC, 0.0),  # another letter
    ("six-ish 7", "8", MC, 0.0),  # no letter: the nearest choice by edit distance ("2" here, not "8")
    ("3", "3", INT, 1.0),  # int() reads it directly
    ("There are 3 bars", "3", INT, 1.0),  # rule-based extraction: the last number
    ("3.7", "3", INT, 1.0),  # integers are int(float(x)), truncated like the reference
    ("4", "3", INT, 0.0),
    ("1.449", "1.45", FLOAT2, 1.0),  # rounded to the question's precision
    ("1.4", "1.45", FLOAT2, 0.0),
    ("[1, 2]", "[1, 2]", LIST, 1.0),  # lists compare as text
    ("[1,2]", "[1, 2]", LIST, 0.0),  # ... exactly
]


@pytest.mark.parametrize(("answer", "solution", "meta", "expected"), MATHVISTA)
def test_mathvista_table(answer: str, solution: str, meta: dict[str, Any], expected: float) -> None:
    assert score("mathvista_match", wrap(answer), solution, meta) == (expected, False)


def test_mathvista_canonical_answer_is_the_letter_and_bad_meta_is_named() -> None:
    verifier = build_verifier("mathvista_match")
    assert verifier.canonical_answer("6", MC) == "C"
    with pytest.raises(InvalidSolutionError, match="not one of meta.options"):
        verifier.validate_solution("7", MC)
    with pytest.raises(InvalidSolutionError, match="meta.answer_type"):
        verifier.validate_solution("3", {"question_type": "free_form", "answer_type": "number"})
    with pytest.raises(InvalidSolutionError, match="meta.precision"):
        verifier.validate_solution("1.5", {**FLOAT2, "precision": 1.5})


MMMU_OPTIONS = {"options": ["$10", "$20's", "$30", "$40"], "question_type": "multiple-choice"}
MMMU_MC = [
    ("B", 1.0, False),  # a bare letter
    ("(B)", 1.0, False),  # bracketed
    ("The answer is (B).", 1.0, False),  # bracketed inside a sentence
    ("B. $20's", 1.0, False),  # "B." when no letter is followed by a space
    ("I think A is wrong but C is right", 0.0, False),  # several letters: the last one written (C)
    ("After computing all the figures the net income is $20's", 1.0, False),  # > 5 words: the option's text
    ("A and B", 1.0, False),  # the last letter
    ("(A) or (C)", 0.0, False),  # the last bracketed letter
    ("b", 0.25, True),  # nothing parsable: the reference guesses; the expected score of its guess
]


@pytest.mark.parametrize(("answer", "expected", "failed"), MMMU_MC)
def test_mmmu_multiple_choice_table(answer: str, expected: float, failed: bool) -> None:
    assert score("mmmu_match", wrap(answer), "B", MMMU_OPTIONS) == (expected, failed)


MMMU_OPEN = [
    ("3", "3", 1.0),  # numbers compare as floats
    ("3", "There are 3 years.", 1.0),  # every number of the response is a candidate
    ("3.14", "The answer is 3.14159", 1.0),  # ... rounded to 2 decimals
    ("Paris", "It is London", 0.0),
    ("Paris", "The capital is Paris", 1.0),  # the tail after "is"
    ("a", "the answer is a", 1.0),  # a one-character answer is padded to avoid trivial matches
    ("1,000", "so the total is 1000 dollars", 1.0),  # thousands separators are dropped
    ("x=2", "thus x=2", 0.0),  # "=" splits the last sentence: only 2 is left
]


@pytest.mark.parametrize(("solution", "answer", "expected"), MMMU_OPEN)
def test_mmmu_open_table(solution: str, answer: str, expected: float) -> None:
    assert score("mmmu_match", wrap(answer), solution, {"question_type": "open"}) == (expected, False)


def test_mmmu_random_guess_can_be_off_and_letters_are_checked() -> None:
    assert score("mmmu_match", wrap("b"), "B", MMMU_OPTIONS, random_guess=False) == (0.0, True)
    with pytest.raises(InvalidSolutionError, match="not an option letter"):
        build_verifier("mmmu_match").validate_solution("E", MMMU_OPTIONS)


@pytest.mark.parametrize("name, solution, meta", [
    ("relaxed_accuracy", "41", {}),
    ("anls", ["41"], {}),
    ("mathvista_match", "41", INT),
    ("mmmu_match", "41", {"question_type": "open"}),
])
def test_answer_block_false_scores_the_whole_completion_as_lmms_eval(name: str, solution: Any, meta: dict) -> None:
    assert score(name, wrap("41"), solution, meta)[0] == 1.0  # think/answer protocol: the block's content
    assert score(name, "41", solution, meta, answer_block=False)[0] == 1.0  # lmms-eval: the bare response ...
    if name in ("relaxed_accuracy", "anls"):  # (MathVista's and MMMU's parsers find the number anywhere)
        assert score(name, wrap("41"), solution, meta, answer_block=False)[0] == 0.0  # ... with nothing stripped


def test_anls_raw_length_follows_lmms_eval_and_can_be_switched_off() -> None:
    # lmms-eval divides by the unnormalised length, so internal whitespace padding raises the similarity.
    padded = "face" + " " * 12 + "book"  # normalises to "face book": distance 1 from "facebook"
    assert score("anls", padded, ["facebook"])[0] == pytest.approx(1 - 1 / 20)
    assert score("anls", padded, ["facebook"], raw_length=False)[0] == pytest.approx(1 - 1 / 9)
