"""Log-probabilities of completion tokens, without full-vocabulary logits for prompt or image positions.

The prompt (with its image tokens) is left-padded and the completion right-padded, so every
completion token sits in the last ``C`` positions of the concatenated sequence. Hugging Face
causal LMs accept ``logits_to_keep``: the LM head then runs on those positions only, which is
where most of GRPO's activation memory would otherwise go (``N x T x V`` for a long prompt).
The log-softmax is taken row-chunk by row-chunk with ``logsumexp`` so no second ``N x C x V``
tensor of log-probabilities is materialised either.

A rollout repeats every prompt's image G times; :func:`shared_image_features` runs the vision tower once
per distinct image and hands the model the features (transformers' ``mm_encoder_outputs``), so neither
generation nor the log-prob passes encode the same image G times. Gradients stay exact: a feature used by
G rows receives the sum of their gradients, as G separate encodings would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from transformers.modeling_outputs import BaseModelOutputWithPooling


def _hf_model(model: Any) -> Any:
    """The Hugging Face model inside ``model`` (a peft wrapper or a reference wrapper's ``.model``), or None."""
    for _ in range(4):
        if hasattr(model, "get_image_features") and hasattr(model, "_supports_mm_encoder_outputs"):
            return model
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "model"):
            model = model.model
        else:
            return None
    return None


def _distinct_images(blocks: list[Tensor]) -> tuple[list[int], list[int]]:
    """Indices of the distinct blocks and, for every block, the position of its distinct copy."""
    firsts: list[int] = []
    which: list[int] = []
    for i, block in enumerate(blocks):
        # Repeats are consecutive in a rollout, so the last distinct image is checked first.
        match = next((u for u in reversed(range(len(firsts)))
                      if blocks[firsts[u]].shape == block.shape and torch.equal(blocks[firsts[u]], block)), None)
        if match is None:
            firsts.append(i)
            match = len(firsts) - 1
        which.append(match)
    return firsts, which


def shared_image_features(model: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Replace Qwen-style ``pixel_values`` by vision features computed once per distinct image.

    Applies when the model takes pre-encoded images (``mm_encoder_outputs``, transformers >= 5) and the
    inputs hold flattened patches with ``image_grid_thw``; otherwise the inputs are returned unchanged.
    The vision tower has no LoRA adapters here, so a reference that disables the adapters sees the same
    features.

    Args:
        model: the policy, a peft wrapper of it, or a reference wrapper with a ``.model``.
        inputs: processor output for ``N`` rows (``pixel_values`` ``sum(patches) x D``, ``image_grid_thw`` ``I x 3``).

    Returns:
        A new dict: the inputs without ``pixel_values`` and with ``mm_encoder_outputs = {"image": ...}``.
    """
    out = dict(inputs)
    pixels, grid = inputs.get("pixel_values"), inputs.get("image_grid_thw")
    hf = _hf_model(model)
    if pixels is None or grid is None or pixels.ndim != 2 or hf is None or not hf._supports_mm_encoder_outputs():
        return out
    blocks = list(torch.split(pixels, grid.prod(dim=-1).tolist()))
    firsts, which = _distinct_images(blocks)
    encoded = hf.get_image_features(torch.cat([blocks[i] for i in firsts]), grid[firsts], return_dict=True)
    per_image = encoded.pooler_output
    if not isinstance(per_image, (tuple, list)) or len(per_image) != len(firsts):
        return out  # an unexpected feature layout: let the model encode the pixels itself
    out.pop("pixel_values")
    out["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=tuple(per_image[u] for u in which))}
    return out


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

    Returns:
        ``(logp, entropy)``: ``N x C`` log-probabilities (with grad when enabled) and ``N x C``
        entropies or None.
    """
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
    logits = out.logits[:, -(c + 1) : -1, :]
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
