"""Rollouts: turn prompts into processed inputs, sample G completions each, and mask them.

The processor runs once per prompt; its outputs are then repeated G times (including each
image's patch rows for Qwen-style ``pixel_values``), so a group's image is resized and
patchified once instead of G times; the vision tower likewise encodes each distinct image once
(:func:`lightning_modules.image_features.shared_image_features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from transformers import GenerationConfig, LogitsProcessorList

from datamodules.sample import Sample
from lightning_modules.image_features import shared_image_features
from lightning_modules.prompt_rows import repeat_inputs, select_rows  # noqa: F401  (re-exported)
from lightning_modules.sampling import RolloutSampler
from lightning_modules.shared_prefix import shared_prefix_decode


@dataclass
class GenerationSettings:
    """How completions are sampled.

    Args:
        max_new_tokens: completion length cap; longer completions are truncated (and can be
            masked out of the loss with ``mask_truncated``).
        temperature: sampling temperature (ignored when ``do_sample`` is False).
        top_p: nucleus sampling mass.
        top_k: top-k filter, 0 disables it.
        do_sample: sample (training) or decode greedily (evaluation default).
        min_new_tokens: the end-of-sequence token is suppressed before this many tokens (0: never); benchmarks use
            it to make every completion exactly ``max_new_tokens`` long.
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"generation.temperature must be > 0 when sampling, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"generation.top_k must be >= 0, got {self.top_k}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"generation.min_new_tokens must be in [0, max_new_tokens], got {self.min_new_tokens}")


def process_prompts(processor: Any, samples: Sequence[Sample]) -> dict[str, Tensor]:
    """Apply the chat template and the processor to a batch of samples (left padding).

    Args:
        processor: a Hugging Face processor with a chat template.
        samples: the prompts.

    Returns:
        The processor's tensors for ``len(samples)`` rows.
    """
    texts = [processor.apply_chat_template(s.messages(), add_generation_prompt=True, tokenize=False) for s in samples]
    images = [list(s.images) for s in samples]
    kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
    if any(images):
        kwargs["images"] = images
    tokenizer = getattr(processor, "tokenizer", processor)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right edge of every row
    try:
        return dict(processor(**kwargs))
    finally:
        tokenizer.padding_side = side


@dataclass
class Completions:
    """Sampled completions for ``N`` rows.

    Attributes:
        ids: ``N x C`` token ids, right-padded.
        mask: ``N x C`` 1 up to and including the first end-of-sequence token.
        truncated: ``N`` True where no end-of-sequence token was produced.
        texts: decoded completions without special tokens.
        logprobs: ``N x C`` log-probabilities the engine sampled each token with (after temperature), where the
            engine reports them (vLLM); None otherwise.
    """

    ids: Tensor
    mask: Tensor
    truncated: Tensor
    texts: list[str] = field(default_factory=list)
    logprobs: Tensor | None = None


