"""The data module under a real Trainer: checkpoint mid-run, resume, and get the same batches."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from datamodules import Domain, MultiDomainDataModule, SyntheticCounting, SyntheticSpatial


class _Recorder(pl.LightningModule):
    """Records the ids of every training batch; a single parameter keeps the optimizer happy."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[str]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append([s.id for s in batch])
        return (self.weight**2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _dm() -> MultiDomainDataModule:
    domains = [
        Domain("spatial", SyntheticSpatial(train_size=30, eval_size=2, seed=1)),
        Domain("counting", SyntheticCounting(train_size=30, eval_size=2, seed=2)),
    ]
    return MultiDomainDataModule(domains, batch_size=2, seed=3, stop="cycle")


def _trainer(tmp_path, max_steps: int, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=tmp_path,
        max_steps=max_steps,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **kwargs,
    )


def test_resume_from_checkpoint_continues_the_exact_sequence(tmp_path) -> None:
    full = _Recorder()
    _trainer(tmp_path / "full", 8, enable_checkpointing=False).fit(full, datamodule=_dm())

    first = _Recorder()
    trainer = _trainer(tmp_path / "a", 3, enable_checkpointing=False)
    dm = _dm()
    trainer.fit(first, datamodule=dm)
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    assert sum(dm.drawn_counts.values()) == 3 * 2  # consumed, not prefetched

    second = _Recorder()
    _trainer(tmp_path / "b", 8, enable_checkpointing=False).fit(second, datamodule=_dm(), ckpt_path=ckpt)
    assert first.seen + second.seen == full.seen
