"""math-verify behind a deadline, and the paper's accuracy reward (exact, last letter, math-verify).

The paper_accuracy expectations are what the MoDoMoDo reward (``accuracy_sat_reward``) returns for the same
answer content: exact string equality, then ``extract_letters(answer)[-1] == solution`` with its
non-overlapping pattern, then ``verify(parse(answer), parse(solution))``.
"""

import time
from typing import Any

import pytest

from rewards import InvalidSolutionError, build_verifier
from rewards.math_sandbox import MAX_MATH_CHARS, MathSandbox, shared_sandbox

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")


def wrap(answer: str) -> str:
    return f"<think>\nhmm\n</think>\n<answer>\n{answer}\n</answer>"


def score(name: str, completion: str, solution: Any, **options: Any) -> tuple[float, bool]:
    result = build_verifier(name, **options).score([completion], [solution], [{}])
    return result.scores[0], result.parse_failed[0]


MATH_VERIFY = [
    (r"\frac{1}{2}", "0.5", 1.0, False),  # a fraction and its decimal
    ("0.5", r"\boxed{\frac{1}{2}}", 1.0, False),  # a boxed answer
    ("42", "The answer is $42$.", 1.0, False),  # math-verify finds the expression in a sentence
    ("2", "3", 0.0, False),  # not equivalent
    (r"$\sqrt{2}$", r"$\frac{2}{\sqrt{2}}$", 1.0, False),  # symbolic simplification (LaTeX needs its $...$)
    ("2", r"$\sqrt{4}$", 1.0, False),
    ("42", "forty two", 0.0, True),  # no expression math-verify can read
    ("5", "x" * (MAX_MATH_CHARS + 1), 0.0, True),  # too long to be parsed at all
]


@pytest.mark.parametrize(("solution", "answer", "expected", "failed"), MATH_VERIFY)
def test_math_verify_table(solution: str, answer: str, expected: float, failed: bool) -> None:
    assert score("math_verify", wrap(answer), solution) == (expected, failed)


def test_math_verify_rejects_a_ground_truth_it_cannot_read() -> None:
    build_verifier("math_verify").validate_solution(r"\frac{3}{4}", {})
    with pytest.raises(InvalidSolutionError, match="math-verify cannot read"):
        build_verifier("math_verify").validate_solution("left", {})


PAPER = [
    ("B", wrap("B"), 1.0),  # exact
    ("B", wrap("(B)"), 1.0),  # the last standalone letter: brackets allowed ...
    ("B", wrap("[B]"), 1.0),
    ("B", wrap("B."), 0.0),  # ... but not a full stop after it (and "B" has no math-verify reading)
    ("B", wrap("The answer is B"), 1.0),  # a letter at the end
    ("A", wrap("A B"), 1.0),  # matches do not overlap: "A " eats the space "B" needed, so the last letter is A
    ("B", wrap("A B"), 0.0),  # ... and B is never found
    ("B", wrap("A B C"), 0.0),  # " C" matches after the skipped B: the last letter is C
    ("left", wrap("left"), 1.0),  # exact words
    ("left", wrap("Left"), 0.0),  # exact means exact
    ("5", wrap(r"\frac{10}{2}"), 1.0),  # math-verify
    ("0.5", wrap(r"\boxed{\frac{1}{2}}"), 1.0),
    ("5", wrap("6"), 0.0),
    ("B", "I pick B", 1.0),  # no answer block: the whole completion, as the reference falls back to
]


@pytest.mark.parametrize(("solution", "completion", "expected"), PAPER)
def test_paper_accuracy_table(solution: str, completion: str, expected: float) -> None:
    assert score("paper_accuracy", completion, solution)[0] == expected


def test_paper_accuracy_normalize_option_and_empty_answer() -> None:
    assert score("paper_accuracy", wrap("Left."), "left", normalize=True) == (1.0, False)
    assert score("paper_accuracy", "<answer></answer>", "left") == (0.0, True)
    with pytest.raises(ValueError, match="timeout_s"):
        build_verifier("paper_accuracy", timeout_s=0)


def test_a_power_tower_is_cut_off_at_the_deadline_and_the_next_answer_still_scores() -> None:
    # SymPy would compute 9^(9^(9^9)) for minutes; the child is killed at the deadline and restarted.
    sandbox = MathSandbox()
    try:
        assert sandbox.equivalent("2", "2") == "1"  # started and warm
        start = time.monotonic()
        assert sandbox.equivalent("2", r"\boxed{9^{9^{9^{9}}}}", timeout_s=0.3) is None
        assert time.monotonic() - start < 5.0  # generous: the deadline plus killing the child
        assert sandbox.timeouts == 1
        assert sandbox.equivalent("3", "3") == "1"  # a fresh child answers
    finally:
        sandbox.close()


def test_long_texts_never_reach_the_child() -> None:
    sandbox = shared_sandbox()
    assert sandbox.equivalent("1", "1" * (MAX_MATH_CHARS + 1)) is None
    assert sandbox.equivalent("1" * (MAX_MATH_CHARS + 1), "1") is None