def eos_token_ids(model: nn.Module, processor: Any) -> list[int]:
    """All token ids that end a completion (the generation config's and the tokenizer's)."""
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, getattr(getattr(processor, "tokenizer", processor), "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    if not ids:
        raise ValueError("neither the model's generation config nor the tokenizer names an end-of-sequence token")
    return sorted(ids)


def placeholder_token_ids(model: nn.Module) -> list[int]:
    """Image / video placeholder tokens of the model's config, which a completion must never contain.

    A sampled placeholder would be taken for an image slot by the next forward pass and break the
    image-feature count (real checkpoints rarely emit them, randomly initialised ones do).
    """
    config = getattr(model, "config", None)
    ids: set[int] = set()
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                "vision_token_id", "image_token_index", "video_token_index"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            ids.add(value)
    return sorted(ids)


def completion_mask(ids: Tensor, eos_ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Mask tokens after the first end-of-sequence token; report rows that never ended.

    Args:
        ids: ``N x C`` generated tokens.
        eos_ids: tokens that end a completion.

    Returns:
        ``(mask, truncated)``: ``N x C`` int mask (the EOS token itself counts) and ``N`` booleans.
    """
    is_eos = torch.isin(ids, torch.tensor(list(eos_ids), device=ids.device))
    n, c = ids.shape
    first = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1), torch.full((n,), c, device=ids.device))
    positions = torch.arange(c, device=ids.device).expand(n, c)
    mask = (positions <= first.unsqueeze(1)).int()
    return mask, ~is_eos.any(dim=1)


@torch.no_grad()
def generate(
    model: nn.Module,
    processor: Any,
    inputs: dict[str, Tensor],
    settings: GenerationSettings,
    images_per_row: Sequence[int] | None = None,
) -> Completions:
    """Sample one completion per input row with the KV cache, in one batched ``generate`` call.

    Args:
        model: the policy (switched to eval mode for the call so dropout is off, then restored).
        processor: its processor (pad / end tokens and decoding).
        inputs: processed, left-padded prompts for ``N`` rows (already repeated per group).
        settings: sampling settings.
        images_per_row: number of images of each row; given, each distinct prompt is prefilled once and
            its KV cache shared by the rows that repeat it
            (:func:`lightning_modules.shared_prefix.shared_prefix_decode`), where the model allows.

    Returns:
        :class:`Completions` for the ``N`` rows.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    eos = eos_token_ids(model, processor)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    # Greedy decoding of the sampler's choice (lightning_modules.sampling): the same distribution as transformers'
    # sampling, without its B x V rebuilds per processor and torch.multinomial.
    gen_kwargs: dict[str, Any] = dict(max_new_tokens=settings.max_new_tokens, do_sample=False, eos_token_id=eos,
                                      pad_token_id=pad, use_cache=True)
    sampler = RolloutSampler(settings, inputs["input_ids"].shape[1], eos,
                             placeholder_token_ids(getattr(model, "base_model", model)))
    # Only these settings, none of the checkpoint's: its other defaults (Qwen2-VL-2B-Instruct ships repetition_penalty
    # 1.05) would sample from a distribution the log-prob passes do not score, and make greedy evaluation not greedy.
    # generate() fills every unset field from the model's own generation_config, so that is what is swapped here.
    owner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper's model
    was_training = model.training
    saved_config = owner.generation_config
    owner.generation_config = GenerationConfig(**gen_kwargs)
    model.eval()
    try:
        # Inference mode skips autograd's per-op bookkeeping (version counters, view tracking) on every
        # decode step; nothing generated here is differentiated.
        with torch.inference_mode():
            ids = None
            if images_per_row is not None:
                ids = shared_prefix_decode(model, inputs, images_per_row, sampler.choose, eos, pad,
                                           settings.max_new_tokens)
            if ids is None:
                # Otherwise each prompt's image is still encoded once, not once per completion of its group.
                out = model.generate(**shared_image_features(model, inputs),
                                     logits_processor=LogitsProcessorList([sampler]))
                ids = out[:, inputs["input_ids"].shape[1] :]
    finally:
        owner.generation_config = saved_config
        model.train(was_training)
    # A normal tensor again: the log-prob passes embed these ids with autograd recording.
    return finish_completions(ids.clone(), tokenizer, eos, pad)


def finish_completions(ids: Tensor, tokenizer: Any, eos: Sequence[int], pad: int,
                       logprobs: Tensor | None = None) -> Completions:
    """Mask generated tokens after the first end-of-sequence token, pad them, and decode.

    Args:
        ids: ``N x C`` generated tokens (anything after a row's end).
        tokenizer: decodes the texts.
        eos: tokens that end a completion.
        pad: the padding token written after each row's end.
        logprobs: the engine's ``N x C`` sampling log-probs, if any (0 where masked).
    """
    if ids.shape[1] == 0:  # every row ended at once: keep one (EOS) column so shapes stay valid
        ids = torch.full((ids.shape[0], 1), eos[0], dtype=ids.dtype, device=ids.device)
    mask, truncated = completion_mask(ids, eos)
    ids = ids.masked_fill(mask == 0, pad)
    if logprobs is not None:
        logprobs = logprobs[:, : ids.shape[1]].masked_fill(mask == 0, 0.0)
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return Completions(ids=ids, mask=mask, truncated=truncated, texts=texts, logprobs=logprobs)
