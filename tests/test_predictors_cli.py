"""configs/predictor.yaml runs fit then predict through the real LightningCLI on synthetic records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from predictors.records import RunRecord, write_record

DOMAINS = ["coco", "lisa", "sat", "science"]
CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "predictor.yaml")


def true_score(w: np.ndarray) -> float:
    # A smooth surface with an interior optimum near (0.4, 0.1, 0.3, 0.2).
    return float(0.6 - ((w - np.array([0.4, 0.1, 0.3, 0.2])) ** 2).sum())


def write_synthetic_records(dirpath: Path, n: int = 18, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for w in rng.dirichlet(np.ones(len(DOMAINS)), size=n):
        w = w / w.sum()
        out = true_score(w) + rng.normal(0, 0.005)
        write_record(RunRecord(weights=dict(zip(DOMAINS, w.tolist())), scores={"mmmu": out}, in_score=0.5, out_score=out, steps=10, seed=1), dirpath)


def run_cli(args: list[str]) -> None:
    from lightning.pytorch.cli import LightningCLI

    import predictors  # noqa: F401 - registers short class names

    LightningCLI(subclass_mode_model=True, subclass_mode_data=True, save_config_kwargs={"overwrite": True}, args=args)


@pytest.mark.slow
def test_fit_then_predict_writes_ranked_proposals(tmp_path: Path) -> None:
    records, root = tmp_path / "records", tmp_path / "run"
    write_synthetic_records(records)
    common = ["--config", CONFIG, "--data.init_args.record_dir", str(records), "--trainer.default_root_dir", str(root),
              "--model.init_args.priors", "[0.3, 1.0]", "--model.init_args.warps", "[sqrt]", "--model.init_args.cv_folds", "3"]
    run_cli(["fit", *common])
    assert (root / "predictor.ckpt").is_file()
    events = list(root.rglob("events.out.tfevents.*"))
    assert events, "validation metrics and figures go to TensorBoard"

    run_cli(["predict", *common])
    proposals = yaml.safe_load((root / "proposals.yaml").read_text())
    assert len(proposals) >= 5
    means = [p["mean"]["out_score"] for p in proposals]
    assert means == sorted(means, reverse=True), "ranked best first"
    for p in proposals:
        assert math.isclose(sum(p["weights"].values()), 1.0, abs_tol=2e-3)
        assert set(p["weights"]) == set(DOMAINS)
        assert p["std"]["out_score"] >= 0
    best = np.array([proposals[0]["weights"][d] for d in DOMAINS])
    assert true_score(best) > 0.58, "the top proposal is near the true optimum (0.6)"
    markdown = (root / "proposals.md").read_text()
    assert "--data.weights '{coco:" in markdown
