"""DomainReward: weights, the format gate, logging, evaluation, validation and reference completions."""

from typing import Any

import pytest
import torch

from rewards import DomainReward, InvalidSolutionError, Verifier, VerifierCrashWarning, VerifierResult, VerifierSpec

pytestmark = pytest.mark.filterwarnings("error::rewards.base.VerifierCrashWarning")

FMT = {"name": "think_answer_format", "weight": 1.0}
# The paper's five training domains (weights: accuracy/IoU 2.0, format 1.0).
DOMAINS: dict[str, tuple[list[dict[str, Any]], Any, dict[str, Any]]] = {
    "coco": (
        [FMT, {"name": "multi_box_iou", "weight": 2.0}],
        [[1, 2, 30, 40], [50, 50, 90, 99]],
        {"image_size": [100, 100], "box_format": "norm1000"},
    ),
    "lisa": (
        [FMT, {"name": "box_iou", "weight": 2.0}],
        [10, 20, 300, 400],
        {"image_size": [640, 480], "box_format": "pixel"},
    ),
    "geoqav": ([FMT, {"name": "choice_accuracy", "weight": 2.0}], "C", {"options": ["1", "2", "3", "4"]}),
    "sat": ([FMT, {"name": "exact_match", "weight": 2.0}], "left", {}),
    "scienceqa": ([FMT, {"name": "choice_accuracy", "weight": 2.0}], "A", {}),
    "math": ([FMT, {"name": "numeric_match", "weight": 2.0}], "\\frac{1}{3}", {}),
}


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_reference_completion_scores_the_maximum(domain: str) -> None:
    specs, solution, meta = DOMAINS[domain]
    reward = DomainReward(specs)
    reward.validate_solution(solution, meta, sample_id=f"{domain}-0")
    completion = reward.reference_completion(solution, meta, think="Let me look.")
    out = reward([completion], [solution], [meta])
    assert out.total.shape == (1,) and out.total.dtype == torch.float32
    assert out.total.item() == pytest.approx(reward.max_total) == pytest.approx(3.0)
    assert reward.eval_score([completion], [solution], [meta]) == [pytest.approx(1.0)]


def test_default_reference_completion_has_empty_think() -> None:
    reward = DomainReward([FMT, {"name": "choice_accuracy"}])
    assert reward.reference_completion("B", {}) == "<think>\n\n</think>\n<answer>\nB\n</answer>"


def test_format_gate_zeroes_other_verifiers() -> None:
    good_format = "<think>\nx\n</think>\n<answer>\nB\n</answer>"
    bad_format = "<answer>B</answer>"  # right letter, no think block
    args = ([good_format, bad_format], ["B", "B"], [{}, {}])
    gated = DomainReward([FMT, {"name": "choice_accuracy", "weight": 2.0}])(*args)
    assert gated.total.tolist() == [3.0, 0.0]
    assert gated.format_passed == [True, False]
    assert gated.results["choice_accuracy"].scores == [1.0, 1.0]  # results are reported before gating
    ungated = DomainReward([FMT, {"name": "choice_accuracy", "weight": 2.0}], format_gate=False)(*args)
    assert ungated.total.tolist() == [3.0, 2.0]


def test_log_dict_has_contract_names() -> None:
    reward = DomainReward([VerifierSpec("think_answer_format"), VerifierSpec("exact_match", weight=2.0)])
    out = reward(["<think>\nx\n</think>\n<answer>\nyes\n</answer>", "nothing"], ["yes", "yes"], [{}, {}])
    logged = {k: v for result in out.results.values() for k, v in result.to_log_dict().items()}
    assert logged == {
        "reward/think_answer_format/mean": 0.5,
        "reward/think_answer_format/parse_fail": 0.5,
        "reward/exact_match/mean": 0.5,
        "reward/exact_match/parse_fail": 0.0,
    }
    assert set(out.results["exact_match"].to_log_dict("val")) == {"val/exact_match/mean", "val/exact_match/parse_fail"}
    assert out.weights == {"think_answer_format": 1.0, "exact_match": 2.0}


