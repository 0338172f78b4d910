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


def test_first_exhausted_run_stops_when_a_domain_runs_out(tmp_path) -> None:
    """max_steps far beyond the data and max_epochs null (as the configs): the run must end, every batch used once."""
    domains = [
        Domain("spatial", SyntheticSpatial(train_size=6, eval_size=2, seed=1)),
        Domain("counting", SyntheticCounting(train_size=30, eval_size=2, seed=2)),
    ]
    dm = MultiDomainDataModule(domains, batch_size=2, seed=3, stop="first_exhausted")
    model = _Recorder()

    class _Guard(pl.Callback):  # without the fix Lightning starts empty epochs forever: fail instead of hanging
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            assert trainer.current_epoch < 3, "empty epochs after the stream ended"

    trainer = _trainer(tmp_path, 1000, max_epochs=None, enable_checkpointing=False, callbacks=[_Guard()])
    trainer.fit(model, datamodule=dm)
    ids = [i for batch in model.seen for i in batch]
    assert 0 < trainer.global_step == len(model.seen) < 1000
    assert len(ids) == len(set(ids))  # without replacement: nothing drawn twice
    assert sum(i.startswith("spatial") for i in ids) == 6  # stopped at the first draw after spatial ran out
