"""Real-data adapters on fixture files in each source's schema (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamodules import (
    ChartQASource,
    GeoQAVSource,
    InfoVQASource,
    LISASource,
    MathVistaSource,
    MMMUSource,
    SATSource,
    ScienceQASource,
    ViRFTCOCOSource,
)
from datamodules.sources import fit_size
from datamodules.sources.base import BadSampleError
from datamodules.sources.parsing import parse_letter, parse_options, parse_positions, parse_string_list
from rewards.composite import DomainReward

FIXTURES = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def _all(source, part: str = "train"):
    split = source.split(part)
    records = [split.record(i) for i in range(len(split))]
    reward = DomainReward(source.default_verifiers())
    for i, r in enumerate(records):
        reward.validate_solution(r.solution, r.meta, f"fixture/{part}/{i}")
        assert reward.eval_score([reward.reference_completion(r.solution, r.meta)], [r.solution], [r.meta]) == [1.0]
    return records


def test_virft_coco_positions_rescaled_with_the_image() -> None:
    full = _all(ViRFTCOCOSource(str(FIXTURES / "virft_coco")))
    assert full[0].solution == [[4, 6, 30, 40], [32, 2, 60, 20]] and full[0].meta["image_size"] == [64, 48]
    half = _all(ViRFTCOCOSource(str(FIXTURES / "virft_coco"), max_pixels=32 * 24))
    assert half[0].images[0].size == (32, 24)
    assert half[0].solution == [[2, 3, 15, 20], [16, 1, 30, 10]]
    assert "detect the following objects" in half[0].question


def test_lisa_pixel_and_fractional_boxes_and_separate_test_split() -> None:
    source = LISASource(str(FIXTURES / "lisa"), eval_split="test")
    train = _all(source)
    assert train[0].solution == [8, 4, 40, 36]  # pixels, kept
    assert train[1].solution == [5, 20, 25, 60]  # 0-1 fractions of a 50x100 image
    assert len(_all(source, "eval")) == 2
    resized = _all(LISASource(str(FIXTURES / "lisa"), max_pixels=40 * 20, size_multiple=2))
    assert resized[0].meta["image_size"] == [40, 20] and resized[0].solution == [4, 2, 20, 18]


@pytest.mark.parametrize("cls", [GeoQAVSource, ScienceQASource])
def test_choice_sets_give_letters_and_options(cls) -> None:
    records = _all(cls(str(FIXTURES / cls.__name__.removesuffix("Source").lower())))
    assert [r.solution for r in records] == ["C", "B"]
    assert records[0].meta["options"] == ["40°", "50°", "140°", "130°"]
    assert records[1].meta["options"] == ["Ohio", "Maine", "Texas", "Utah"]  # format suffix not in the option


def test_sat_words_and_several_images() -> None:
    records = _all(SATSource(str(FIXTURES / "sat")))
    assert [r.solution for r in records] == ["left", "right"]
    assert [len(r.images) for r in records] == [1, 2]


def test_local_jsonl_with_image_folder() -> None:
    folder = FIXTURES / "local_jsonl"
    source = SATSource("json", data_files=str(folder / "train.jsonl"), image_root=str(folder))
    assert [r.solution for r in _all(source)] == ["above", "right"]


def test_chartqa_and_infovqa() -> None:
    chart = _all(ChartQASource(str(FIXTURES / "chartqa")), "eval")
    assert [(r.question, r.solution) for r in chart][0] == ("What is the value of the tallest bar?", "42")
    assert ChartQASource(str(FIXTURES / "chartqa")).split("train") is None  # evaluation only
    info = _all(InfoVQASource(str(FIXTURES / "infovqa"), name=None), "eval")
    assert info[0].solution == "54%" and info[0].meta["answers"] == ["54%", "54"]


def test_mathvista_choices_become_letters() -> None:
    records = _all(MathVistaSource(str(FIXTURES / "mathvista")), "eval")
    assert [r.solution for r in records] == ["C", "3"]
    assert records[0].meta["options"] == ["2", "4", "6", "8"] and records[0].question.startswith("Hint:")


def test_mmmu_options_literal_and_several_images() -> None:
    records = _all(MMMUSource(str(FIXTURES / "mmmu")), "eval")
    assert records[0].meta["options"] == ["$10", "$20's", "$30", "$40"]
    assert "B. $20's" in records[0].question and records[0].solution == "B"
    assert [len(r.images) for r in records] == [1, 2] and records[1].solution == "3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("['a', 'b']", ["a", "b"]),  # plain
        ("[\"it's\", 'x, y']", ["it's", "x, y"]),  # other quote, comma inside
        ("['a\\'b']", ["a'b"]),  # escaped quote
        ("[]", []),  # empty
    ],
)
def test_parse_string_list(text: str, expected: list[str]) -> None:
    assert parse_string_list(text) == expected


@pytest.mark.parametrize("text", ["['a' 'b']", "[a, b]", "['a", "__import__('os')"])
def test_parse_string_list_rejects_non_literals(text: str) -> None:
    with pytest.raises(BadSampleError):
        parse_string_list(text)


def test_small_parsers() -> None:
    assert parse_letter("(B)") == "B" and parse_letter("Maine", ["Ohio", "Maine"]) == "B"
    with pytest.raises(BadSampleError, match="option letter"):
        parse_letter("maybe", ["yes", "no"])
    assert parse_options("Q?\n(A) one\n(B) two") == ["one", "two"]
    assert parse_options("Q? no options") is None
    assert parse_positions("[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}]") == [[1, 2, 3, 4]]
    assert fit_size(1000, 500, 250_000, 28) == (700, 336)
    assert fit_size(100, 50, None) == (100, 50)
