"""Table tests for ``exact_match``."""

from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


CASES: list[tuple[str, Any, float, bool]] = [
    (wrap("Yes"), "yes", 1.0, False),  # case
    (wrap("True"), "yes", 1.0, False),  # yes synonym
    (wrap("no."), "No", 1.0, False),  # trailing punctuation
    (wrap("incorrect"), "no", 1.0, False),  # no synonym
    (wrap("three"), "3", 1.0, False),  # number word -> digit
    (wrap("21"), "twenty-one", 1.0, False),  # hyphenated number word in the ground truth
    (wrap("ninety nine"), 99, 1.0, False),  # int ground truth, two-word number
    (wrap("the left side"), "left side", 1.0, False),  # article dropped
    (wrap("left"), "right", 0.0, False),  # spatial words are not synonyms
    (wrap("1,000"), "1000", 1.0, False),  # thousands separator
    (wrap("3.50"), "3.5", 1.0, False),  # trailing zeros of a decimal
    (wrap("-5"), "5", 0.0, False),  # a leading minus is part of the number
    (wrap("(-5)"), "-5", 1.0, False),  # ... and survives brackets
    (wrap("\u22125"), "-5", 1.0, False),  # the typographic minus sign is a minus
    (wrap(".5"), "0.5", 1.0, False),  # a leading decimal point is part of the number
    (wrap(".5"), "5", 0.0, False),  # ... not punctuation to drop
    (wrap("-.5"), "5", 0.0, False),  # ... nor is the sign before it
    (wrap("Fig.5"), "fig 5", 1.0, False),  # a dot after a word is punctuation
    (wrap("\u22125"), "5", 0.0, False),  # ... so it is not dropped as punctuation
    (wrap("3\u22125"), "3 5", 1.0, False),  # ... and, between numbers, not a sign either
    (wrap("-0"), "0", 1.0, False),  # minus zero is zero
    (wrap("3-5"), "3 5", 1.0, False),  # a hyphen between numbers is not a sign
    (wrap("A cat."), "cat", 1.0, False),  # article + punctuation
    (wrap("cat dog"), "dog cat", 0.0, False),  # word order matters
    ("yes", "yes", 1.0, False),  # no answer block: the whole text (as the paper's code)
    ("I think the answer is yes", "yes", 0.0, False),  # ... which must then match exactly
    ("<answer></answer>", "yes", 0.0, True),  # empty answer block
    (wrap("Yes, it is."), "yes", 0.0, False),  # exact: extra words fail
    (wrap("CAFÉ"), "café", 1.0, False),  # Unicode case folding
    (wrap("cafe\u0301"), "caf\u00e9", 1.0, False),  # decomposed and composed accents (NFC)
    (wrap("\uff12\uff11"), "21", 1.0, False),  # full-width digits are digits
    (wrap("2\uff11"), "2", 0.0, False),  # ... not punctuation to drop
    (wrap("word " * 300), "word", 0.0, True),  # over the 256-token cap: never matches
    (wrap("?!"), "yes", 0.0, True),  # only punctuation
    (wrap("yes") + wrap("no"), "no", 1.0, False),  # last answer block
    (wrap("A"), "A", 1.0, False),  # an option letter "A" is the article's spelling, not an empty answer
    (wrap("a"), "A", 1.0, False),  # ... in either case
    (wrap("(A)"), "A", 1.0, False),  # ... with brackets dropped as punctuation
    (wrap("B"), "A", 0.0, False),  # ... and another letter is wrong, not unparsable
    (wrap("a cat"), "a", 0.0, False),  # with another word beside it the article is still dropped
    (wrap("\\boxed{5}"), "5", 1.0, False),  # LaTeX box unwrapped
    (wrap("$\\text{left}$"), "left", 1.0, False),  # math delimiters and \text{} unwrapped
    (wrap("so \\boxed{\\text{Left}}"), "left", 1.0, False),  # the last box's content is the answer
    (wrap("\\boxed{5"), "5", 0.0, False),  # an unclosed box is not unwrapped
]


@pytest.mark.parametrize(("completion", "solution", "score", "parse_failed"), CASES)
def test_exact_table(completion: str, solution: Any, score: float, parse_failed: bool) -> None:
    result = build_verifier("exact_match").score([completion], [solution], [{}])
    assert result.scores == [score]
    assert result.parse_failed == [parse_failed]


@pytest.mark.parametrize(
    ("solution", "message"),
    [
        ("", "empty after normalisation"),  # empty string
        (None, "solution must be a string"),  # missing
        (True, "solution must be a string"),  # bool is not an answer
        ("<answer>x</answer>", "answer> tags"),  # would break the reference completion
        ("w " * 300, "more than 256 words"),  # too long to be a short answer
    ],
)
def test_exact_rejects_bad_ground_truth(solution: Any, message: str) -> None:
    with pytest.raises(InvalidSolutionError, match=message):
        build_verifier("exact_match").validate_solution(solution, {})


def test_an_article_alone_is_a_valid_ground_truth() -> None:
    # Multiple-choice answers "A" were rejected as empty before the article rule kept a lone article.
    verifier = build_verifier("exact_match")
    verifier.validate_solution("A", {})
    assert verifier.score([wrap("The")], ["the"], [{}]).scores == [1.0]
