"""Speed of every built-in verifier on hostile and on ordinary completions (one CPU core).

Run from the repository root::

    python benchmarks/verifiers.py            # full run (about a minute)
    python benchmarks/verifiers.py --runs 3   # fewer repetitions per hostile case

``paper_accuracy`` and ``math_verify`` send answers of at most 1 KiB to math-verify's child process
(started before the timings); time spent there is wall time of another process, so those two rows are
timed on wall clock (``time.perf_counter``) instead of CPU time.

For each verifier it reports the slowest of the 1 MB pathological completions below (median of
``--runs`` timings each; target < 50 ms) and the throughput on 10^4 ordinary completions of
its domain (best of 3 batches; target >= 20,000 completions/s), as a Markdown table. As in
GRPO, the ordinary batch holds G = 6 completions per prompt, each prompt with its own copy of
the ground truth (so a verifier prepares each ground truth once per group, not once per batch).
Times are CPU time of this single-threaded process (``time.process_time``), so other jobs on a
shared machine inflate them less than wall-clock time would.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards import build_verifier  # noqa: E402

MB = 1 << 20
HEAD, TAIL = "<think>\nx\n</think>\n<answer>\n", "\n</answer>"


def fill(piece: str, head: str = "", tail: str = "") -> str:
    """``piece`` repeated to 1 MB between ``head`` and ``tail``."""
    return head + piece * ((MB - len(head) - len(tail)) // len(piece) + 1) + tail


PATHOLOGICAL: dict[str, str] = {
    "open_answer_tags": fill("<answer>"),
    "answer_pairs": fill("<answer></answer>"),
    "think_tags_then_answer": fill("<think>", tail="<answer>\nB\n</answer>"),
    "format_delimiters": fill("\n</think>\n<answer>\n", "<think>\n", "\n</answer>\nX"),
    "nested_answers": "<answer>" * (MB // 17) + "</answer>" * (MB // 17),
    "digit_run": fill("9", HEAD, TAIL),
    "many_numbers": fill("1, ", HEAD, TAIL),
    "fraction_bait": fill("\\frac{1}{", HEAD, TAIL),
    "open_brackets": fill("[", HEAD, TAIL),
    "nested_brackets": HEAD + "[" * (MB // 2) + "]" * (MB // 2) + TAIL,
    "partial_boxes": fill("[1, 2, 3, ", HEAD, TAIL),
    "many_boxes": fill("[1, 2, 30, 40] ", HEAD, TAIL),
    "coco_objects": fill("{'Position': [1, 2, 30, 40], 'Confidence': 0.5}, ", HEAD + "[", "]" + TAIL),
    "open_objects": fill("{'Position': [1, 2, ", HEAD, TAIL),
    "huge_coordinates": fill("[1e300, -1e300, 1e308, 1e308] ", HEAD, TAIL),
    "letters": fill("A ", HEAD, TAIL),
    "letters_no_block": fill("B "),
    "no_letters_no_block": fill("xyz "),
    "words": fill("twenty one the ", HEAD, TAIL),
    "punctuation_no_block": fill("?! "),
    "binary": fill("".join(map(chr, range(256)))),
    "nan_inf": fill("nan inf -inf 1e999 ", HEAD, TAIL),
    "whitespace": fill(" \n\t", HEAD, TAIL),
}

SOLUTIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "think_answer_format": (None, {}),
    "choice_accuracy": ("B", {"options": ["cat", "dog", "bird", "fish"]}),
    "exact_match": ("twenty one", {}),
    "numeric_match": ("21", {}),
    "box_iou": ([1, 2, 30, 40], {"image_size": [640, 480], "box_format": "pixel"}),
    "multi_box_iou": ([[1, 2, 30, 40], [50, 60, 200, 300]], {"image_size": [640, 480], "box_format": "pixel"}),
    "paper_accuracy": ("21", {}),
    "math_verify": ("\\frac{42}{2}", {}),
    "relaxed_accuracy": (["21"], {}),
    "anls": (["twenty one", "21"], {}),
    "mathvista_match": ("21", {"question_type": "free_form", "answer_type": "integer", "precision": None}),
    "mmmu_match": ("B", {"options": ["cat", "dog", "bird", "fish"], "question_type": "multiple-choice"}),
}


def _think(rng: random.Random) -> str:
    words = "the image shows a red object left of the table so we compare sizes and count them carefully".split()
    return " ".join(rng.choice(words) for _ in range(rng.randint(30, 80)))


def _answer(name: str, rng: random.Random) -> str:
    """An answer of the kind a policy produces for this verifier's domain (right or wrong)."""
    if name == "mmmu_match":
        name = "choice_accuracy"
    elif name in ("paper_accuracy", "math_verify", "relaxed_accuracy", "anls", "mathvista_match"):
        name = "numeric_match"
    if name in ("think_answer_format", "choice_accuracy"):
        return rng.choice(["B", "(C)", "Answer: A", "The answer is D.", "dog", "B. dog"])
    if name == "exact_match":
        return rng.choice(["twenty one", "21", "Yes", "left of the table", "no."])
    if name == "numeric_match":
        return rng.choice(["21", "x = 20.5", "\\frac{42}{2}", "21%", "1,021"])
    if name == "box_iou":
        return f"[{rng.randint(0, 50)}, {rng.randint(0, 50)}, {rng.randint(60, 600)}, {rng.randint(60, 400)}]"
    boxes = ", ".join(
        f"{{'Position': [{rng.randint(0, 50)}, {rng.randint(0, 50)}, {rng.randint(60, 600)}, "
        f"{rng.randint(60, 400)}], 'Confidence': {rng.random():.2f}}}"
        for _ in range(rng.randint(1, 4))
    )
    return f"[{boxes}]"


