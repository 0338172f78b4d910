"""Vision features computed once per distinct image of a rollout, handed to the model pre-encoded.

A rollout repeats every prompt's image G times; :func:`shared_image_features` runs the vision tower once
per distinct image and hands the model the features (transformers' ``mm_encoder_outputs``), so neither
generation nor the log-prob passes encode the same image G times. Gradients stay exact: a feature used by
G rows receives the sum of their gradients, as G separate encodings would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from transformers.modeling_outputs import BaseModelOutputWithPooling


def hf_model(model: Any) -> Any:
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


def distinct_images(blocks: list[Tensor]) -> tuple[list[int], list[int]]:
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
    hf = hf_model(model)
    if pixels is None or grid is None or pixels.ndim != 2 or hf is None or not hf._supports_mm_encoder_outputs():
        return out
    blocks = list(torch.split(pixels, grid.prod(dim=-1).tolist()))
    firsts, which = distinct_images(blocks)
    encoded = hf.get_image_features(torch.cat([blocks[i] for i in firsts]), grid[firsts], return_dict=True)
    per_image = encoded.pooler_output
    if not isinstance(per_image, (tuple, list)) or len(per_image) != len(firsts):
        return out  # an unexpected feature layout: let the model encode the pixels itself
    out.pop("pixel_values")
    out["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=tuple(per_image[u] for u in which))}
    return out
