"""Shared workload of ``benchmarks/grpo_vs_trl.py``: prompts, images, reward and the settings both trainers get.

Both sides draw their prompts from the same :class:`MultiDomainDataModule` (one synthetic domain of patterned
112 x 112 images, 16 image tokens each with the tiny model's processor) and score completions with the same
function, so the only difference between the two runs is the trainer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from datamodules.datamodule import MultiDomainDataModule
from datamodules.domain import Domain
from datamodules.sample import Record
from datamodules.sources.base import Source, SourceSplit
from rewards.base import Verifier
from rewards.composite import VerifierSpec

IMAGE_SIZE = 112  # the tiny processor's max_pixels edge: 8 x 8 patches, merged 2 x 2 into 16 image tokens


@dataclass(frozen=True)
class BenchSettings:
    """Everything that defines one benchmark configuration (identical for both trainers).

    Args:
        prompts: prompts per optimiser step (P); one rollout is P x G completions.
        num_generations: completions per prompt (G).
        max_new_tokens: completion length; EOS is suppressed until then so every completion has this length.
        steps: optimiser steps per run; the first is a warm-up and is not timed.
        beta: KL coefficient (0 builds no reference).
        lr: AdamW learning rate (constant schedule on both sides).
        temperature: sampling temperature.
        lora_rank: LoRA rank on the language model's linear layers; 0 fine-tunes all language-model weights.
        seed: seed of data order, sampling and initialisation.
        threads: torch intra-op threads (both sides).
        hidden_size: width of the tiny random Qwen2-VL's language model.
        vocab_size: its vocabulary; 0 keeps the tiny tokenizer's 650 tokens, 151936 is Qwen2-VL's (the embedding
            and LM head grow; tokens beyond the tokenizer decode to nothing, on both sides alike).
        engine: this project's rollout engine, ``hf`` (Hugging Face ``generate``) or ``vllm`` (ignored by TRL).
    """

    prompts: int = 2
    num_generations: int = 8
    max_new_tokens: int = 64
    steps: int = 5
    beta: float = 0.04
    lr: float = 1e-5
    temperature: float = 1.0
    lora_rank: int = 0
    seed: int = 0
    threads: int = 1
    hidden_size: int = 128
    vocab_size: int = 0
    engine: str = "hf"

    def __post_init__(self) -> None:
        for name in ("prompts", "max_new_tokens", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be >= 2 (GRPO needs a group), got {self.num_generations}")
        if self.steps < 2:
            raise ValueError(f"steps must be >= 2 (the first is an untimed warm-up), got {self.steps}")
        if self.beta < 0 or self.lr <= 0 or self.temperature <= 0 or self.lora_rank < 0:
            raise ValueError(f"beta >= 0, lr > 0, temperature > 0 and lora_rank >= 0 required, got {self}")
        if self.engine not in ("hf", "vllm"):
            raise ValueError(f"engine must be 'hf' or 'vllm', got {self.engine!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def letter_share(text: str) -> float:
    """Share of letters among the non-space characters of ``text`` (0 for an empty text)."""
    chars = [c for c in text if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


class LetterShare(Verifier):
    """The benchmark's reward: :func:`letter_share` of the completion (varied scores, so groups have spread)."""

    def prepare_solution(self, solution: Any, meta: Mapping[str, Any]) -> Any:
        return None

    def score_one(self, completion: str, target: Any, meta: Mapping[str, Any]) -> tuple[float, bool]:
        return letter_share(completion), False

    def canonical_answer(self, solution: Any, meta: Mapping[str, Any]) -> str:
        return "abc"


def bench_image(index: int) -> Image.Image:
    """A deterministic patterned RGB image (stripes and a square, so patches differ)."""
    shade = (37 * index) % 256
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (shade, 255 - shade, 128))
    draw = ImageDraw.Draw(image)
    for x in range(0, IMAGE_SIZE, 14):
        draw.line([(x, 0), (x, IMAGE_SIZE)], fill=((shade + x) % 256, 40, 200), width=3)
    offset = 8 + index % 48
    draw.rectangle([offset, offset, offset + 40, offset + 40], fill=(250, shade, 10))
    return image


class _BenchSplit(SourceSplit):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def record(self, index: int) -> Record:
        return Record(question=f"Describe picture number {index} in a few words.", images=[bench_image(index)],
                      solution="any", meta={})


class BenchSource(Source):
    """Synthetic patterned images with one fixed-form question each.

    Args:
        size: records in the training and in the evaluation part.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size

    def split(self, part: str) -> SourceSplit | None:
        return _BenchSplit(self.size)


def bench_model_path(settings: BenchSettings) -> str:
    """The random model both trainers load: the tiny Qwen2-VL at ``hidden_size``, its vocabulary grown if asked.

    Built once into the tiny-model cache (``MODOMODO_CACHE``); nothing is downloaded.
    """
    from lightning_modules.tiny_model import ensure_tiny_model

    heads = max(2, settings.hidden_size // 32)  # 128 -> the shipped tiny defaults (4 heads, 2 KV heads, MLP 384)
    base = ensure_tiny_model(hidden_size=settings.hidden_size, num_heads=heads, num_kv_heads=max(1, heads // 2),
                             intermediate_size=3 * settings.hidden_size)
    if not settings.vocab_size:
        return str(base)
    out = base.parent / f"{base.name}-vocab{settings.vocab_size}"
    if not (out / "config.json").exists():
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        torch.manual_seed(settings.seed)
        model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.float32)
        model.resize_token_embeddings(settings.vocab_size, mean_resizing=False)
        tmp = out.with_name(out.name + ".partial")
        model.save_pretrained(tmp)
        AutoProcessor.from_pretrained(base).save_pretrained(tmp)
        tmp.rename(out)
    return str(out)


def bench_datamodule(settings: BenchSettings) -> MultiDomainDataModule:
    """The data module both trainers draw their prompts from (one domain, rewards by :class:`LetterShare`)."""
    domain = Domain(name="bench", source=BenchSource(), verifiers=[VerifierSpec(name=f"{__name__}.LetterShare")],
                    format_gate=False)
    return MultiDomainDataModule(domains=[domain], batch_size=settings.prompts, eval_batch_size=settings.prompts,
                                 stop="cycle", seed=settings.seed)
