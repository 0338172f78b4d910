"""Log-probabilities of completion tokens, without full-vocabulary logits for prompt or image positions.

The prompt (with its image tokens) is left-padded and the completion right-padded, so every
completion token sits in the last ``C`` positions of the concatenated sequence. Hugging Face
causal LMs accept ``logits_to_keep``: the LM head then runs on those positions only, which is
where most of GRPO's activation memory would otherwise go (``N x T x V`` for a long prompt).
The log-softmax is taken row-chunk by row-chunk with ``logsumexp`` so no second ``N x C x V``
tensor of log-probabilities is materialised either.

Repeated work across a group is done once: each distinct image goes through the vision tower once
(:mod:`lightning_modules.image_features`), and, given ``images_per_row``, each distinct prompt goes
through the language model once with its KV cache shared by the group's completions
(:mod:`lightning_modules.shared_prefix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lightning_modules.image_features import shared_image_features
from lightning_modules.shared_prefix import can_share, prefix_logits


def _token_logprobs_and_entropy(logits: Tensor, tokens: Tensor, with_entropy: bool) -> tuple[Tensor, Tensor | None]:
    """``logits`` ``n x C x V`` (float32) and ``tokens`` ``n x C`` -> log p(token) and entropy, both ``n x C``."""
    lse = torch.logsumexp(logits, dim=-1)
    logp = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - lse
    entropy = None
    if with_entropy:
        with torch.no_grad():
            probs = torch.softmax(logits, dim=-1)
            entropy = lse - (probs * logits).sum(-1)
    return logp, entropy


def completion_logprobs(
    model: nn.Module,
    prompt_inputs: Mapping[str, Any],
    completion_ids: Tensor,
    completion_mask: Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
    chunk_size: int = 8,
    images_per_row: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities of ``completion_ids`` under ``model`` given the processed prompts.

    Args:
        model: a Hugging Face image-text-to-text model (or a peft wrapper of one).
        prompt_inputs: processor output for the ``N`` prompts (``input_ids`` ``N x P``,
            ``attention_mask`` ``N x P``, ``pixel_values``, ``image_grid_thw``, ...), left-padded.
        completion_ids: ``N x C`` sampled tokens, right-padded.
        completion_mask: ``N x C`` 1 for real completion tokens.
        temperature: the sampling temperature; logits are divided by it so the log-probs are those
            of the distribution the tokens were sampled from.
        with_entropy: also return per-token entropies (detached), for logging.
        chunk_size: rows per log-softmax chunk, bounds the float32 copy of the logits.
        images_per_row: number of images of each row; given, rows that repeat a prompt share one encoding of
            it (:func:`lightning_modules.shared_prefix.prefix_logits`, same values up to float rounding) when
            the model supports it. None runs every row's prompt.

    Returns:
        ``(logp, entropy)``: ``N x C`` log-probabilities (with grad when enabled) and ``N x C``
        entropies or None.
    """
    if images_per_row is not None and can_share(model, prompt_inputs):
        logits = prefix_logits(model, prompt_inputs, completion_ids, completion_mask, images_per_row)
    else:
        logits = _full_logits(model, prompt_inputs, completion_ids, completion_mask)
    logps, entropies = [], []
    for start in range(0, logits.shape[0], chunk_size):
        chunk = logits[start : start + chunk_size].float()
        if temperature != 1.0:
            chunk = chunk / temperature
        lp, ent = _token_logprobs_and_entropy(chunk, completion_ids[start : start + chunk_size], with_entropy)
        logps.append(lp)
        if ent is not None:
            entropies.append(ent)
    logp = torch.cat(logps)
    return logp, (torch.cat(entropies) if with_entropy else None)


def _full_logits(model: nn.Module, prompt_inputs: Mapping[str, Any], completion_ids: Tensor,
                 completion_mask: Tensor) -> Tensor:
    """Logits ``N x C x V`` predicting every completion token from one forward pass of every full row."""
    c = completion_ids.shape[1]
    prompt_ids = prompt_inputs["input_ids"]
    inputs = shared_image_features(model, prompt_inputs)
    inputs["input_ids"] = torch.cat([prompt_ids, completion_ids], dim=1)
    inputs["attention_mask"] = torch.cat(
        [prompt_inputs["attention_mask"], completion_mask.to(prompt_inputs["attention_mask"].dtype)], dim=1
    )
    for key, value in list(inputs.items()):
        # Per-token side inputs (e.g. transformers 5's ``mm_token_type_ids``): completion tokens are text (0).
        if key not in ("input_ids", "attention_mask") and isinstance(value, Tensor) and value.shape[:2] == prompt_ids.shape:
            inputs[key] = torch.cat([value, value.new_zeros((value.shape[0], c) + tuple(value.shape[2:]))], dim=1)
    # The logit at position t predicts token t + 1: keep the C positions before each completion token.
    out = model(**inputs, logits_to_keep=c + 1, use_cache=False)
    return out.logits[:, -(c + 1) : -1, :]
