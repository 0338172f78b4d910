"""``python -m datamodules.check``: every part of every source, one line each, non-zero exit on a failure."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image
from test_data_adapters import FIXTURES, PAPER, ROOT, localize

from datamodules.check import main


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf_cache"))


def run_config(tmp_path: Path, coco: Path | None = None) -> Path:
    """configs/paper/mix.yaml's layout (a run config whose data: is a path) on the fixtures."""
    data = localize(yaml.safe_load(PAPER.read_text()))
    if coco is not None:
        data["init_args"]["domains"][0]["source"]["init_args"]["path"] = str(coco)
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    run = yaml.safe_load((ROOT / "configs" / "paper" / "mix.yaml").read_text())
    run["data"] = "data.yaml"
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    return tmp_path / "run.yaml"


def broken_coco(tmp_path: Path) -> Path:
    """A ViRFT_COCO copy whose second row has a box past the 0-1000 grid and whose third has no image."""
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 20), (1, 2, 3, 255)).save(buffer, format="PNG")
    image = {"bytes": buffer.getvalue(), "path": None}
    folder = tmp_path / "laolao77__ViRFT_COCO"
    (folder / "data").mkdir(parents=True)
    rows = {"image": [image, image, None], "problem": ["Detect all objects of the category 'cat'."] * 3,
            "solution": ["<answer>[{'Position': [10, 10, 500, 500], 'Confidence': 1}]</answer>",
                         "<answer>[{'Position': [10, 10, 1500, 500], 'Confidence': 1}]</answer>",
                         "<answer>[{'Position': [10, 10, 500, 500], 'Confidence': 1}]</answer>"]}
    features = datasets.Features({"image": datasets.Image(), "problem": datasets.Value("string"),
                                  "solution": datasets.Value("string")})
    datasets.Dataset.from_dict(rows, features=features).to_parquet(
        str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def lines(output: str) -> dict[tuple[str, str], str]:
    parsed = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 2 and words[2] == "usable":
            parsed[(words[0], words[1])] = line
    return parsed


def test_every_part_is_set_up_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(run_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    report = lines(out)
    assert set(report) == {
        ("coco", "train"), ("lisa", "train"), ("lisa_test", "eval"), ("geoqav", "train"), ("sat", "train"),
        ("sat", "eval"), ("scienceqa", "train"), ("scienceqa", "eval"), ("chartqa", "eval"), ("infovqa", "eval"),
        ("mathvista", "eval"), ("mmmu", "eval"),
    }  # training-only sources (COCO, LISA, GeoQAV) included: main.py validate never builds them
    assert report[("coco", "train")].split()[3:6] == ["2", "skipped", "0"] and report[("coco", "train")].endswith("ok")
    assert out.rstrip().endswith("12 of 12 parts usable")


def test_a_broken_source_fails_with_its_first_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = run_config(tmp_path, coco=broken_coco(tmp_path))
    assert main(["--config", str(config)]) == 1  # on_bad_sample: fail - setup would stop here
    out = capsys.readouterr().out
    coco = lines(out)[("coco", "train")]
    assert coco.split()[3:6] == ["1", "skipped", "2"]
    assert "FAILED" in coco and "coco/train/1" in coco and "outside the norm1000 frame" in coco
    assert "failing: coco/train" in out
    # The same data with on_bad_sample: skip, given as main.py takes it, is usable (and still says why not all of it).
    assert main(["--config", str(config), "--data.init_args.on_bad_sample=skip"]) == 0
    coco = lines(capsys.readouterr().out)[("coco", "train")]
    assert "first problem" in coco and "FAILED" not in coco


def test_a_missing_dataset_and_a_bad_override_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(run_config(tmp_path, coco=tmp_path / "nowhere"))]) == 1
    coco = lines(capsys.readouterr().out)[("coco", "train")]
    assert coco.split()[3] == "0" and "FAILED" in coco
    with pytest.raises(SystemExit):
        main(["--config", str(run_config(tmp_path)), "--trainer.max_steps=3"])  # only data overrides
    assert main(["--config", str(FIXTURES.parents[2] / "configs" / "data" / "synthetic.yaml")]) == 0
