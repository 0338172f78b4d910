"""``RunInterruptCheckpoint``: a checkpoint when a run stops early, never a silent resume of an old run."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from callbacks import RunInterruptCheckpoint


class _Module(LightningModule):
    """Fails in training step ``fail_at`` (0-based), if given."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.fail_at = fail_at

    def training_step(self, batch, batch_idx):
        if batch_idx == self.fail_at:
            raise RuntimeError("out of memory")
        return self.layer(batch[0]).pow(2).mean()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(tmp_path: Path, max_steps: int) -> Trainer:
    return Trainer(
        max_steps=max_steps,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[
            RunInterruptCheckpoint(dirpath=str(tmp_path / "ckpt")),
            ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=1),
        ],
    )


@pytest.mark.parametrize(
    "fail_at, saved_step",
    [
        (3, 3),  # after three optimiser steps: saved at step 3, resumable
        (0, None),  # in the first step: nothing was trained, no file that only repeats the start
    ],
)
def test_an_exception_saves_the_progress_made(tmp_path: Path, fail_at: int, saved_step: int | None) -> None:
    with pytest.raises(RuntimeError, match="out of memory"):
        _trainer(tmp_path, 8).fit(_Module(fail_at=fail_at))
    path = tmp_path / "ckpt" / "interrupted.ckpt"
    if saved_step is None:
        assert not path.exists()
    else:
        assert torch.load(path, weights_only=True)["global_step"] == saved_step


def test_a_new_run_never_resumes_an_old_one(tmp_path: Path) -> None:
    # An earlier run left interrupted.ckpt and last.ckpt in the same directory.
    with pytest.raises(RuntimeError):
        _trainer(tmp_path, 8).fit(_Module(fail_at=3))
    assert (tmp_path / "ckpt" / "interrupted.ckpt").is_file() and (tmp_path / "ckpt" / "last.ckpt").is_file()
    trainer = _trainer(tmp_path, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(_Module())
    # Started from step 0 (a resume from step 3 would have stopped at once), without looking for a checkpoint.
    assert trainer.global_step == 2 and trainer.ckpt_path is None
    assert not [w for w in caught if "ckpt_path" in str(w.message)]
