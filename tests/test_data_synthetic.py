"""Synthetic domains: determinism, speed, rewards of the ground truth, and that the image is needed."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import numpy as np
import pytest

from datamodules import (
    SyntheticBarChart,
    SyntheticComposed,
    SyntheticCounting,
    SyntheticGeometry,
    SyntheticGrounding,
    SyntheticObjects,
    SyntheticReferring,
    SyntheticScience,
    SyntheticSpatial,
)
from rewards.composite import DomainReward

ALL = [
    SyntheticObjects,
    SyntheticReferring,
    SyntheticGeometry,
    SyntheticSpatial,
    SyntheticScience,
    SyntheticBarChart,
    SyntheticCounting,
    SyntheticComposed,
    SyntheticGrounding,
]
BOX_SOURCES = (SyntheticObjects, SyntheticReferring, SyntheticGrounding)


def _records(cls, n: int = 120, part: str = "train", **kwargs):
    split = cls(train_size=n, eval_size=n, **kwargs).split(part)
    return [split.record(i) for i in range(n)]


@pytest.mark.parametrize("cls", ALL)
def test_deterministic_and_train_eval_differ(cls) -> None:
    a, b = _records(cls, 5), _records(cls, 5)
    assert [r.question for r in a] == [r.question for r in b]
    assert [r.solution for r in a] == [r.solution for r in b]
    assert all(np.array_equal(np.asarray(x.images[0]), np.asarray(y.images[0])) for x, y in zip(a, b))
    evals = _records(cls, 5, part="eval")
    assert [np.asarray(r.images[0]).tobytes() for r in a] != [np.asarray(r.images[0]).tobytes() for r in evals]


@pytest.mark.parametrize("cls", ALL)
def test_generation_is_fast_and_sized(cls) -> None:
    split = cls(train_size=200, image_size=112).split("train")
    start = time.perf_counter()
    records = [split.record(i) for i in range(200)]
    per_sample = (time.perf_counter() - start) / 200
    assert per_sample < 0.005, f"{cls.__name__}: {per_sample * 1e3:.2f} ms per sample"
    assert all(r.images[0].size == (112, 112) and r.meta["image_size"] == [112, 112] for r in records)


@pytest.mark.parametrize("cls", ALL)
def test_reference_scores_one_and_shuffled_answers_score_low(cls) -> None:
    records = _records(cls, 120)
    reward = DomainReward(cls().default_verifiers())
    solutions, metas = [r.solution for r in records], [r.meta for r in records]
    for i, (s, m) in enumerate(zip(solutions, metas)):
        reward.validate_solution(s, m, f"x/train/{i}")
    reference = [reward.reference_completion(s, m) for s, m in zip(solutions, metas)]
    assert reward.eval_score(reference, solutions, metas) == pytest.approx([1.0] * len(records))
    total = reward(reference, solutions, metas).total
    assert float(total.min()) == pytest.approx(reward.max_total)
    # Another sample's answer: a box or option letter that belongs to a different image.
    shuffled = reference[1:] + reference[:1]
    assert np.mean(reward.eval_score(shuffled, solutions, metas)) < 0.45


def _template_baseline(cls, reward: DomainReward) -> tuple[float, float]:
    """Score of the best text-only answer per template (fit on train, scored on eval), and chance."""
    train, test = _records(cls, 300), _records(cls, 300, part="eval")
    by_template: dict[str, list] = defaultdict(list)
    for r in train:
        by_template[r.meta["template"]].append(r)
    guesses, chance = {}, {}
    for template, rs in by_template.items():
        if cls in BOX_SOURCES:
            # Best constant box: the mean ground-truth box of the template.
            boxes = [b for r in rs for b in (r.solution if cls is SyntheticObjects else [r.solution])]
            mean = [round(float(v)) for v in np.mean(boxes, axis=0)]
            guesses[template] = [mean] if cls is SyntheticObjects else mean
        else:
            answers = Counter(str(r.solution) for r in rs)
            guesses[template] = answers.most_common(1)[0][0]
            chance[template] = 1 / len(answers)
    completions = [reward.reference_completion(guesses[r.meta["template"]], r.meta) for r in test]
    score = float(np.mean(reward.eval_score(completions, [r.solution for r in test], [r.meta for r in test])))
    expected = float(np.mean([chance.get(r.meta["template"], 0.0) for r in test]))
    return score, expected


@pytest.mark.parametrize("cls", ALL)
def test_question_text_alone_is_worth_chance(cls) -> None:
    reward = DomainReward(cls().default_verifiers())
    score, chance = _template_baseline(cls, reward)
    if cls in BOX_SOURCES:
        assert score < 0.2, f"{cls.__name__}: a constant box scores {score:.2f}"
    else:
        # The majority answer of a template may beat 1/#answers by sampling noise only.
        assert score <= chance + 0.12, f"{cls.__name__}: text-only {score:.2f} vs chance {chance:.2f}"


def test_difficulty_adds_shapes_and_options_are_validated() -> None:
    easy = _records(SyntheticObjects, 60, difficulty=1)
    hard = _records(SyntheticObjects, 60, difficulty=3)
    assert np.mean([len(r.solution) for r in hard]) > np.mean([len(r.solution) for r in easy])
    with pytest.raises(ValueError, match="difficulty"):
        SyntheticObjects(difficulty=5)
    with pytest.raises(ValueError, match="image_size"):
        SyntheticObjects(image_size=8)


def test_difficulty_one_has_templates_a_small_model_can_start_from() -> None:
    """Difficulty 1 keeps part of each domain free of name binding and text reading (the tiny base's foothold)."""
    spatial = Counter(r.meta["template"] for r in _records(SyntheticSpatial, 200))
    assert 0.35 < spatial["spatial/extreme"] / 200 < 0.65
    assert "spatial/extreme" not in {r.meta["template"] for r in _records(SyntheticSpatial, 100, difficulty=2)}
    geometry = Counter(r.meta["template"] for r in _records(SyntheticGeometry, 200))
    assert 0.35 < geometry["geometry/sides"] / 200 < 0.65
    # Referring at difficulty 1: the anchor and the target only; grounding: exactly `difficulty` shapes.
    assert all(r.meta["template"] == "grounding/1" for r in _records(SyntheticGrounding, 20))
    assert all(r.meta["template"] == "grounding/3" for r in _records(SyntheticGrounding, 20, difficulty=3))


def test_extreme_template_answers_the_extreme_shapes_colour() -> None:
    """The answer's colour is the colour of the pixels nearest the asked image edge."""
    from datamodules.synthetic.base import COLORS
    checked = 0
    for r in _records(SyntheticSpatial, 80):
        if r.meta["template"] != "spatial/extreme":
            continue
        pixels = np.asarray(r.images[0]).astype(int)
        coloured = np.argwhere((np.abs(pixels - 255).sum(-1)) > 60)  # (y, x) of non-white pixels
        q = r.question
        axis, pick = (1, min) if "left" in q else (1, max) if "right" in q else (0, min) if "highest" in q else (0, max)
        y, x = coloured[coloured[:, axis].argmin() if pick is min else coloured[:, axis].argmax()]
        nearest = min(COLORS, key=lambda c: np.abs(np.array(COLORS[c]) - pixels[y, x]).sum())
        assert nearest == r.solution, q
        checked += 1
    assert checked > 20
