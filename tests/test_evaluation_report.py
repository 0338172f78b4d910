"""``evaluation_table``: what the console shows after each evaluation."""

from __future__ import annotations

import pytest
import torch

from callbacks.evaluation_report import evaluation_table

ROLES = {"objects": "in", "chart": "out", "spatial": "in"}  # data-module order: an out benchmark in the middle


@pytest.mark.parametrize(
    "metrics, stage, expected",
    [
        # In-domain benchmarks first, each group in the data module's order; tensors as Lightning logs them.
        (
            {
                "val/objects/score": torch.tensor(0.5),
                "val/chart/score": 0.25,
                "val/spatial/score": 1.0,
                "val/in_score": 0.75,
                "val/out_score": 0.25,
                "train/reward": 3.0,
            },
            "val",
            [
                "Validation at step 7: In-Score 0.750  Out-Score 0.250",
                "  benchmark  role  score",
                "  objects    in    0.500",
                "  spatial    in    1.000",
                "  chart      out   0.250",
            ],
        ),
        # Only test keys count for a test; a benchmark the data module does not list comes last, role unknown.
        (
            {"val/objects/score": 0.1, "test/objects/score": 0.2, "test/extra/score": 0.3, "test/in_score": 0.2},
            "test",
            [
                "Test at step 7: In-Score 0.200  Out-Score n/a",
                "  benchmark  role  score",
                "  objects    in    0.200",
                "  extra      ?     0.300",
            ],
        ),
        # Nested keys are per-verifier details, not benchmarks.
        (
            {"val/objects/iou/score": 0.4, "val/out_score": 0.0},
            "val",
            ["Validation at step 7: In-Score n/a  Out-Score 0.000"],
        ),
        # A run that evaluates nothing (the mixture predictor) prints nothing.
        ({"train/loss": 1.0}, "val", None),
    ],
)
def test_evaluation_table(metrics: dict, stage: str, expected: list[str] | None) -> None:
    table = evaluation_table(metrics, stage, ROLES, step=7)
    assert (table.splitlines() if table is not None else None) == expected