def test_class_path_form_is_the_name_form() -> None:
    # {class_path, init_args, weight}, as every other component of a config is written, is the same spec.
    named = VerifierSpec.coerce({"name": "box_iou", "weight": 2.0, "options": {"threshold": 0.5}})
    for spec in (
        {"class_path": "rewards.box_verifiers.BoxIoU", "init_args": {"threshold": 0.5}, "weight": 2.0},
        {"class_path": "box_iou", "init_args": {"threshold": 0.5}, "weight": 2.0},  # a registered name works too
    ):
        coerced = VerifierSpec.coerce(spec)
        assert (coerced.weight, coerced.options) == (named.weight, named.options)
        reward = DomainReward([FMT, spec])
        assert reward.verifiers["box_iou"].threshold == 0.5 and reward.weights["box_iou"] == 2.0
    assert VerifierSpec.coerce({"class_path": "exact_match"}).weight == 1.0  # weight and init_args are optional
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['options'\]"):
        VerifierSpec.coerce({"class_path": "box_iou", "options": {"threshold": 0.5}})  # the two forms mixed
    with pytest.raises(ValueError, match="no class_path"):
        VerifierSpec.coerce({"init_args": {"threshold": 0.5}})
    with pytest.raises(ValueError, match="unknown option"):
        DomainReward([{"class_path": "box_iou", "init_args": {"thresh": 0.5}}])  # options are still checked


def test_both_forms_parse_from_yaml_through_jsonargparse() -> None:
    # A domain's verifier list as jsonargparse reads it when the field is typed list[VerifierSpec | dict].
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--verifiers", type=list[VerifierSpec | dict[str, Any]])
    cfg = parser.parse_args(["--verifiers", "[{name: think_answer_format}, "
                             "{class_path: rewards.box_verifiers.BoxIoU, init_args: {threshold: 0.5}, weight: 2.0}]"])
    reward = DomainReward(parser.instantiate(cfg).verifiers)
    assert list(reward.weights.items()) == [("think_answer_format", 1.0), ("box_iou", 2.0)]


def test_primary_and_eval_score_ignore_the_gate() -> None:
    reward = DomainReward([FMT, {"name": "box_iou", "weight": 2.0}])
    assert reward.primary == "box_iou"
    # Right box, broken format: training reward 0, evaluation metric still the IoU.
    assert reward.eval_score(["<answer>[0, 0, 10, 5]</answer>"], [[0, 0, 10, 10]], [{}]) == [0.5]
    with pytest.raises(ValueError, match="no non-format verifier"):
        DomainReward([FMT]).eval_score(["x"], [None], [{}])


