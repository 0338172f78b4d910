"""Table tests for ``think_answer_format`` and its equivalence with the paper's regex."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import build_verifier
from rewards.format import STRICT_PATTERN, loose_format_ok, strict_format_ok

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

OK = "<think>\nreasoning\n</think>\n<answer>\nB\n</answer>"

CASES = [
    (OK, True, 1.0),  # the canonical layout
    ("<think>\n\n</think>\n<answer>\nB\n</answer>", True, 1.0),  # empty think: .*? allows it
    ("<think>\nr\n</think>\n<answer>\n\n</answer>", True, 1.0),  # empty answer: .*? allows it
    (OK + "\n", True, 1.0),  # Python's $ matches before one final newline
    (OK + "\n\n", True, 0.0),  # ... but not before two
    (" " + OK, True, 0.0),  # strict: nothing before <think>
    ("<think>reasoning\n</think>\n<answer>\nB\n</answer>", True, 0.0),  # strict: newline after <think> required
    ("<answer>\nB\n</answer>", True, 0.0),  # no think block
    ("<answer>\nB\n</answer>\n<think>\nr\n</think>", True, 0.0),  # blocks in the wrong order
    (OK + " trailing", True, 0.0),  # text after </answer>
    ("<think>\nline 1\nline 2\n</think>\n<answer>\nB\n</answer>", True, 1.0),  # DOTALL: multi-line think
    ("<think>\nr\n</think> <answer>\nB\n</answer>", True, 0.0),  # strict: space instead of newline
    ("", True, 0.0),  # empty completion
    ("<think>\na\n</think>\nb\n</think>\n<answer>\nB\n</answer>", True, 1.0),  # regex lets think contain </think>
    ("<THINK>\nr\n</THINK>\n<ANSWER>\nB\n</ANSWER>", True, 0.0),  # tags are case-sensitive
    ("<think>\n</think>\n<answer>\n</answer>", True, 0.0),  # needs "\n" on both sides of empty content
    ("<think>x</think><answer>y</answer>", False, 1.0),  # loose: no whitespace at all
    ("<think>x</think><answer>y</answer>", True, 0.0),  # ... which strict refuses
    ("  <think> x </think>\n\n<answer> y </answer>  \n", False, 1.0),  # loose: any surrounding whitespace
    ("<think>x</think> words <answer>y</answer>", False, 0.0),  # loose: only whitespace between blocks
    ("<answer>y</answer>", False, 0.0),  # loose: think still required
    ("<think>x</think>", False, 0.0),  # loose: answer still required
]


@pytest.mark.parametrize(("completion", "strict", "expected"), CASES)
def test_format_table(completion: str, strict: bool, expected: float) -> None:
    result = build_verifier("think_answer_format", strict=strict).score([completion], [None], [{}])
    assert result.scores == [expected]
    assert result.parse_failed == [expected == 0.0]


def test_strict_option_type_checked() -> None:
    with pytest.raises(ValueError, match="strict"):
        build_verifier("think_answer_format", strict="yes")


_FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "\n", " ", "x", "\n</think>\n<answer>\n", "\n</answer>"]
_fragment_text = st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(_fragment_text)
def test_strict_check_equals_reference_regex(text: str) -> None:
    assert strict_format_ok(text) == (re.match(STRICT_PATTERN, text, re.DOTALL) is not None)


@settings(max_examples=400, deadline=None)
@given(_fragment_text)
def test_loose_check_equals_loose_regex(text: str) -> None:
    reference = re.match(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", text, re.DOTALL)
    assert loose_format_ok(text) == (reference is not None)
