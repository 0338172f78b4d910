"""Log-probabilities of completion tokens, without the ``N x T x V`` logits of the whole sequence.

The prompt (with its image tokens) is left-padded and the completion right-padded, so every completion token
sits in the last ``C`` positions of the concatenated sequence. The model runs with its LM head switched off
(:func:`hidden_states_of`): it returns the last hidden states of the ``C`` positions that predict completion
tokens, and the LM head is applied here, to the real (unpadded) completion tokens only, through
:class:`~lightning_modules.head_logprobs.TiledHeadLogprobs`: tiles of ``chunk_size`` tokens by a few thousand
vocabulary columns, each folded into its tokens' log-probabilities and entropies at once and projected again in
the backward pass, so only one tile of float32 logits exists at any time, instead of ``N x C x V`` (632 MB for
16 completions of 64 tokens at Qwen's 151,936-token vocabulary) and its copies. A head that is not a plain
``nn.Linear`` (quantized, wrapped) goes through autograd in checkpointed chunks of ``chunk_size`` tokens.

Repeated work across a group is done once: each distinct image goes through the vision tower once
(:mod:`lightning_modules.image_features`), and, given ``images_per_row``, each distinct prompt goes
through the language model once with its KV cache shared by the group's completions
(:mod:`lightning_modules.shared_prefix`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel

from lightning_modules.head_logprobs import tiled_head, tiled_logprobs
from lightning_modules.image_features import shared_image_features
from lightning_modules.shared_prefix import can_share, prefix_logits


def _head_slot(model: Any) -> tuple[nn.Module, str, nn.Module]:
    """``(parent, attribute, head)`` of the LM head inside ``model`` (through peft and reference wrappers)."""
    while not isinstance(model, nn.Module) and hasattr(model, "model"):  # AdapterDisabledReference
        model = model.model
    owner = next((m for m in model.modules()
                  if isinstance(m, PreTrainedModel) and m.get_output_embeddings() is not None), None)
    if owner is None:
        raise TypeError(f"no LM head (get_output_embeddings) found in {type(model).__name__}")
    head = owner.get_output_embeddings()
    for parent in owner.modules():
        for name, child in parent.named_children():
            if child is head:
                return parent, name, head
    raise TypeError(f"the LM head of {type(owner).__name__} is not a submodule")


@contextmanager
def hidden_states_of(model: Any) -> Iterator[nn.Module]:
    """Within the block the model's ``logits`` are its last hidden states; yields the LM head to apply later.

    The head is swapped for ``nn.Identity`` on the module that holds it and put back on exit, so every wrapper
    (peft, the reference wrappers, the shared-prefix path) runs unchanged.
    """
    parent, name, head = _head_slot(model)
    setattr(parent, name, nn.Identity())
    try:
        yield head
    finally:
        setattr(parent, name, head)


def _chunk_logprobs(head: nn.Module, hidden: Tensor, tokens: Tensor, temperature: float,
                    with_entropy: bool) -> tuple[Tensor, Tensor]:
    """``hidden`` ``M x H`` and ``tokens`` ``M`` -> log p(token) and entropy (empty unless asked), both ``M``."""
    logits = head(hidden).float()
    if temperature != 1.0:
        logits = logits / temperature
    lse = torch.logsumexp(logits, dim=-1)
    logp = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - lse
    entropy = logp.new_empty(0)
    if with_entropy:
        with torch.no_grad():
            entropy = lse - (torch.softmax(logits, dim=-1) * logits).sum(-1)
    return logp, entropy


def head_logprobs(head: nn.Module, hidden: Tensor, tokens: Tensor, mask: Tensor, temperature: float = 1.0,
                  with_entropy: bool = False, chunk_size: int = 256) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities (and entropies) of ``tokens`` from hidden states, in tiles of ``chunk_size`` tokens.

    Args:
        head: the LM head (hidden -> vocabulary logits).
        hidden: ``N x C x H`` hidden states, position ``j`` predicting ``tokens[:, j]``.
        tokens: ``N x C`` token ids.
        mask: ``N x C``; only positions where it is non-zero are computed (the rest are 0).
        temperature: logits are divided by it.
        with_entropy: also return the (detached) entropies.
        chunk_size: tokens per tile; bounds the float32 logits alive at once to ``chunk_size x 4096`` for a linear
            head (:data:`~lightning_modules.head_logprobs.VOCAB_TILE` columns), ``chunk_size x V`` for another.

    Returns:
        ``(logp, entropy)``, each ``N x C`` (entropy None unless asked).
    """
    real = mask.bool()
    flat_hidden, flat_tokens = hidden[real], tokens[real]
    if tiled_head(head):
        lp, ent = tiled_logprobs(head, flat_hidden, flat_tokens, temperature, with_entropy, chunk_size)
    else:  # a head of another kind (quantized, wrapped): autograd through checkpointed token chunks
        lp, ent = _checkpointed_logprobs(head, flat_hidden, flat_tokens, temperature, with_entropy, chunk_size)
    logp = lp.new_zeros(tokens.shape).masked_scatter(real, lp)
    entropy = ent.new_zeros(tokens.shape).masked_scatter(real, ent) if with_entropy else None
    return logp, entropy


