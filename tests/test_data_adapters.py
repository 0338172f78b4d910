"""The paper's nine datasets, read from copies in their hub layouts through configs/data/paper.yaml.

``tests/fixtures/data/<owner>__<name>`` mirrors each hub repo (``make_fixtures.py``); the config's hub ids are
pointed at those folders and everything else - splits, box frames, prompts, verifiers, ``on_bad_sample:
fail`` - is the config's own. For each dataset a right answer scores the maximum and a near miss scores
what the paper's reward or lmms-eval's metric gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from datamodules import ChartQASource, LISASource, MMMUSource, SATSource, ViRFTCOCOSource
from datamodules.check import build_datamodule
from datamodules.prepared import PreparedPart
from datamodules.sources import fit_size
from datamodules.sources.base import BadSampleError
from datamodules.sources.parsing import parse_letter, parse_options, parse_positions, parse_string_list
from rewards.composite import DomainReward

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "data"
PAPER = ROOT / "configs" / "data" / "paper.yaml"
THINK = "<think>\nlooking at the image\n</think>\n<answer>\n{}\n</answer>"

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def localize(node: Any) -> Any:
    """The config with every hub id that has a fixture copy (``owner/name``) replaced by that folder."""
    if isinstance(node, dict):
        return {k: localize(v) for k, v in node.items()}
    if isinstance(node, list):
        return [localize(v) for v in node]
    if isinstance(node, str) and node.count("/") == 1 and (FIXTURES / node.replace("/", "__")).is_dir():
        return str(FIXTURES / node.replace("/", "__"))
    return node


def local_config(tmp_path: Path, source: Path = PAPER) -> Path:
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(localize(yaml.safe_load(source.read_text()))))
    return path


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The paper's data module on the fixtures, set up for training (train and eval parts)."""
    datamodule = build_datamodule(local_config(tmp_path_factory.mktemp("paper")), [])
    assert datamodule.on_bad_sample == "fail"
    datamodule.setup("fit")
    return datamodule


def samples(datamodule: Any, name: str, part: str = "eval") -> list:
    domain = next(d for d in datamodule.domains if d.name == name)
    prepared = PreparedPart(domain, part, domain.source.split(part), datamodule.rewards[name])
    return [prepared[i] for i in range(len(prepared))]


def totals(datamodule: Any, name: str, sample: Any, answers: list[str]) -> list[float]:
    """The domain's reward (format gate on) for completions with these answers."""
    reward: DomainReward = datamodule.rewards[name]
    completions = [THINK.format(a) for a in answers]
    return reward(completions, [sample.solution] * len(answers), [sample.meta] * len(answers)).total.tolist()


def metric(datamodule: Any, name: str, sample: Any, completions: list[str]) -> list[float]:
    """The benchmark metric (the domain's primary verifier) for these completions."""
    n = len(completions)
    return datamodule.rewards[name].eval_score(completions, [sample.solution] * n, [sample.meta] * n)


def test_every_dataset_sets_up_from_its_hub_layout(paper: Any) -> None:
    sizes = {b.name: (b.role, b.size) for b in paper.eval_benchmarks}
    assert sizes == {
        "lisa_test": ("in", 1), "sat": ("in", 1), "scienceqa": ("in", 1),
        "chartqa": ("out", 2), "infovqa": ("out", 2), "mathvista": ("out", 3), "mmmu": ("out", 2),
    }  # fmt: skip
    assert {name: len(samples(paper, name, "train")) for name in ("coco", "lisa", "geoqav", "sat", "scienceqa")} == {
        "coco": 2, "lisa": 2, "geoqav": 2, "sat": 2, "scienceqa": 1}


