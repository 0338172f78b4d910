"""Loading a Hugging Face image-text-to-text policy (full, LoRA or QLoRA) and its GRPO reference model.

``HFPolicy`` is a plain typed settings class, so LightningCLI / jsonargparse can build it from YAML::

    policy:
      class_path: lightning_modules.policy.HFPolicy
      init_args:
        model_name_or_path: Qwen/Qwen2-VL-2B-Instruct
        dtype: bfloat16
        lora: {r: 16, alpha: 32}

``model_name_or_path: tiny`` (or ``tiny-qwen2.5-vl``) builds and caches a tiny random model offline
(:mod:`lightning_modules.tiny_model`). All options are validated in ``__init__``, before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, ProcessorMixin

from lightning_modules.policy_utils import (
    AdapterDisabledReference,
    FrozenReference,
    disable_dropout,
    freeze_vision_tower,
    lora_target_modules,
)
from lightning_modules.tiny_model import ensure_tiny_model

#: Names accepted by ``HFPolicy(dtype=...)``; ``auto`` keeps the checkpoint's own dtype.
DTYPES: dict[str, torch.dtype | str] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "auto": "auto",
}

#: Special model names that resolve to a locally built tiny model, with the architecture each builds.
TINY_MODELS: dict[str, str] = {"tiny": "qwen2_vl", "tiny-qwen2-vl": "qwen2_vl", "tiny-qwen2.5-vl": "qwen2_5_vl"}

# A hub id is "name" or "owner/name" of word characters, dots and dashes; anything else is meant as a path.
#: The repository root: relative model paths not found in the working directory are looked up here.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?")


@dataclass
class LoraSettings:
    """LoRA adapter settings. Only the language model's layers get adapters, never the vision tower.

    Args:
        r: Rank of the adapter matrices.
        alpha: Scaling numerator; the update is scaled by ``alpha / r``.
        dropout: Dropout on the adapter input, in [0, 1).
        target_modules: Last name component of the language model's linear layers to adapt.
    """

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )

    def __post_init__(self) -> None:
        if self.r <= 0:
            raise ValueError(f"lora.r must be positive, got {self.r}")
        if self.alpha <= 0:
            raise ValueError(f"lora.alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("lora.target_modules must name at least one layer")


@dataclass
class PolicyBundle:
    """What :meth:`HFPolicy.build` returns.

    Args:
        model: The trainable policy (``PreTrainedModel``, or ``PeftModel`` with LoRA).
        processor: Its processor (tokenizer, image processor, chat template).
        reference: Callable as ``reference(**inputs)`` like the model, without gradients; ``None`` if not requested.
        model_path: The resolved local path or hub id the weights came from.
    """

    model: nn.Module
    processor: ProcessorMixin
    reference: AdapterDisabledReference | FrozenReference | None
    model_path: str

    @property
    def is_lora(self) -> bool:
        """Whether the model carries LoRA adapters."""
        return hasattr(self.model, "disable_adapter")


class HFPolicy:
    """Loads any Hugging Face image-text-to-text model and processor as a GRPO policy.

    Args:
        model_name_or_path: Local directory or hub id of the model; ``tiny`` / ``tiny-qwen2.5-vl`` build a tiny
            random Qwen2-VL / Qwen2.5-VL offline (for tests and CPU smoke runs). A relative directory not found in
            the working directory is looked up in the project root (so ``assets/tiny-base`` works from anywhere).
        processor_name_or_path: Where the processor comes from, if not from ``model_name_or_path``.
        dtype: Weight dtype: ``float32``, ``bfloat16``, ``float16`` or ``auto`` (the checkpoint's).
        freeze_vision: Keep the vision tower's weights fixed (the paper trains only the language model).
        gradient_checkpointing: Recompute activations in the backward pass to save memory.
        lora: LoRA adapter settings; ``None`` fine-tunes all (unfrozen) weights.
        load_in_4bit: QLoRA: load the base in 4-bit NF4 (needs ``lora`` and ``bitsandbytes``; on a CUDA GPU, or
            on the CPU).
        attn_implementation: Attention kernel (``eager``, ``sdpa``, ``flash_attention_2``); ``None`` lets
            transformers choose.
        min_pixels: Override the image processor's minimum image area in pixels (Qwen-style processors).
        max_pixels: Override the image processor's maximum image area in pixels; bounds the image tokens per image.
        trust_remote_code: Allow model code from the hub repository to run.
        disable_dropout: Set every dropout of the model (LoRA's included) to 0, as TRL's ``disable_dropout``:
            rollouts are sampled in eval mode, so with dropout live in the log-prob passes the policy ratio would
            not be 1 before any update (``num_iterations > 1`` or several minibatches).
    """

    def __init__(
        self,
        model_name_or_path: str = "tiny",
        processor_name_or_path: str | None = None,
        dtype: str = "float32",
        freeze_vision: bool = True,
        gradient_checkpointing: bool = False,
        lora: LoraSettings | None = None,
        load_in_4bit: bool = False,
        attn_implementation: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        trust_remote_code: bool = False,
        disable_dropout: bool = True,
    ) -> None:
        if not model_name_or_path:
            raise ValueError("model_name_or_path must not be empty")
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r} is not one of {sorted(DTYPES)}")
        if isinstance(lora, dict):  # plain dicts from Python callers; jsonargparse already gives a LoraSettings
            lora = LoraSettings(**lora)
        if load_in_4bit and lora is None:
            raise ValueError("load_in_4bit=True (QLoRA) needs lora settings: a 4-bit base cannot be fully fine-tuned")
        for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
            if value is not None and value <= 0:
                raise ValueError(f"{key} must be positive, got {value}")
        if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
            raise ValueError(f"min_pixels={min_pixels} exceeds max_pixels={max_pixels}")
        self.model_name_or_path = model_name_or_path
        self.processor_name_or_path = processor_name_or_path
        self.dtype = dtype
        self.freeze_vision = freeze_vision
        self.gradient_checkpointing = gradient_checkpointing
        self.lora = lora
        self.load_in_4bit = load_in_4bit
        self.attn_implementation = attn_implementation
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.trust_remote_code = trust_remote_code
        self.disable_dropout = disable_dropout

    def build(self, need_reference: bool) -> PolicyBundle:
        """Load model and processor, check they match, apply freezing / LoRA / checkpointing, make the reference.

        Args:
            need_reference: Whether the KL term needs a reference model (``beta > 0``).

        Raises:
            ValueError: A path that cannot be loaded (naming ``model_name_or_path`` or ``processor_name_or_path``),
                or a processor that does not fit the model (naming both).
            ImportError: ``load_in_4bit`` without ``bitsandbytes`` installed.
        """
        quantization = self._quantization_config()
        model_path = self._resolve(self.model_name_or_path, "model_name_or_path")
        processor_path = (
            self._resolve(self.processor_name_or_path, "processor_name_or_path")
            if self.processor_name_or_path
            else model_path
        )
        remote = {"trust_remote_code": self.trust_remote_code}
        config = _load("model_name_or_path", model_path, AutoConfig.from_pretrained, **remote)
        processor_key = "processor_name_or_path" if self.processor_name_or_path else "model_name_or_path"
        processor = _load(processor_key, processor_path, AutoProcessor.from_pretrained, **remote)
        _check_match(config, processor, model_path, processor_path)
        self._apply_pixels(processor)

        kwargs: dict[str, Any] = {"dtype": DTYPES[self.dtype], **remote}
        if self.attn_implementation is not None:
            kwargs["attn_implementation"] = self.attn_implementation
        if quantization is not None:
            kwargs["quantization_config"] = quantization
            # 4-bit weights are quantized as they are placed; put them straight on this process's GPU (under DDP
            # Lightning has already set the current device to the local rank when configure_model runs), or on the
            # CPU, where bitsandbytes >= 0.48 runs nf4 layers too.
            kwargs["device_map"] = {"": torch.cuda.current_device() if torch.cuda.is_available() else "cpu"}
        model = _load("model_name_or_path", model_path, AutoModelForImageTextToText.from_pretrained, **kwargs)
        if self.freeze_vision:
            freeze_vision_tower(model)
        if quantization is not None:
            from peft import prepare_model_for_kbit_training

            # Freezes every base weight (LoRA then adds the trainable ones), upcasts the non-4-bit weights to float32
            # for stable updates, and makes the embeddings' output require grad so checkpointing has a graph to redo.
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=self.gradient_checkpointing)
            for module in model.modules():
                # On CPUs with AVX512-BF16, bitsandbytes repacks a 4-bit weight in place for its inference kernel
                # the first time it runs in eval mode (a rollout); that layout then fails in the training backward.
                if hasattr(module, "support_avx512bf16_for_cpu"):
                    module.support_avx512bf16_for_cpu = False
        elif self.gradient_checkpointing:
            # Non-reentrant checkpointing works when the inputs need no grad (frozen embeddings / vision, LoRA).
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.gradient_checkpointing:
            model.config.use_cache = False  # a cache is useless (and warned about) when recomputing
        if self.lora is not None:
            from peft import LoraConfig, get_peft_model

            lora_config = LoraConfig(
                r=self.lora.r,
                lora_alpha=self.lora.alpha,
                lora_dropout=self.lora.dropout,
                target_modules=lora_target_modules(model, self.lora.target_modules),
                bias="none",
            )
            model = get_peft_model(model, lora_config)

        if self.disable_dropout:
            disable_dropout(model)
        reference: AdapterDisabledReference | FrozenReference | None = None
        if need_reference:
            reference = AdapterDisabledReference(model) if self.lora is not None else FrozenReference(model)
        return PolicyBundle(model=model, processor=processor, reference=reference, model_path=model_path)

    def _quantization_config(self) -> Any:
        if not self.load_in_4bit:
            return None
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as err:
            raise ImportError("load_in_4bit=True needs bitsandbytes: pip install modomodo[qlora]") from err
        from transformers import BitsAndBytesConfig

        compute = DTYPES[self.dtype]
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute if isinstance(compute, torch.dtype) else torch.bfloat16,
        )

    @staticmethod
    def _resolve(name: str, key: str) -> str:
        if name in TINY_MODELS:
            return str(ensure_tiny_model(arch=TINY_MODELS[name]))
        expanded = os.path.expanduser(name)
        if os.path.isdir(expanded):
            return expanded
        shipped = PROJECT_ROOT / expanded  # shipped assets (assets/tiny-base) resolve from any working directory
        if not os.path.isabs(expanded) and shipped.is_dir():
            return str(shipped)
        if os.path.exists(expanded):
            raise ValueError(f"{key}={name!r} is a file; expected a model directory or a hub id")
        if not _HUB_ID.fullmatch(name) or ".." in name:
            raise ValueError(f"{key}={name!r}: no such directory, and it is not a valid hub id (owner/name)")
        return name

    def _apply_pixels(self, processor: ProcessorMixin) -> None:
        if self.min_pixels is None and self.max_pixels is None:
            return
        changes = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        changes = {k: v for k, v in changes.items() if v is not None}
        for attr in ("image_processor", "video_processor"):
            sub = getattr(processor, attr, None)
            size = getattr(sub, "size", None)
            # Only Qwen-style dynamic-resolution processors read shortest/longest_edge as pixel *areas*; elsewhere
            # (CLIP, Idefics) they are edge lengths and silently setting them would distort every image.
            if sub is None or not hasattr(sub, "merge_size") or size is None:
                if attr == "image_processor":
                    raise ValueError(f"min_pixels/max_pixels apply only to Qwen-style image processors, not "
                                     f"{type(sub).__name__}; leave them unset")
                continue
            if dataclasses.is_dataclass(size):  # transformers 5 SizeDict
                sub.size = dataclasses.replace(size, **changes)
            else:
                sub.size = {**size, **changes}
            for key, value in (("min_pixels", self.min_pixels), ("max_pixels", self.max_pixels)):
                if value is not None and hasattr(sub, key):  # older transformers read these attributes directly
                    setattr(sub, key, value)


def _load(key: str, path: str, loader: Any, **kwargs: Any) -> Any:
    try:
        return loader(path, **kwargs)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        hint = " (HF_HUB_OFFLINE is set: only local directories and cached hub ids work)" if offline else ""
        raise ValueError(f"{key}={path!r} could not be loaded{hint}: {err}") from err


def _check_match(config: Any, processor: ProcessorMixin, model_path: str, processor_path: str) -> None:
    tokenizer = getattr(processor, "tokenizer", processor)
    vocab = config.get_text_config().vocab_size
    if len(tokenizer) > vocab:
        raise ValueError(
            f"processor at processor_name_or_path={processor_path!r} has {len(tokenizer)} tokens but the model at "
            f"model_name_or_path={model_path!r} embeds only {vocab}: they do not belong together"
        )
    image_token_id = getattr(config, "image_token_id", None)
    image_token = getattr(processor, "image_token", None)
    if image_token_id is not None and image_token is not None:
        found = tokenizer.convert_tokens_to_ids(image_token)
        if found != image_token_id:
            raise ValueError(
                f"the model at model_name_or_path={model_path!r} expects image token id {image_token_id} but the "
                f"processor at processor_name_or_path={processor_path!r} maps {image_token!r} to {found}"
            )