def _checkpointed_logprobs(head: nn.Module, hidden: Tensor, tokens: Tensor, temperature: float,
                           with_entropy: bool, chunk_size: int) -> tuple[Tensor, Tensor]:
    """:func:`_chunk_logprobs` over ``chunk_size`` tokens at a time, each chunk recomputed in the backward pass."""
    recompute = torch.is_grad_enabled() and hidden.requires_grad
    logps, entropies = [], []
    for start in range(0, tokens.shape[0], chunk_size):
        args = (head, hidden[start : start + chunk_size], tokens[start : start + chunk_size], temperature, with_entropy)
        lp, ent = checkpoint(_chunk_logprobs, *args, use_reentrant=False) if recompute else _chunk_logprobs(*args)
        logps.append(lp)
        entropies.append(ent)
    if not logps:
        return hidden.new_zeros(0, dtype=torch.float32), hidden.new_zeros(0, dtype=torch.float32)
    return torch.cat(logps), torch.cat(entropies)


def completion_logprobs(
    model: nn.Module,
    prompt_inputs: Mapping[str, Any],
    completion_ids: Tensor,
    completion_mask: Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
    chunk_size: int = 256,
    images_per_row: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities of ``completion_ids`` under ``model`` given the processed prompts.

    Args:
        model: a Hugging Face image-text-to-text model (or a peft wrapper of one, or a reference wrapper).
        prompt_inputs: processor output for the ``N`` prompts (``input_ids`` ``N x P``,
            ``attention_mask`` ``N x P``, ``pixel_values``, ``image_grid_thw``, ...), left-padded.
        completion_ids: ``N x C`` sampled tokens, right-padded.
        completion_mask: ``N x C`` 1 for real completion tokens; padded positions get log-prob 0.
        temperature: the sampling temperature; logits are divided by it so the log-probs are those
            of the distribution the tokens were sampled from.
        with_entropy: also return per-token entropies (detached), for logging.
        chunk_size: completion tokens per LM-head chunk (:func:`head_logprobs`).
        images_per_row: number of images of each row; given, rows that repeat a prompt share one encoding of
            it (:func:`lightning_modules.shared_prefix.prefix_logits`, same values up to float rounding) when
            the model supports it. None runs every row's prompt.

    Returns:
        ``(logp, entropy)``: ``N x C`` float32 log-probabilities (with grad when enabled) and ``N x C``
        entropies or None.
    """
    with hidden_states_of(model) as head:
        if images_per_row is not None and can_share(model, prompt_inputs):
            hidden = prefix_logits(model, prompt_inputs, completion_ids, completion_mask, images_per_row)
        else:
            hidden = _full_logits(model, prompt_inputs, completion_ids, completion_mask)
    return head_logprobs(head, hidden, completion_ids, completion_mask, temperature, with_entropy, chunk_size)


def _full_logits(model: nn.Module, prompt_inputs: Mapping[str, Any], completion_ids: Tensor,
                 completion_mask: Tensor) -> Tensor:
    """Model outputs ``N x C x .`` at the positions predicting every completion token, one pass of every full row.

    ``logits`` or, under :func:`hidden_states_of`, hidden states.
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
        if (key not in ("input_ids", "attention_mask") and isinstance(value, Tensor)
                and value.shape[:2] == prompt_ids.shape):
            inputs[key] = torch.cat([value, value.new_zeros((value.shape[0], c) + tuple(value.shape[2:]))], dim=1)
    # The logit at position t predicts token t + 1: keep the C positions before each completion token.
    out = model(**inputs, logits_to_keep=c + 1, use_cache=False)
    return out.logits[:, -(c + 1) : -1, :]