def test_coco_boxes_are_on_the_0_1000_grid_and_answers_are_scored_there(paper: Any) -> None:
    umbrellas = samples(paper, "coco", "train")[0]
    assert umbrellas.meta == {"image_size": [56, 56], "box_format": "norm1000"}  # 64x48 resized to 28-multiples
    assert umbrellas.solution[0] == pytest.approx([100 / 1000 * 56, 125 / 1000 * 56, 468 / 1000 * 56, 833 / 1000 * 56])
    assert "between 0 and 1000, integer" in umbrellas.prompt and umbrellas.prompt.count("<think> </think>") == 1
    both = ("[{'Position': [100, 125, 468, 833], 'Confidence': 0.9}, "
            "{'Position': [500, 42, 938, 417], 'Confidence': 0.8}]")
    one = "[{'Position': [100, 125, 468, 833], 'Confidence': 0.9}]"
    as_pixels = "[{'Position': [6, 6, 30, 40], 'Confidence': 0.9}]"  # the first box read as pixels of 64x48
    # Right: 1 + 2 * 1. One of two boxes: Visual-RFT's sum of IoUs / max(#gt, #pred) = 0.5.
    # Pixel frame: no overlap > 0.5.
    assert totals(paper, "coco", umbrellas, [both, one, as_pixels]) == pytest.approx([3.0, 2.0, 1.0])


def test_coco_read_as_pixels_is_refused_not_silently_rescaled() -> None:
    source = ViRFTCOCOSource(str(FIXTURES / "laolao77__ViRFT_COCO"), solution_box_format="pixel", box_format="pixel")
    reward = DomainReward(source.default_verifiers())
    from datamodules.domain import Domain

    with pytest.raises(BadSampleError, match="lies outside the image"):
        PreparedPart(Domain("coco", source), "train", source.split("train"), reward)
    bad = ViRFTCOCOSource(str(FIXTURES / "laolao77__ViRFT_COCO"))
    with pytest.raises(BadSampleError, match="outside the norm1000 frame"):
        bad.rescale([0, 0, 1200, 10], [type("I", (), {"size": (10, 10)})()], 1.0, 1.0)


def test_lisa_pays_1_above_iou_half_and_lisa_test_is_mean_iou(paper: Any) -> None:
    cup, seat = samples(paper, "lisa", "train")
    # 80x40 pixels resized to 84x28 (28-multiples): the stored pixel box [8, 4, 40, 36] follows the image.
    assert cup.meta["image_size"] == [84, 28] and cup.solution == pytest.approx([8.4, 2.8, 42.0, 25.2])
    assert seat.solution == pytest.approx([5.6, 22.4, 28.0, 67.2])  # 0-1 fractions of the 56x112 image
    # IoU 1 -> 1 + 2; a box with IoU 0.6 still pays 2 (threshold 0.5); one with IoU 0.4 pays nothing.
    assert totals(paper, "lisa", cup, ["[8.4, 2.8, 42, 25.2]", "[8.4, 2.8, 42, 16.24]", "[8.4, 2.8, 42, 11.76]"]) == (
        pytest.approx([3.0, 3.0, 1.0]))
    (letter_box,) = samples(paper, "lisa_test")
    w, h = letter_box.meta["image_size"]
    half = f"[{0.2 * w}, {0.2 * h}, {0.6 * w}, {0.5 * h}]"  # half of the ground-truth box
    assert metric(paper, "lisa_test", letter_box, [THINK.format(half)]) == pytest.approx([0.5])


def test_choice_sets_score_letters_as_the_paper_does(paper: Any) -> None:
    angle, isosceles = samples(paper, "geoqav", "train")
    assert angle.solution == "C" and angle.meta["options"] == ["40°", "50°", "140°", "130°"]
    assert isosceles.solution == "A"  # the first option's letter is an answer, not an article
    # The paper's reward: exact or the last standalone letter ("(C)"), not "C." nor the option's text.
    assert totals(paper, "geoqav", angle, ["C", "(C)", "C.", "140°", "B"]) == [3.0, 3.0, 1.0, 1.0, 1.0]
    (north,) = samples(paper, "scienceqa")
    assert north.solution == "B" and totals(paper, "scienceqa", north, ["B", "Ohio"]) == [3.0, 1.0]


def test_sat_words_and_letters(paper: Any) -> None:
    lamp, closer = samples(paper, "sat", "train")
    assert (lamp.solution, closer.solution) == ("left", "A") and closer.meta["options"] == ["the chair", "the table"]
    assert totals(paper, "sat", lamp, ["left", "Left", "right"]) == [3.0, 1.0, 1.0]  # exact means exact
    assert totals(paper, "sat", closer, ["A", "I choose A", "B"]) == [3.0, 3.0, 1.0]