def test_specs_as_dicts_with_options() -> None:
    reward = DomainReward([{"name": "box_iou", "weight": 2.0, "options": {"threshold": 0.5}}], format_gate=True)
    assert reward.verifiers["box_iou"].threshold == 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([{"name": "box_iou", "options": {"thresh": 0.5}}], r"'box_iou'.*'thresh'"),  # unknown option
        ([{"name": "box_iou", "wieght": 2.0}], "unknown key"),  # misspelt spec key
        ([{"weight": 2.0}], "missing 'name'"),  # no name
        ([{"name": "box_iou", "weight": -1.0}], "weight"),  # negative weight
        ([{"name": "box_iou", "weight": float("inf")}], "weight"),  # infinite weight
        ([{"name": "exact_match"}, {"name": "exact_match"}], "listed twice"),  # duplicate verifier
        ([], "non-empty list"),  # no verifiers
        (["box_iou"], "VerifierSpec or a mapping"),  # a bare string
    ],
)
def test_bad_specs_are_rejected(specs: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DomainReward(specs)


MALFORMED = [
    ("lisa", [5, 0, 1, 10], {"image_size": [640, 480]}, "solution: x2"),  # inverted box
    ("lisa", [0, 0, 10, 10], {"image_size": [640, 480], "box_format": "xyxy"}, "meta.box_format"),  # unknown frame
    ("lisa", [0, 0, 10, 10], {"image_size": "640x480"}, "meta.image_size"),  # size as a string
    ("coco", [], {"image_size": [100, 100], "box_format": "norm1000"}, "at least one box"),  # no boxes
    ("coco", [[0, 0, 1, 1], [0, 0, 1]], {"image_size": [100, 100]}, r"solution\[1\]"),  # bad 2nd box
    ("geoqav", "E", {"options": ["1", "2", "3", "4"]}, "not among the 4 options"),  # letter out of range
    ("geoqav", "B", {"options": 4}, "meta.options"),  # options not a list
    ("sat", "", {}, "empty after normalisation"),  # empty answer
    ("math", "about five", {}, "not a .*number"),  # non-numeric
]


@pytest.mark.parametrize(("domain", "solution", "meta", "field"), MALFORMED)
def test_validate_solution_names_sample_and_field(domain: str, solution: Any, meta: dict[str, Any], field: str) -> None:
    reward = DomainReward(DOMAINS[domain][0])
    with pytest.raises(InvalidSolutionError, match=f"sample 'id-42'.*{field}"):
        reward.validate_solution(solution, meta, sample_id="id-42")


def test_reference_completion_rejects_tags_in_think() -> None:
    with pytest.raises(ValueError, match="think"):
        DomainReward([FMT, {"name": "exact_match"}]).reference_completion("yes", {}, think="a </think> b")


def test_batch_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="2 completions, 1 solutions"):
        DomainReward([{"name": "exact_match"}])(["a", "b"], ["a"], [{}, {}])


def test_verifier_result_checks_and_empty_mean() -> None:
    assert VerifierResult("x", [], []).mean == 0.0
    with pytest.raises(ValueError, match="not in"):
        VerifierResult("x", [1.5], [False])
    with pytest.raises(ValueError, match="parse_failed"):
        VerifierResult("x", [1.0], [])


class _Crashes(Verifier):
    def prepare_solution(self, solution, meta):  # noqa: ANN001, ANN201
        return None

    def score_one(self, completion, target, meta):  # noqa: ANN001, ANN201
        raise RuntimeError("bug")

    def canonical_answer(self, solution, meta):  # noqa: ANN001, ANN201
        return ""


@pytest.mark.filterwarnings("default::rewards.base.VerifierCrashWarning")
def test_a_crashing_verifier_scores_zero_and_warns() -> None:
    with pytest.warns(VerifierCrashWarning, match="RuntimeError: bug"):
        result = _Crashes().score(["x"], [None], [{}])
    assert result.scores == [0.0] and result.parse_failed == [True]


def test_bytes_completions_are_decoded() -> None:
    result = DomainReward([{"name": "exact_match"}])([b"<answer>yes</answer>\xff"], ["yes"], [{}])
    assert result.total.tolist() == [1.0]


def test_reference_completion_with_an_equivalent_answer() -> None:
    """A multiple-choice option's text is an equivalent answer; a wrong one is refused before any training."""
    specs, solution, meta = DOMAINS["geoqav"]
    reward = DomainReward(specs)
    completion = reward.reference_completion(solution, meta, think="t", answer="3")  # option C is "3"
    assert completion == "<think>\nt\n</think>\n<answer>\n3\n</answer>"
    assert reward([completion], [solution], [meta]).total.item() == pytest.approx(reward.max_total)
    with pytest.raises(ValueError, match="answer '2' scores 1.000, not the maximum 3.000"):
        reward.reference_completion(solution, meta, answer="2")
    with pytest.raises(ValueError, match="answer must not contain"):
        reward.reference_completion(solution, meta, answer="3</answer>")