def ordinary(name: str, n: int, seed: int = 0) -> list[str]:
    """``n`` ordinary completions; one in ten breaks the format."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        text = f"<think>\n{_think(rng)}\n</think>\n<answer>\n{_answer(name, rng)}\n</answer>"
        texts.append(text if i % 10 else text.replace("\n", " "))
    return texts


WALL_CLOCK = {"paper_accuracy", "math_verify"}  # their work runs in a child process


def _seconds(fn: Callable[[], object], clock: Callable[[], float] = time.process_time) -> float:
    # CPU time of this process by default, so that other jobs on a shared machine do not count.
    start = clock()
    fn()
    return clock() - start


def main() -> None:
    """Time every verifier and print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timings per pathological case (median reported)")
    parser.add_argument("--n", type=int, default=10_000, help="ordinary completions per batch")
    parser.add_argument("--only", nargs="*", default=None, help="verifier names to time (default: all)")
    args = parser.parse_args()

    print("| verifier | slowest 1 MB case | median ms (target < 50) | ordinary completions/s (target >= 20,000) |")
    print("|---|---|---:|---:|")
    for name, (solution, meta) in SOLUTIONS.items():
        if args.only and name not in args.only:
            continue
        verifier = build_verifier(name)
        verifier.score(["<answer>\n1\n</answer>"], [solution], [meta])  # math-verify's child starts outside the timings
        clock = time.perf_counter if name in WALL_CLOCK else time.process_time
        worst_case, worst_ms = "", 0.0
        for case, text in PATHOLOGICAL.items():
            ms = 1e3 * statistics.median(
                _seconds(partial(verifier.score, [text], [solution], [meta]), clock) for _ in range(args.runs)
            )
            if ms > worst_ms:
                worst_case, worst_ms = case, ms
        texts = ordinary(name, args.n)
        group = 6
        prompts = [(copy.deepcopy(solution), copy.deepcopy(meta)) for _ in range(args.n // group + 1)]
        solutions = [prompts[i // group][0] for i in range(args.n)]
        metas = [prompts[i // group][1] for i in range(args.n)]
        best = min(_seconds(partial(verifier.score, texts, solutions, metas), clock) for _ in range(3))
        print(f"| {name} | {worst_case} | {worst_ms:.2f} | {args.n / best:,.0f} |")


if __name__ == "__main__":
    main()