def test_chartqa_relaxed_accuracy_with_lmms_eval_prompt(paper: Any) -> None:
    bar, country = samples(paper, "chartqa")
    assert bar.prompt == "What is the value of the tallest bar?\nAnswer the question with a single word."
    assert bar.solution == ["42"]
    assert metric(paper, "chartqa", bar, ["42", "41", "39", "forty-two"]) == [1.0, 1.0, 0.0, 0.0]  # 41 is within 5 %
    assert metric(paper, "chartqa", country, ["brazil", "Brazil."]) == [1.0, 0.0]


def test_infovqa_anls(paper: Any) -> None:
    network = samples(paper, "infovqa")[0]
    assert network.prompt.endswith("\nAnswer the question using a single word or phrase.")
    assert metric(paper, "infovqa", network, ["Facebook", "facebok", "fb"]) == pytest.approx([1.0, 0.875, 0.0])


def test_mathvista_extraction_and_lmms_eval_prompt(paper: Any) -> None:
    choice, count, slope = samples(paper, "mathvista")
    assert choice.prompt == ("Find the value of x.\nA. 2\nB. 4\nC. 6\nD. 8\n"
                             "Answer with the option's letter from the given choices directly.")
    assert choice.solution == "6" and choice.meta["options"] == ["2", "4", "6", "8"]
    assert metric(paper, "mathvista", choice, ["C", "6", "(C) 6", "D"]) == [1.0, 1.0, 1.0, 0.0]
    assert metric(paper, "mathvista", count, ["3", "There are 3 bars.", "4"]) == [1.0, 1.0, 0.0]
    assert slope.prompt.endswith("with two decimal places.") and slope.meta["precision"] == 2.0
    assert metric(paper, "mathvista", slope, ["1.449", "1.4"]) == [1.0, 0.0]  # rounded to 2 decimals


def test_mmmu_choice_and_open_parsing(paper: Any) -> None:
    income, years = samples(paper, "mmmu")
    assert income.solution == "A" and income.prompt.startswith("<image 1> What is the firm's net income?\nA. $10")
    assert metric(paper, "mmmu", income, ["A", "(A)", "The answer is B", "$10 maybe"]) == [1.0, 1.0, 0.0, 0.25]
    assert [im.size for im in years.images] == [(28, 28), (28, 28)]  # <image 1> and <image 2>, in number order
    assert metric(paper, "mmmu", years, ["3", "It took 3 years.", "4"]) == [1.0, 1.0, 0.0]


def test_think_answer_protocol_asks_with_the_training_prompt(tmp_path: Path) -> None:
    datamodule = build_datamodule(local_config(tmp_path, ROOT / "configs" / "paper" / "data_think_answer.yaml"), [])
    datamodule.setup("validate")
    income = samples(datamodule, "mmmu")[0]
    assert "Options:\nA. $10" in income.prompt and income.prompt.endswith("in <answer> </answer> tags.")
    assert metric(datamodule, "mmmu", income, [THINK.format("A"), "A"]) == [1.0, 1.0]
    bar = samples(datamodule, "chartqa")[0]
    assert metric(datamodule, "chartqa", bar, [THINK.format("41")]) == [1.0]  # the answer block is read


def test_other_hub_copies_mmmu_subjects_and_huggingfacem4_chartqa() -> None:
    subjects = MMMUSource(str(FIXTURES / "MMMU__MMMU"), name=["Accounting", "Art"]).split("eval")
    assert [subjects.record(i).solution for i in range(len(subjects))] == ["A", "B"]
    m4 = ChartQASource(str(FIXTURES / "HuggingFaceM4__ChartQA")).split("eval").record(0)
    assert (m4.question, m4.solution) == ("How many bars exceed 50?", ["3"])
    assert ChartQASource(str(FIXTURES / "lmms-lab__ChartQA")).split("train") is None  # evaluation only


def test_local_jsonl_with_image_folder() -> None:
    folder = FIXTURES / "local_jsonl"
    split = SATSource("json", data_files=str(folder / "train.jsonl"), image_root=str(folder)).split("train")
    assert [split.record(i).solution for i in range(len(split))] == ["above", "right"]


def test_lisa_pixel_boxes_rescale_with_the_image() -> None:
    record = LISASource(str(FIXTURES / "yiqingliang__lisa-problems-dataset"), max_pixels=40 * 20,
                        size_multiple=2).split("train").record(0)
    assert record.meta["image_size"] == [40, 20] and record.solution == [4, 2, 20, 18]


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
