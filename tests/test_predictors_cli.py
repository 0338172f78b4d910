"""configs/predictor.yaml through the real LightningCLI: the user's flow from a few records to ranked proposals."""

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


def write_synthetic_records(dirpath: Path, n: int = 18, seed: int = 0, steps: int = 10) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    mixtures = []
    for w in rng.dirichlet(np.ones(len(DOMAINS)), size=n):
        w = w / w.sum()
        out = true_score(w) + rng.normal(0, 0.005)
        mixtures.append(dict(zip(DOMAINS, w.tolist(), strict=False)))
        write_record(
            RunRecord(weights=mixtures[-1], scores={"mmmu": out}, in_score=0.5, out_score=out, steps=steps, seed=1),
            dirpath,
        )
    return mixtures


def run_cli(args: list[str]) -> None:
    from lightning.pytorch.cli import LightningCLI

    LightningCLI(subclass_mode_model=True, subclass_mode_data=True, save_config_kwargs={"overwrite": True}, args=args)


def common(records: Path, root: Path) -> list[str]:
    return ["--config", CONFIG, "--data.init_args.record_dir", str(records), "--trainer.default_root_dir", str(root),
            "--model.init_args.gp.priors", "[1.0]", "--model.init_args.gp.warps", "[sqrt]",
            "--model.init_args.gp.linear", "false",
            "--model.init_args.cv_folds", "3"]  # fmt: skip


@pytest.mark.slow
def test_fit_then_predict_prints_a_summary_and_writes_ranked_new_mixtures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records, root = tmp_path / "records", tmp_path / "run"
    trained = write_synthetic_records(records)
    run_cli(["fit", *common(records, root)])
    assert (root / "predictor.ckpt").is_file()
    assert list(root.rglob("events.out.tfevents.*")), "validation metrics and figures go to TensorBoard"
    printed = capsys.readouterr().out
    assert "Mixture predictor: a GP on 18 mixtures" in printed
    assert (
        "k-fold Spearman" in printed and "ranks held-out runs better than chance" in printed
    )  # a smooth surface, 18 runs
    assert f"saved: {root / 'predictor.ckpt'}" in printed

    run_cli(["predict", *common(records, root)])
    printed = capsys.readouterr().out
    proposals = yaml.safe_load((root / "proposals.yaml").read_text())
    assert len(proposals) >= 5
    means = [p["mean"]["out_score"] for p in proposals]
    assert means == sorted(means, reverse=True), "ranked best first"
    for p in proposals:
        assert math.isclose(sum(p["weights"].values()), 1.0, abs_tol=2e-3)
        assert set(p["weights"]) == set(DOMAINS)
        assert p["std"]["out_score"] >= 0
        # None of them is a mixture already trained (include_trained: false).
        assert p["trained"] is None
        assert min(sum(abs(p["weights"][d] - m[d]) for d in DOMAINS) for m in trained) >= 0.02
    best = np.array([proposals[0]["weights"][d] for d in DOMAINS])
    assert true_score(best) > 0.58, "the top proposal is near the true optimum (0.6)"
    markdown = (root / "proposals.md").read_text()
    assert "ranks held-out runs better than chance" in markdown and "--data.weights '{coco:" in markdown
    # The console names the best proposals with ready commands and the files written.
    assert (
        "1. predicted out_score" in printed
        and "python main.py fit --config configs/mix.yaml --data.weights '{coco:" in printed
    )
    assert f"written: {root / 'proposals.md'}, {root / 'proposals.yaml'}" in printed


def test_too_few_records_names_the_command_that_makes_more(tmp_path: Path) -> None:
    records, root = tmp_path / "records", tmp_path / "run"
    write_record(
        RunRecord(weights=dict.fromkeys(DOMAINS, 0.25), scores={"mmmu": 0.3}, out_score=0.3, steps=300), records
    )
    with pytest.raises(
        ValueError,
        match=r"holds 1 unique usable mixture.*python -m predictors\.search --config configs/search\.yaml "
        r"--stop_after seeds",
    ):
        run_cli(["fit", *common(records, root)])
    assert not (root / "predictor.ckpt").exists()


def test_records_of_different_evaluation_sets_are_refused_before_fitting(tmp_path: Path) -> None:
    records, root = tmp_path / "records", tmp_path / "run"
    write_synthetic_records(records, n=4)
    odd = RunRecord(
        weights=dict.fromkeys(DOMAINS, 0.25), scores={"chartqa": 0.2}, out_score=0.2, steps=10, run_id="other-eval"
    )
    write_record(odd, records)
    with pytest.raises(
        ValueError, match=r"differ in benchmarks.*\[chartqa\]: 1 run\(s\), e.g. other-eval.*allow_mixed"
    ):
        run_cli(["fit", *common(records, root)])
    assert not (root / "predictor.ckpt").exists()
