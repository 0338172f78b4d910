"""MultiDomainDataModule: weights validation, bad samples, eval benchmarks, configs, batches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from PIL import Image

from datamodules import (
    PROMPT_SUFFIX,
    BadSampleError,
    Domain,
    LISASource,
    MultiDomainDataModule,
    Sample,
    SATSource,
    SyntheticCounting,
    SyntheticGeometry,
    SyntheticObjects,
    SyntheticSpatial,
)
from rewards.composite import DomainReward

CONFIGS = Path(__file__).parents[1] / "configs" / "data"


def _domains() -> list[Domain]:
    return [
        Domain("objects", SyntheticObjects(train_size=12, eval_size=3, seed=1)),
        Domain("spatial", SyntheticSpatial(train_size=12, eval_size=3, seed=2)),
        Domain("geometry", SyntheticGeometry(train_size=12, eval_size=2, seed=3)),
        Domain("counting", SyntheticCounting(train_size=0, eval_size=4, seed=4), role="out"),
    ]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"objects": 1, "spatial": 1, "geometry": 1, "chart": 1},
         r"unknown domain\(s\) \['chart'\].*\['objects', 'spatial', 'geometry'\]"),
        ({"objects": 1, "spatial": 1}, r"miss training domain\(s\) \['geometry'\]"),
        ({"objects": -1, "spatial": 1, "geometry": 1}, "'objects' must be finite and >= 0"),
        ({"objects": math.nan, "spatial": 1, "geometry": 1}, "'objects' must be finite"),
        ({"objects": math.inf, "spatial": 1, "geometry": 1}, "'objects' must be finite"),
        ({"objects": 0, "spatial": 0, "geometry": 0}, "all zero"),
        ({"counting": 1, "objects": 1, "spatial": 1, "geometry": 1},
         r"unknown domain\(s\) \['counting'\]"),  # eval-only
    ],
)
def test_bad_weights_are_named(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiDomainDataModule(_domains(), weights=weights)


def test_weights_normalised_rewards_ready_and_zero_weight_still_evaluated() -> None:
    dm = MultiDomainDataModule(_domains(), weights={"objects": 2, "spatial": 0, "geometry": 2}, batch_size=2)
    assert dm.weights == {"objects": 0.5, "spatial": 0.0, "geometry": 0.5}
    assert set(dm.rewards) == {"objects", "spatial", "geometry", "counting"}
    assert all(isinstance(r, DomainReward) for r in dm.rewards.values())
    dm.setup("fit")
    assert [(b.name, b.role, b.size) for b in dm.eval_benchmarks] == [
        ("objects", "in", 3), ("spatial", "in", 3), ("geometry", "in", 2), ("counting", "out", 4)
    ]
    domains_drawn = {s.domain for batch in dm.train_dataloader() for s in batch}
    assert domains_drawn == {"objects", "geometry"}  # spatial has weight 0: never trained on
    loaders = dm.val_dataloader()
    assert len(loaders) == 4 and [len(b) for b in loaders[3]] == [4]
    assert MultiDomainDataModule(_domains()).weights == pytest.approx(
        {n: 1 / 3 for n in ("objects", "spatial", "geometry")})


def test_batches_are_lists_of_samples_with_stable_ids_and_chat_messages() -> None:
    dm = MultiDomainDataModule(_domains(), batch_size=3, seed=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, list) and len(batch) == 3 and all(isinstance(s, Sample) for s in batch)
    sample = batch[0]
    assert sample.id.startswith(f"{sample.domain}/train/") and sample.prompt.endswith(PROMPT_SUFFIX)
    assert sample.messages() == [{"role": "user",
                                  "content": [{"type": "image"}, {"type": "text", "text": sample.prompt}]}]
    again = MultiDomainDataModule(_domains(), batch_size=3, seed=0)
    again.setup("fit")
    assert [s.id for s in next(iter(again.train_dataloader()))] == [s.id for s in batch]
    assert dm.transfer_batch_to_device(batch, "cpu", 0) is batch


def _jsonl_domain(tmp_path: Path, rows: list[dict], images: dict[str, bytes | None], source_cls=SATSource) -> Domain:
    for name, content in images.items():
        if content is None:
            Image.new("RGB", (20, 20), (5, 5, 5)).save(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = source_cls("json", data_files=str(tmp_path / "train.jsonl"), image_root=str(tmp_path))
    return Domain("sat", source)


GOOD = {"image": "ok.png", "problem": "Left or right?", "solution": "<answer>left</answer>"}


@pytest.mark.parametrize(
    ("bad_row", "source_cls", "message"),
    [
        ({"image": "nowhere.png", "problem": "Left or right?", "solution": "left"}, SATSource, "missing image file"),
        ({"image": "broken.png", "problem": "Left or right?", "solution": "left"}, SATSource, "corrupt image"),
        ({"image": "ok.png", "problem": "Left or right?"}, SATSource, "missing or empty field 'solution'"),
        ({"image": "ok.png", "problem": "Left or right?", "solution": "<answer></answer>"}, SATSource, "empty answer"),
        ({"image": "ok.png", "problem": "Where?", "solution": "[15, 2, 5, 9]"}, LISASource,
         "x2 .* must be greater than x1"),
        ({"image": "ok.png", "problem": "Where?", "solution": "[1, 2, 50, 9]"}, LISASource, "outside the image"),
    ],
)
def test_bad_samples_fail_at_setup_naming_domain_and_id(tmp_path, monkeypatch, bad_row, source_cls, message) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    good = dict(GOOD, solution="[1, 1, 9, 9]") if source_cls is LISASource else GOOD
    rows = [good, {**good, **bad_row}] if "solution" in bad_row else [good, bad_row]
    images = {"ok.png": None, "broken.png": b"\x89PNG\r\n\x1a\n not really a png"}
    domain = _jsonl_domain(tmp_path, rows, images, source_cls)
    dm = MultiDomainDataModule([domain])
    with pytest.raises(BadSampleError, match=rf"domain 'sat', sample 'sat/train/1': .*{message}"):
        dm.setup("fit")
    skipping = MultiDomainDataModule([_jsonl_domain(tmp_path, rows, images, source_cls)], on_bad_sample="skip",
                                     batch_size=1)
    skipping.setup("fit")
    assert skipping.skipped == {"sat": 1}
    assert [s.id for batch in skipping.train_dataloader() for s in batch] == ["sat/train/0"]


def test_duplicate_names_and_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        MultiDomainDataModule([Domain("a", SyntheticSpatial()), Domain("a", SyntheticSpatial())])
    with pytest.raises(ValueError, match="role"):
        Domain("a", SyntheticSpatial(), role="test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no domain has role 'train'"):
        MultiDomainDataModule([Domain("a", SyntheticSpatial(), role="out")])
    with pytest.raises(ValueError, match="on_bad_sample"):
        MultiDomainDataModule(_domains(), on_bad_sample="ignore")  # type: ignore[arg-type]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--data", type=MultiDomainDataModule)
    return parser


def test_synthetic_config_instantiates_and_weights_from_the_command_line() -> None:
    parser = _parser()
    text = (CONFIGS / "synthetic.yaml").read_text()
    weights = "{objects: 1, referring: 0, geometry: 0, spatial: 3, science: 0}"
    cfg = parser.parse_args(["--data", text, "--data.weights", weights])
    dm = parser.instantiate(cfg).data
    assert isinstance(dm, MultiDomainDataModule)
    assert dm.weights == {"objects": 0.25, "referring": 0.0, "geometry": 0.0, "spatial": 0.75, "science": 0.0}
    assert [d.role for d in dm.domains].count("out") >= 3
    assert [v.name for v in dm.domains[0].verifiers] == ["think_answer_format", "multi_box_iou"]
    assert dm.domains[0].verifiers[1].options == {"min_iou": 0.5}
    with pytest.raises(Exception, match="unknown domain"):
        parser.instantiate(parser.parse_args(["--data", text, "--data.weights", "{objects: 1, chart: 1}"]))


def test_verifiers_in_the_class_path_form_from_yaml() -> None:
    # The form every other component of a config uses; weights and options reach the domain's reward.
    text = """
    domains:
      - name: boxes
        source: {class_path: datamodules.SyntheticReferring, init_args: {train_size: 4, eval_size: 2}}
        verifiers:
          - {class_path: rewards.format.ThinkAnswerFormat, weight: 0.5}
          - {class_path: box_iou, init_args: {threshold: 0.5}, weight: 3.0}
    weights: {boxes: 1}
    """
    dm = _parser().instantiate(_parser().parse_args(["--data", text])).data
    reward = dm.rewards["boxes"]
    assert list(reward.weights.items()) == [("think_answer_format", 0.5), ("box_iou", 3.0)]
    assert reward.verifiers["box_iou"].threshold == 0.5  # type: ignore[attr-defined]


def test_paper_config_instantiates_without_downloading() -> None:
    config = yaml.safe_load((CONFIGS / "paper.yaml").read_text())
    dm = _parser().instantiate(_parser().parse_object({"data": config})).data
    assert [d.name for d in dm.train_domains] == ["coco", "lisa", "geoqav", "sat", "scienceqa"]
    assert {d.name for d in dm.domains if d.role == "out"} == {"chartqa", "infovqa", "mathvista", "mmmu"}
    assert set(dm.rewards) == {d.name for d in dm.domains}
