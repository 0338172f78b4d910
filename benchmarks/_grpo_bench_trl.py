"""Benchmark worker for the baseline: TRL's ``GRPOTrainer`` (Hugging Face ``generate``, no vLLM) for N steps.

Configured to do the same work as ``_grpo_bench_ours.py``: same tiny model directory with the vision tower
frozen, same prompts and images (drawn from the same data module), same G, prompts per step, completion length
(EOS suppressed until ``max_new_tokens`` via ``min_new_tokens``), sampling, beta, loss (``grpo``, group-scaled
advantages), AdamW with the same learning rate and linear decay, no gradient checkpointing (TRL's default is on;
ours is off). Run by ``benchmarks/grpo_vs_trl.py`` in its own process; prints one result line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

import torch
from _grpo_bench_data import BenchSettings, bench_datamodule, bench_model_path, letter_share
from _grpo_bench_measure import Meter, rss_mb
from datasets import Dataset
from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback, set_seed
from trl import GRPOConfig, GRPOTrainer

from lightning_modules.policy_utils import freeze_vision_tower, lora_target_modules


class _StepClock(TrainerCallback):
    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def on_step_end(self, args, state, control, **kwargs) -> None:  # noqa: ANN001
        self.meter.step_end()


def letter_share_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL reward function: the benchmark's letter share of each completion's text."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [letter_share(t if isinstance(t, str) else str(t)) for t in texts]


def trl_dataset(settings: BenchSettings) -> Dataset:
    """The prompts our data module yields for this run, as a TRL conversational dataset with an image column."""
    data = bench_datamodule(settings)
    data.setup("fit")
    rows: list[dict[str, Any]] = []
    for batch in data.train_dataloader():
        rows += [{"prompt": s.messages(), "image": s.images[0]} for s in batch]
        if len(rows) >= settings.steps * settings.prompts:
            break
    return Dataset.from_list(rows)


def run(settings: BenchSettings) -> None:
    """Train for ``settings.steps`` optimiser steps (one generation batch each) and print the measurements."""
    torch.set_num_threads(settings.threads)
    set_seed(settings.seed)
    dataset = trl_dataset(settings)
    meter = Meter()
    path = bench_model_path(settings)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    freeze_vision_tower(model)
    peft_config = None
    if settings.lora_rank:
        from peft import LoraConfig

        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        peft_config = LoraConfig(r=settings.lora_rank, lora_alpha=2.0 * settings.lora_rank, lora_dropout=0.05,
                                 target_modules=lora_target_modules(model, targets), bias="none")
    n = settings.prompts * settings.num_generations
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, per_device_train_batch_size=n, num_generations=settings.num_generations,
            gradient_accumulation_steps=1, steps_per_generation=1, num_iterations=1,
            max_completion_length=settings.max_new_tokens, temperature=settings.temperature, top_p=1.0, top_k=0,
            generation_kwargs={"min_new_tokens": settings.max_new_tokens},
            beta=settings.beta, loss_type="grpo", scale_rewards="group", epsilon=0.2,
            learning_rate=settings.lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
            max_grad_norm=1.0, optim="adamw_torch", gradient_checkpointing=False,
            max_steps=settings.steps, logging_steps=settings.steps, save_strategy="no", report_to=[],
            disable_tqdm=True, use_cpu=not torch.cuda.is_available(), bf16=False, seed=settings.seed,
            dataloader_num_workers=0, log_completions=False, disable_dropout=True,  # as this project's default
        )
        trainer = GRPOTrainer(model=model, reward_funcs=letter_share_reward, args=args, train_dataset=dataset,
                              processing_class=AutoProcessor.from_pretrained(path), peft_config=peft_config,
                              callbacks=[_StepClock(meter)])
        meter.wrap_generate(trainer.model)
        meter.model_rss_mb = rss_mb()
        trainer.train()
    params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    meter.report("trl", settings.to_dict(), {"trainable_params": params,
                                             "has_reference_copy": trainer.ref_model is not None})


if __name__ == "__main__":
    run(BenchSettings(**json.loads(sys.argv[1])))
