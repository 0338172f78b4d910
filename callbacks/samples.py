"""Write sample completions (prompt, completion, reward) to TensorBoard and to a JSONL file.

Training samples come from the module's last rollout, evaluation samples from the first batch
of every benchmark; for box domains the image is logged with the true boxes (green) and the
predicted ones (red) drawn on it. The JSONL file is appended and flushed line by line, so a
killed run keeps every sample written so far.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only
from torchvision.transforms.functional import pil_to_tensor
from torchvision.utils import draw_bounding_boxes

from datamodules.sample import Sample
from rewards.boxes import box_meta, scan_boxes, to_pixels
from rewards.parsing import extract_answer


def _log_dir(trainer: Trainer) -> str:
    # Call on every rank (e.g. in setup): under DDP trainer.log_dir broadcasts, so a rank-0-only call deadlocks.
    return trainer.log_dir or trainer.default_root_dir


def crossed(step: int, last: int, every: int) -> bool:
    """True when ``step`` has reached a multiple of ``every`` beyond ``last`` (steps may jump by more than 1)."""
    return step // every > last // every


def _truth_boxes(sample: Sample) -> list[list[float]]:
    sol = sample.solution
    if isinstance(sol, (list, tuple)) and len(sol) == 4 and all(isinstance(v, (int, float)) for v in sol):
        return [list(map(float, sol))]
    if isinstance(sol, (list, tuple)) and sol and all(isinstance(b, (list, tuple)) and len(b) == 4 for b in sol):
        return [list(map(float, b)) for b in sol]
    return []


def draw_boxes(sample: Sample, completion: str) -> torch.Tensor | None:
    """The sample's first image (``3 x H x W`` uint8) with true (green) and predicted (red) boxes, or None."""
    truth = _truth_boxes(sample)
    if not sample.images or not truth:
        return None
    image = pil_to_tensor(sample.images[0].convert("RGB"))
    h, w = image.shape[1:]
    try:
        box_format, size = box_meta(sample.meta)
    except ValueError:
        box_format, size = "pixel", None
    answer = extract_answer(completion) or ""
    pred = [list(to_pixels(b, box_format, size or (w, h))) for b, _ in scan_boxes(answer)]
    pred = [b for b in pred if b[2] > b[0] and b[3] > b[1]]
    boxes = torch.tensor(truth + pred, dtype=torch.float32).reshape(-1, 4)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h - 1)
    colors = ["green"] * len(truth) + ["red"] * len(pred)
    return draw_bounding_boxes(image, boxes, colors=colors, width=2)


class CompletionSamples(Callback):
    """Log a few completions with their rewards.

    Args:
        every_n_steps: log training samples every this many optimiser steps.
        max_samples: completions per logging event (training) or per benchmark (evaluation).
        jsonl_name: file under the run's log directory that receives every logged sample.
    """

    def __init__(self, every_n_steps: int = 25, max_samples: int = 4, jsonl_name: str = "samples.jsonl") -> None:
        if every_n_steps < 1 or max_samples < 1:
            raise ValueError("every_n_steps and max_samples must be >= 1")
        self.every_n_steps = every_n_steps
        self.max_samples = max_samples
        self.jsonl_name = jsonl_name
        self._last_logged = 0
        self._dir: str | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._dir = _log_dir(trainer)

    def _write(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        path = os.path.join(self._dir or _log_dir(trainer), self.jsonl_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _tensorboard(self, trainer: Trainer) -> Any:
        exp = getattr(trainer.logger, "experiment", None)
        return exp if hasattr(exp, "add_text") else None

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        rollout = getattr(pl_module, "last_rollout", None)
        step = trainer.global_step
        # With minibatches or several iterations per rollout the step jumps by more than 1 per batch.
        if rollout is None or not crossed(step, self._last_logged, self.every_n_steps):
            return
        self._last_logged = step
        g = rollout.group_size
        rows = []
        for i in range(0, min(len(rollout), g * self.max_samples), g):  # first completion of each group
            s = rollout.samples[i]
            rows.append(
                dict(
                    stage="train",
                    step=step,
                    id=s.id,
                    domain=s.domain,
                    prompt=s.prompt,
                    completion=rollout.completions.texts[i],
                    reward=float(rollout.rewards[i]),
                    advantage=None if rollout.advantages is None else float(rollout.advantages[i]),
                )
            )
        self._write(trainer, rows)
        tb = self._tensorboard(trainer)
        if tb is not None:
            text = "\n\n".join(f"**{r['id']}** reward {r['reward']:.3f}\n\n    {r['completion']}" for r in rows)
            tb.add_text("samples/train", text, step)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_eval(trainer, pl_module, "val")

    @rank_zero_only
    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_eval(trainer, pl_module, "test")

    def _log_eval(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.sanity_checking:
            return
        step, tb, rows = trainer.global_step, self._tensorboard(trainer), []
        for bench, triples in getattr(pl_module, "last_eval", {}).items():
            for k, (s, text, score) in enumerate(triples[: self.max_samples]):
                rows.append(
                    dict(
                        stage=stage,
                        step=step,
                        benchmark=bench,
                        id=s.id,
                        prompt=s.prompt,
                        completion=text,
                        solution=s.solution,
                        score=score,
                    )
                )
                if tb is not None:
                    tb.add_text(
                        f"samples/{stage}/{bench}", f"score {score:.3f} (truth: {s.solution})\n\n    {text}", step
                    )
                    image = draw_boxes(s, text) if k == 0 else None
                    if image is not None:
                        tb.add_image(f"boxes/{stage}/{bench}", image, step)
        if rows:
            self._write(trainer, rows)
