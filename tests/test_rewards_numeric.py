"""Table tests for ``numeric_match``."""

from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


CASES: list[tuple[str, Any, dict[str, float], float, bool]] = [
    (wrap("42"), 42, {}, 1.0, False),  # integer
    (wrap("42.0"), "42", {}, 1.0, False),  # decimal vs integer string
    (wrap("1,234"), 1234, {}, 1.0, False),  # thousands separator
    (wrap("3/4"), 0.75, {}, 1.0, False),  # plain fraction
    (wrap(r"\frac{3}{4}"), "0.75", {}, 1.0, False),  # LaTeX fraction
    (wrap(r"$\dfrac{1}{3}$"), "0.33333", {}, 1.0, False),  # \dfrac inside math mode, within rel_tol
    (wrap(r"\frac12"), 0.5, {}, 1.0, False),  # bare-digit arguments: \frac12 is 1/2, not 12
    (wrap(r"\frac12"), 12, {}, 0.0, False),  # ... so it is not twelve
    (wrap(r"x = \tfrac1{4}"), 0.25, {}, 1.0, False),  # one bare, one braced argument
    (wrap(r"\frac{3}4"), 0.75, {}, 1.0, False),  # ... the other way round
    (wrap("50%"), 0.5, {}, 1.0, False),  # percentage read as a fraction
    (wrap("50%"), 50, {}, 1.0, False),  # ... or as the bare number
    (wrap("12.5 cm"), 12.5, {}, 1.0, False),  # trailing unit
    (wrap("x = 3 - 2 = 1"), 1, {}, 1.0, False),  # the last number counts
    (wrap("-5"), -5, {}, 1.0, False),  # negative
    (wrap("\u22125"), -5, {}, 1.0, False),  # Unicode minus sign
    (wrap("\uff0d5"), -5, {}, 1.0, False),  # full-width minus sign
    (wrap("\ufe635"), 5, {}, 0.0, False),  # small minus sign: not the positive number
    (wrap(".5"), 0.5, {}, 1.0, False),  # leading-dot decimal
    (wrap("The answer is ...5"), 5, {}, 1.0, False),  # an ellipsis is not a decimal point
    (wrap("x = 3, then...7"), 7, {}, 1.0, False),  # ... so the last number is still found
    (wrap("0.5%"), "50%", {}, 0.0, False),  # two percentages compare as written
    (wrap("50%"), "50%", {}, 1.0, False),
    (wrap("5000%"), "50%", {}, 0.0, False),
    (wrap(r"\sqrt{2}"), 1.41421356, {}, 1.0, False),  # LaTeX square root
    (wrap("1e3"), "1,000", {}, 1.0, False),  # scientific notation
    (wrap("43"), 42, {}, 0.0, False),  # wrong number
    (wrap("nan"), 1, {}, 0.0, True),  # NaN is not a number here
    (wrap("inf"), 1, {}, 0.0, True),  # nor is infinity
    (wrap("1e999"), 1, {}, 0.0, True),  # overflows to inf: rejected
    (wrap("5/0"), 1, {}, 0.0, True),  # division by zero
    (wrap("9" * 100), 1, {}, 0.0, True),  # absurdly long digit run
    (wrap("100.5"), 100, {"rel_tol": 0.01}, 1.0, False),  # relative tolerance option
    (wrap("0.001"), 0, {"abs_tol": 0.01}, 1.0, False),  # absolute tolerance option
    (wrap("0.001"), 0, {}, 0.0, False),  # default: no absolute tolerance
    ("The total is 7", 7, {}, 1.0, False),  # no answer block: last number of the whole text
]


@pytest.mark.parametrize(("completion", "solution", "options", "score", "parse_failed"), CASES)
def test_numeric_table(
    completion: str, solution: Any, options: dict[str, float], score: float, parse_failed: bool
) -> None:
    result = build_verifier("numeric_match", **options).score([completion], [solution], [{}])
    assert result.scores == [score]
    assert result.parse_failed == [parse_failed]


@pytest.mark.parametrize(
    "solution",
    [
        "abc",  # words
        "3 apples",  # a number with words is not a clean ground truth
        True,  # bool
        float("nan"),  # NaN
        float("inf"),  # infinity
        None,  # missing
        "1e999",  # overflows
    ],
)
def test_numeric_rejects_bad_ground_truth(solution: Any) -> None:
    with pytest.raises(InvalidSolutionError, match="solution"):
        build_verifier("numeric_match").validate_solution(solution, {})


@pytest.mark.parametrize("option", [{"rel_tol": -1.0}, {"abs_tol": float("nan")}, {"rel_tol": "0.1"}])
def test_numeric_rejects_bad_options(option: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(option))):
        build_verifier("numeric_match", **option)


@pytest.mark.parametrize(("solution", "canonical"), [("3/4", "0.75"), (12, "12"), ("50%", "50%"), (0.1, "0.1")])
def test_numeric_canonical_answer(solution: Any, canonical: str) -> None:
    assert build_verifier("numeric_match").canonical_answer(solution, {}) == canonical
