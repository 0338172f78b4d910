"""One encoding of each distinct prompt, shared by the G completions of its group through the KV cache.

A GRPO rollout repeats every prompt (text and image tokens) G times. Run as one ``N x (P + C)`` batch, the
language model encodes each prompt G times, in generation's prefill and in every log-prob pass (policy,
reference, backward). Here the distinct prompts (minus their last token) go through the model once, their KV
cache is gathered to the ``N`` rows, and only ``[last prompt token, completion]`` is run per row:

- Log-probs stay exact: the suffix attends to the same keys and values at the same positions, and gradients of
  a shared prompt's cache entries are the sum over its rows, as G separate encodings would give.
- Positions are the model's own: Qwen2-VL-family multimodal RoPE (``get_rope_index``) is computed for the
  distinct prompts, and the suffix continues from each prompt's last (text) position, as the unshared pass does.
- Only models with ``get_rope_index`` (Qwen2-VL, Qwen2.5-VL) share; anything else, and batches without repeated
  prompts, take the plain path, so this is a pure optimisation. Gradient checkpointing disables the cache in
  training, so it takes the plain path too, as do inputs with videos.
- One difference in distribution, none in values: with dropout active in training (LoRA dropout), the G rows of a
  group share one dropout mask over their prompt positions instead of drawing G.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lightning_modules.image_features import distinct_images, hf_model, shared_image_features
from lightning_modules.prompt_rows import select_rows


@dataclass(frozen=True)
class PromptGroups:
    """Which rows of a batch repeat the same processed prompt.

    Attributes:
        firsts: row index of the first occurrence of every distinct prompt (``U`` entries, in order).
        which: ``N`` indices into ``firsts``: the distinct prompt of every row.
    """

    firsts: list[int]
    which: Tensor

    @property
    def shares(self) -> bool:
        """Whether any prompt repeats (otherwise sharing saves nothing)."""
        return len(self.firsts) < self.which.numel()


def prompt_groups(inputs: Mapping[str, Any], images_per_row: Sequence[int]) -> PromptGroups:
    """Group rows whose processed prompts are identical: same tokens, padding and token types, same image pixels.

    Args:
        inputs: processor output for ``N`` rows (``input_ids``, ``attention_mask``, Qwen-style flattened
            ``pixel_values`` with ``image_grid_thw``, ...).
        images_per_row: number of images of each row (splits the flattened patches between rows).

    Returns:
        The :class:`PromptGroups` of the batch.

    Raises:
        ValueError: ``images_per_row`` does not have one entry per row or does not match ``image_grid_thw``.
    """
    ids = inputs["input_ids"]
    n = ids.shape[0]
    if len(images_per_row) != n:
        raise ValueError(f"images_per_row has {len(images_per_row)} entries for {n} rows")
    pixels, grid = inputs.get("pixel_values"), inputs.get("image_grid_thw")
    image_keys: list[tuple[int, ...]] = [()] * n
    if pixels is not None and grid is not None and pixels.ndim == 2:
        if sum(images_per_row) != grid.shape[0]:
            raise ValueError(f"images_per_row counts {sum(images_per_row)} images, image_grid_thw {grid.shape[0]}")
        _, image_ids = distinct_images(list(torch.split(pixels, grid.prod(dim=-1).tolist())))
        start = 0
        for row, count in enumerate(images_per_row):
            image_keys[row] = tuple(image_ids[start : start + count])
            start += count
    elif pixels is not None:
        image_keys = [(row,) for row in range(n)]  # an unknown pixel layout: treat every row as distinct
    per_token = [v for k, v in inputs.items() if isinstance(v, Tensor) and v.shape[:2] == ids.shape]
    rows = torch.cat([v.reshape(n, -1).long() for v in per_token], dim=1).cpu().numpy()
    seen: dict[tuple[bytes, tuple[int, ...]], int] = {}
    firsts: list[int] = []
    which: list[int] = []
    for row in range(n):
        key = (rows[row].tobytes(), image_keys[row])
        if key not in seen:
            seen[key] = len(firsts)
            firsts.append(row)
        which.append(seen[key])
    return PromptGroups(firsts=firsts, which=torch.as_tensor(which, dtype=torch.long, device=ids.device))


def _rope_index_fn(model: Any) -> Any:
    """The model's multimodal-RoPE position function (Qwen2-VL family), or None."""
    hf = hf_model(model)
    for owner in (getattr(hf, "model", None), hf):
        fn = getattr(owner, "get_rope_index", None)
        if callable(fn):
            return fn
    return None


