"""Rollouts: turn prompts into processed inputs, sample G completions each, and mask them.

The processor runs once per prompt; its outputs are then repeated G times (including each
image's patch rows for Qwen-style ``pixel_values``), so a group's image is resized and
patchified once instead of G times; the vision tower likewise encodes each distinct image once
(:func:`lightning_modules.logprobs.shared_image_features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from datamodules.sample import Sample
from lightning_modules.logprobs import shared_image_features


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
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"generation.temperature must be > 0 when sampling, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"generation.top_k must be >= 0, got {self.top_k}")


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


def select_rows(inputs: dict[str, Tensor], images_per_row: Sequence[int], rows: Sequence[int]) -> dict[str, Tensor]:
    """Gather rows of processed inputs, in the order given (rows may repeat).

    Qwen-style processors flatten all images' patches into one ``pixel_values`` tensor with one
    ``image_grid_thw`` row per image; those are gathered per row as blocks. Other tensors with a
    leading batch dimension are indexed row-wise.

    Args:
        inputs: processor output for ``B`` rows.
        images_per_row: number of images of each of the ``B`` rows.
        rows: row indices to gather.

    Returns:
        Inputs for ``len(rows)`` rows.
    """
    b = len(images_per_row)
    index = torch.as_tensor(list(rows), dtype=torch.long)
    grid = inputs.get("image_grid_thw")
    first_image = [0]
    for n in images_per_row:
        first_image.append(first_image[-1] + n)
    out: dict[str, Tensor] = {}
    for key, value in inputs.items():
        if not isinstance(value, Tensor):
            out[key] = value
        elif key == "pixel_values" and grid is not None and value.shape[0] != b:
            per_image = torch.split(value, grid.prod(dim=-1).tolist())
            blocks = [per_image[j] for r in rows for j in range(first_image[r], first_image[r + 1])]
            out[key] = torch.cat(blocks) if blocks else value[:0]
        elif key == "image_grid_thw" and value.shape[0] != b:
            image_rows = [j for r in rows for j in range(first_image[r], first_image[r + 1])]
            out[key] = value[torch.as_tensor(image_rows, dtype=torch.long)]
        elif value.ndim and value.shape[0] == b:
            out[key] = value[index.to(value.device)]
        else:
            out[key] = value
    return out


def repeat_inputs(inputs: dict[str, Tensor], samples: Sequence[Sample], repeats: int) -> dict[str, Tensor]:
    """Repeat every prompt's processed inputs ``repeats`` times, consecutively (p0, p0, ..., p1, ...).

    Args:
        inputs: processor output for ``B`` prompts.
        samples: the ``B`` samples (their image counts split the flattened patches).
        repeats: G.

    Returns:
        Inputs for ``B * repeats`` rows.
    """
    rows = [i for i in range(len(samples)) for _ in range(repeats)]
    return select_rows(inputs, [len(s.images) for s in samples], rows)


@dataclass
class Completions:
    """Sampled completions for ``N`` rows.

    Attributes:
        ids: ``N x C`` token ids, right-padded.
        mask: ``N x C`` 1 up to and including the first end-of-sequence token.
        truncated: ``N`` True where no end-of-sequence token was produced.
        texts: decoded completions without special tokens.
    """

    ids: Tensor
    mask: Tensor
    truncated: Tensor
    texts: list[str] = field(default_factory=list)


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
    model: nn.Module, processor: Any, inputs: dict[str, Tensor], settings: GenerationSettings
) -> Completions:
    """Sample one completion per input row with the KV cache, in one batched ``generate`` call.

    Args:
        model: the policy (switched to eval mode for the call so dropout is off, then restored).
        processor: its processor (pad / end tokens and decoding).
        inputs: processed, left-padded prompts for ``N`` rows (already repeated per group).
        settings: sampling settings.

    Returns:
        :class:`Completions` for the ``N`` rows.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    eos = eos_token_ids(model, processor)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    gen_kwargs: dict[str, Any] = dict(max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
                                      eos_token_id=eos, pad_token_id=pad, use_cache=True)
    suppressed = placeholder_token_ids(getattr(model, "base_model", model))
    if suppressed:
        gen_kwargs["suppress_tokens"] = suppressed
    if settings.do_sample:
        gen_kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    else:
        # Explicit neutral values so a checkpoint's own sampling defaults do not trigger warnings.
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    was_training = model.training
    model.eval()
    try:
        # Each prompt's image is encoded once, not once per completion of its group.
        out = model.generate(**shared_image_features(model, inputs), **gen_kwargs)
    finally:
        model.train(was_training)
    ids = out[:, inputs["input_ids"].shape[1] :]
    if ids.shape[1] == 0:  # every row ended at once: keep one (EOS) column so shapes stay valid
        ids = torch.full((ids.shape[0], 1), eos[0], dtype=out.dtype, device=out.device)
    mask, truncated = completion_mask(ids, eos)
    ids = ids.masked_fill(mask == 0, pad)
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return Completions(ids=ids, mask=mask, truncated=truncated, texts=texts)
