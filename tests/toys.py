"""A toy domain and verifier for fast end-to-end GRPO tests on the tiny random model.

The verifier rewards the share of letters among the completion's non-space characters: a random
policy scores in the middle with plenty of spread inside each group, so a few GRPO steps move
the mean measurably, which is what the training tests assert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning import Callback
from PIL import Image

from datamodules.sample import Record, Sample
from datamodules.sources.base import Source, SourceSplit
from rewards.base import Verifier


def two_prompts() -> list[Sample]:
    """Two prompts of different lengths (left padding matters) with images of different sizes."""
    return [
        Sample(id="a", domain="d", images=[Image.new("RGB", (56, 56), (200, 10, 10))], prompt="Colour?", solution=""),
        Sample(id="b", domain="d", images=[Image.new("RGB", (84, 56), (10, 10, 200))],
               prompt="What shape is shown in this longer question?", solution=""),
    ]


class LetterShare(Verifier):
    """Share of letters among the completion's non-space characters (toy reward)."""

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> Any:
        return None

    def score_one(self, completion: str, target: Any, meta: Mapping[str, Any]) -> tuple[float, bool]:
        chars = [c for c in completion if not c.isspace()]
        if not chars:
            return 0.0, True
        return sum(c.isalpha() for c in chars) / len(chars), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        return "abc"


class _ToySplit(SourceSplit):
    def __init__(self, n: int, offset: int) -> None:
        self.n, self.offset = n, offset

    def __len__(self) -> int:
        return self.n

    def record(self, index: int) -> Record:
        shade = (37 * (index + self.offset)) % 256
        image = Image.new("RGB", (56, 56), (shade, 255 - shade, 128))
        return Record(question=f"Describe picture {index}.", images=[image], solution="any", meta={})


class ToySource(Source):
    """Coloured squares with a fixed question.

    Args:
        train_size: training records.
        eval_size: evaluation records.
    """

    def __init__(self, train_size: int = 64, eval_size: int = 4) -> None:
        self.train_size, self.eval_size = train_size, eval_size

    def split(self, part: str) -> SourceSplit | None:
        return _ToySplit(self.train_size, 0) if part == "train" else _ToySplit(self.eval_size, 10_000)


class EvalCountProbe(Callback):
    """Writes how many samples each benchmark was scored on, summed over DDP ranks, to ``path`` (rank 0)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        counts = trainer.strategy.reduce(pl_module._evaluator.counts.clone(), reduce_op="sum")
        if trainer.global_rank == 0:
            Path(self.path).write_text(json.dumps(counts.tolist()))