def _cache_kwarg(model: Any) -> str:
    """The forward's name for the KV cache (``cache`` in transformers >= 5.x, ``past_key_values`` before)."""
    params = inspect.signature(hf_model(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _checkpointing(hf: Any) -> bool:
    """Whether activation (gradient) checkpointing is on; transformers 5 renamed the property."""
    if hasattr(type(hf), "is_activation_checkpointing"):
        return bool(hf.is_activation_checkpointing)
    return bool(getattr(hf, "is_gradient_checkpointing", False))


def can_share(model: Any, inputs: Mapping[str, Any]) -> bool:
    """Whether :func:`prefix_logits` supports this model and batch (else use the plain forward)."""
    hf = hf_model(model)
    if hf is None or _rope_index_fn(model) is None or inputs["input_ids"].shape[1] < 2:
        return False
    if inputs.get("pixel_values_videos") is not None:
        return False  # prompt_groups compares image pixels only
    if torch.is_grad_enabled() and _checkpointing(hf):
        return False  # checkpointed training runs without a KV cache
    types = inputs.get("mm_token_type_ids")
    # The last prompt token is re-run with each completion, so it must be text (it is: the assistant header).
    return types is None or not bool(types[:, -1].any())


def prompt_positions(model: Any, inputs: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """Multimodal RoPE positions ``3 x B x P`` of processed prompts and the ``B x 1`` offsets of what follows.

    Computed by the model's own ``get_rope_index``; a text token after the prompt at (attention-mask) index
    ``t`` sits at ``t + offset``, which is how the model continues positions during generation.
    """
    fn = _rope_index_fn(model)
    accepted = inspect.signature(fn).parameters
    extra = {k: v for k, v in inputs.items() if k in accepted and k != "input_ids" and v is not None}
    positions, deltas = fn(inputs["input_ids"], **extra)
    return positions, deltas


def prefix_cache(model: Any, prompt_inputs: Mapping[str, Any], groups: PromptGroups,
                 images_per_row: Sequence[int]) -> tuple[Any, Tensor, Tensor]:
    """Encode each distinct prompt but its last token once, and gather the KV cache to every row.

    Args:
        model: the policy, its peft wrapper or a reference wrapper (called as ``model(**inputs)``).
        prompt_inputs: processed, left-padded prompts for ``N`` rows.
        groups: their :func:`prompt_groups`.
        images_per_row: number of images of each row.

    Returns:
        ``(cache, positions, offsets)``: the model's cache for ``N`` rows holding ``P - 1`` positions
        (differentiable with respect to the weights when grad is enabled), the ``3 x N x P`` prompt positions
        and the ``N x 1`` position offsets of :func:`prompt_positions`.
    """
    distinct = select_rows(dict(prompt_inputs), images_per_row, groups.firsts)
    positions, offsets = prompt_positions(model, distinct)
    head = shared_image_features(model, distinct)
    p = distinct["input_ids"].shape[1]
    for key, value in list(head.items()):
        if isinstance(value, Tensor) and value.shape[:2] == distinct["input_ids"].shape:
            head[key] = value[:, : p - 1]
    out = model(**head, position_ids=positions[:, :, : p - 1], use_cache=True, logits_to_keep=1)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None:
        raise RuntimeError(f"{type(hf_model(model)).__name__} returned no KV cache although use_cache=True")
    if groups.shares:
        cache.reorder_cache(groups.which)  # index_select per layer: a gather, so gradients sum over the group
    return cache, positions[:, groups.which], offsets[groups.which]


def prefix_logits(model: Any, prompt_inputs: Mapping[str, Any], completion_ids: Tensor, completion_mask: Tensor,
                  images_per_row: Sequence[int]) -> Tensor:
    """Logits ``N x C x V`` predicting every completion token, with each distinct prompt encoded once.

    Equals ``model([prompt, completion]).logits[:, P - 1 : P + C - 1]`` up to float rounding; the caller checks
    :func:`can_share` first.

    Args:
        model: the policy, its peft wrapper or a reference wrapper.
        prompt_inputs: processed, left-padded prompts for ``N`` rows.
        completion_ids: ``N x C`` sampled tokens, right-padded.
        completion_mask: ``N x C`` 1 for real completion tokens.
        images_per_row: number of images of each row.
    """
    groups = prompt_groups(prompt_inputs, images_per_row)
    cache, positions, _ = prefix_cache(model, prompt_inputs, groups, images_per_row)
    c = completion_ids.shape[1]
    prompt_ids, prompt_mask = prompt_inputs["input_ids"], prompt_inputs["attention_mask"]
    # Row n's logit at suffix position j predicts completion token j: feed the last prompt token and C - 1 tokens.
    suffix = torch.cat([prompt_ids[:, -1:], completion_ids[:, : c - 1]], dim=1)
    mask = torch.cat([prompt_mask, completion_mask[:, : c - 1].to(prompt_mask.dtype)], dim=1)
    # Completion tokens are text: all three RoPE axes advance by one from the last prompt position.
    steps = torch.arange(c, device=positions.device, dtype=positions.dtype)
    suffix_positions = positions[:, :, -1:] + steps
    out = model(input_ids=suffix, attention_mask=mask, position_ids=suffix_positions, use_cache=True,
                **{_cache_kwarg(model): cache})
    return out.logits


@torch.inference_mode()
def shared_prefix_decode(model: Any, inputs: Mapping[str, Any], images_per_row: Sequence[int], choose: Any,
                         eos_ids: Sequence[int], pad_token_id: int, max_new_tokens: int) -> Tensor | None:
    """Decode from a KV cache that holds each distinct prompt once, feeding the model one token per step.

    The prompt but its last token is encoded once per distinct prompt (:func:`prefix_cache`); each step then runs
    one token per row at the position that continues the prompt, as :func:`prefix_logits` scores it, calling the
    model directly rather than through ``generate`` (whose per-step bookkeeping costs a tenth of a tiny model's
    decoding). Rows that ended receive padding; decoding stops when every row has ended.

    Args:
        model: the policy in the mode generation uses.
        inputs: processed, left-padded prompts for ``N`` rows.
        images_per_row: number of images of each row.
        choose: ``choose(scores, step) -> tokens``: the ``N`` next tokens from float32 ``N x V`` scores.
        eos_ids: tokens that end a completion.
        pad_token_id: written after a row's end.
        max_new_tokens: the length cap.

    Returns:
        ``N x C`` generated tokens, or None when the model or the batch does not allow sharing.
    """
    if not can_share(model, inputs):
        return None
    groups = prompt_groups(inputs, images_per_row)
    if not groups.shares:
        return None
    cache, positions, _ = prefix_cache(model, inputs, groups, images_per_row)
    token, mask, start = inputs["input_ids"][:, -1:], inputs["attention_mask"], positions[:, :, -1:]
    eos = torch.tensor(list(eos_ids), device=token.device)
    unfinished = torch.ones(token.shape[0], dtype=torch.bool, device=token.device)
    generated: list[Tensor] = []
    kwarg = _cache_kwarg(model)
    for step in range(max_new_tokens):
        out = model(input_ids=token, attention_mask=mask, position_ids=start + step, use_cache=True, **{kwarg: cache})
        cache = getattr(out, "cache", None) or out.past_key_values
        chosen = choose(out.logits[:, -1].float(), step).masked_fill(~unfinished, pad_token_id)
        generated.append(chosen)
        unfinished &= ~torch.isin(chosen, eos)
        if not unfinished.any():
            break
        token = chosen.unsqueeze(1)
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
    return torch.stack(generated, dim=1)
