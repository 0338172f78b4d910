"""Benchmark worker for this project's GRPO: a Lightning ``Trainer.fit`` of :class:`GRPOModule` for N steps.

Run by ``benchmarks/grpo_vs_trl.py`` in its own process (so peak RSS is this run's); prints one result line.
"""

from __future__ import annotations

import json
import sys

import torch
from _grpo_bench_data import BenchSettings, bench_datamodule, bench_model_path
from _grpo_bench_measure import Meter, rss_mb
from lightning import Callback, Trainer, seed_everything

from lightning_modules import GenerationSettings, GRPOModule, HFGenerate, HFPolicy, LoraSettings


class _StepClock(Callback):
    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.meter.step_end()


def run(settings: BenchSettings) -> None:
    """Train for ``settings.steps`` optimiser steps (one rollout each) and print the measurements."""
    torch.set_num_threads(settings.threads)
    seed_everything(settings.seed, verbose=False)
    data = bench_datamodule(settings)
    meter = Meter()
    lora = LoraSettings(r=settings.lora_rank, alpha=2.0 * settings.lora_rank) if settings.lora_rank else None
    if settings.engine == "vllm":
        from lightning_modules import VLLMEngine

        engine = VLLMEngine()
    else:
        engine = HFGenerate()
    module = GRPOModule(
        policy=HFPolicy(bench_model_path(settings), lora=lora),
        num_generations=settings.num_generations,
        # Same work on both sides: no completion may end before max_new_tokens (TRL gets the same min_new_tokens).
        generation=GenerationSettings(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                      min_new_tokens=settings.max_new_tokens),
        rollout_engine=engine,
        beta=settings.beta,
        lr=settings.lr,
        warmup_ratio=0.0,  # TRL's default: linear decay from the peak, no warm-up
    )
    module.configure_model()
    meter.wrap_engine(module.engine)
    meter.model_rss_mb = rss_mb()
    trainer = Trainer(
        accelerator="gpu" if torch.cuda.is_available() else "cpu",
        devices=1,
        max_steps=settings.steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[_StepClock(meter)],
    )
    trainer.fit(module, datamodule=data)
    params = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
    meter.report("ours", settings.to_dict(), {"trainable_params": params,
                                              "has_reference_copy": module.reference is not None
                                              and getattr(module.reference, "model", None) is not module.model})


if __name__ == "__main__":
    run(BenchSettings(**json.loads(sys.argv[1])))
