"""Helpers around a loaded policy: the vision tower, LoRA targets, the KL reference, and saving.

The reference model of GRPO's KL term comes in two shapes with one calling convention, ``reference(**inputs)``:

- :class:`AdapterDisabledReference` for LoRA: the *same* model with the adapter switched off under ``no_grad``; no
  second copy of the weights exists. It is a plain object, not an ``nn.Module``, so a LightningModule holding it
  neither registers the weights twice nor saves them twice.
- :class:`FrozenReference` for full fine-tuning: a frozen deep copy in eval mode. It is an ``nn.Module`` so it moves
  with the LightningModule between devices and dtypes.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, ProcessorMixin

#: Attribute names under which Hugging Face vision-language models keep their vision encoder.
VISION_TOWER_NAMES: tuple[str, ...] = ("visual", "vision_tower", "vision_model", "vision_encoder")


def _unwrap(model: nn.Module) -> nn.Module:
    get_base = getattr(model, "get_base_model", None)  # peft.PeftModel
    return get_base() if callable(get_base) else model


def find_vision_tower(model: nn.Module) -> nn.Module | None:
    """Return the vision encoder of a vision-language model, or ``None`` if it has none that can be found.

    Looks for ``visual`` / ``vision_tower`` / ``vision_model`` / ``vision_encoder`` on the model and on its inner
    ``.model`` (transformers 5 nests Qwen2-VL's tower as ``model.model.visual``), through a PEFT wrapper if present.

    Args:
        model: A ``PreTrainedModel`` or a ``PeftModel`` wrapping one.
    """
    root = _unwrap(model)
    for holder in (root, getattr(root, "model", None)):
        if not isinstance(holder, nn.Module):
            continue
        for name in VISION_TOWER_NAMES:
            tower = getattr(holder, name, None)
            if isinstance(tower, nn.Module):
                return tower
    return None


def freeze_vision_tower(model: nn.Module) -> int:
    """Set ``requires_grad=False`` on every parameter of the vision tower.

    Args:
        model: A ``PreTrainedModel`` or a ``PeftModel`` wrapping one.

    Returns:
        Number of parameters frozen.

    Raises:
        ValueError: If no vision tower can be found (so ``freeze_vision=True`` would silently do nothing).
    """
    tower = find_vision_tower(model)
    if tower is None:
        raise ValueError(
            f"freeze_vision=True but no vision tower ({', '.join(VISION_TOWER_NAMES)}) was found on "
            f"{type(_unwrap(model)).__name__}; set freeze_vision=False"
        )
    count = 0
    for param in tower.parameters():
        param.requires_grad_(False)
        count += param.numel()
    return count


def lora_target_modules(model: nn.Module, leaf_names: list[str]) -> list[str]:
    """Full names of the ``nn.Linear`` layers of the *language model* whose last name component is in ``leaf_names``.

    Returning full names (rather than the leaf names PEFT would match anywhere) keeps LoRA out of the vision tower,
    which in Qwen2.5-VL also has ``gate_proj`` / ``up_proj`` / ``down_proj`` layers.

    Args:
        model: The model LoRA will be applied to.
        leaf_names: Layer names such as ``["q_proj", "v_proj"]``.

    Raises:
        ValueError: If no layer matches (wrong names for this architecture).
    """
    tower = find_vision_tower(model)
    excluded = {id(module) for module in tower.modules()} if tower is not None else set()
    wanted = set(leaf_names)
    targets = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in wanted and id(module) not in excluded
    ]
    if not targets:
        raise ValueError(f"lora.target_modules={sorted(wanted)} match no linear layer of the language model "
                         f"of {type(model).__name__}")
    return targets


def disable_dropout(model: nn.Module) -> int:
    """Turn off every dropout of ``model``: ``nn.Dropout`` layers (LoRA's too) and attention dropout rates.

    Returns:
        Number of dropout layers and attention modules changed.
    """
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p:
            module.p = 0.0
            changed += 1
        rate = getattr(module, "attention_dropout", None)
        if isinstance(rate, float) and rate:
            module.attention_dropout = 0.0
            changed += 1
    return changed


class AdapterDisabledReference:
    """The LoRA policy with its adapter disabled: the frozen base model, sharing the policy's weights.

    Args:
        model: A ``peft.PeftModel``.
    """

    def __init__(self, model: nn.Module) -> None:
        if not hasattr(model, "disable_adapter"):
            raise TypeError(f"AdapterDisabledReference needs a PeftModel, got {type(model).__name__}")
        self.model = model

    def forward(self, **inputs: Any) -> Any:
        """Run the base model (adapter off) without gradients; takes and returns what the policy's forward does."""
        with torch.no_grad(), self.model.disable_adapter():
            return self.model(**inputs)

    __call__ = forward


class FrozenReference(nn.Module):
    """A frozen copy of the policy at initialisation, for full fine-tuning; the policy's frozen weights are shared.

    Only the trainable parameters are copied: a parameter the policy does not train (the frozen vision tower,
    anything else with ``requires_grad=False``) never changes, so the reference holds the policy's own tensor
    instead of a second copy (Qwen2-VL-2B's vision tower is 0.67 B parameters).

    Args:
        model: The policy; its trainable parameters are deep-copied, so later updates do not reach the reference.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        shared = {id(p): p for p in model.parameters() if not p.requires_grad}
        self.model = copy.deepcopy(model, memo=shared).eval()
        self.model.requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenReference:
        # Lightning calls .train() on the whole LightningModule; the reference must stay in eval mode.
        return super().train(False)

    @torch.no_grad()
    def forward(self, **inputs: Any) -> Any:
        """Run the frozen copy without gradients; takes and returns what the policy's forward does."""
        return self.model(**inputs)


def merged_lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict of the base model with every active LoRA delta added to its weight, in the base model's key names.

    Computed layer by layer, so neither the training model is modified nor a second full copy is made.

    Args:
        model: A ``peft.PeftModel`` with LoRA adapters.
    """
    from peft.tuners.lora import LoraLayer

    base = _unwrap(model)
    deltas: dict[str, torch.Tensor] = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and not module.disable_adapters:
            active = [a for a in module.active_adapters if a in module.lora_A]
            if active:
                deltas[f"{name}.weight"] = sum(module.get_delta_weight(a) for a in active)
    merged: dict[str, torch.Tensor] = {}
    for key, tensor in base.state_dict().items():
        if ".lora_" in key:
            continue
        clean = key.replace(".base_layer.", ".")
        if clean in deltas:
            tensor = tensor + deltas[clean].to(tensor.dtype)
        merged[clean] = tensor.detach()
    return merged


def _is_quantized(model: nn.Module) -> bool:
    base = _unwrap(model)
    return bool(getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False))


def save_policy(
    model: nn.Module, processor: ProcessorMixin | None, path: str | os.PathLike[str], merge_lora: bool = True
) -> Path:
    """Save a policy in Hugging Face format so ``AutoModelForImageTextToText.from_pretrained(path)`` loads it.

    For a LoRA model the adapter is always saved under ``path/adapter``; with ``merge_lora`` the merged plain model
    goes into ``path`` itself. A 4-bit (QLoRA) base cannot be merged losslessly, so only the adapter is saved then.

    Args:
        model: A ``PreTrainedModel`` or a ``PeftModel``.
        processor: Saved alongside so the directory is self-contained; ``None`` to skip.
        path: Output directory (created).
        merge_lora: Also write the LoRA-merged full model (ignored for models without LoRA).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    is_peft = hasattr(model, "disable_adapter")
    if is_peft:
        model.save_pretrained(out / "adapter")
        if merge_lora and _is_quantized(model):
            warnings.warn("merge_lora=True ignored for a 4-bit model: only the adapter was saved", stacklevel=2)
        elif merge_lora:
            base = _unwrap(model)
            assert isinstance(base, PreTrainedModel)
            base.save_pretrained(out, state_dict=merged_lora_state_dict(model))
    else:
        if not isinstance(model, PreTrainedModel):
            raise TypeError(f"save_policy needs a PreTrainedModel or PeftModel, got {type(model).__name__}")
        model.save_pretrained(out)
    if processor is not None:
        processor.save_pretrained(out)
    return out
