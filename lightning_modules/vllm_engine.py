"""A vLLM rollout engine colocated with the policy (``pip install -e ".[vllm]"``; on CPU see the README).

The engine runs in the training process (vLLM's in-process mode, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``), on the
policy's device, with its own copy of the weights:

- It loads the policy's checkpoint with the policy's own processor (any ``min_pixels``/``max_pixels`` override
  included) and receives the policy's weights before its first rollout, then again before the first rollout
  after each optimiser step (never otherwise): full weights, or for LoRA the base weights with the adapter merged
  in, through ``reload_weights``, after which its prefix and encoder caches are reset. (vLLM's placeholder
  weights, ``load_format="dummy"``, would also randomise its image normalisation, which no push restores.)
- Prompts are the chat-templated texts with their images as ``multi_modal_data``; the engine's prompt token ids
  are checked against the processor's, so completions condition on exactly what the log-prob passes score.
- Sampling follows :class:`~lightning_modules.rollout.GenerationSettings` (temperature, top-p, top-k, length
  bounds), with the same end-of-sequence tokens and image placeholders suppressed as Hugging Face ``generate``;
  each request's seed is drawn from torch's generator, so ``seed_everything`` makes rollouts reproducible.
- It reports each sampled token's log-probability after temperature (``processed_logprobs``), for the
  truncated importance-sampling correction (``GRPOModule(importance_sampling="token_truncate")``).
- Memory is bounded by ``gpu_memory_utilization`` or an explicit KV-cache size; with ``sleep_between_rollouts``
  the engine frees its KV cache and offloads its weights between rollouts, where the platform supports it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from datamodules.sample import Sample
from lightning_modules.policy import PolicyBundle
from lightning_modules.policy_utils import merged_lora_state_dict
from lightning_modules.rollout import (
    Completions,
    GenerationSettings,
    eos_token_ids,
    finish_completions,
    placeholder_token_ids,
)
from lightning_modules.rollout_engines import RolloutEngine

#: The smallest KV cache the engine is given on CPU when no size is set (vLLM's CPU backend commits it in full).
MIN_CPU_KV_CACHE_BYTES = 64 * 2**20


def _import_vllm() -> Any:
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")  # the trainer's threads stay where they are
    mode = os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if mode not in ("0", "false", "False"):
        raise ValueError("VLLMEngine runs vLLM in the training process: unset VLLM_ENABLE_V1_MULTIPROCESSING "
                         f"(it is {mode!r})")
    try:
        import vllm
    except ImportError as err:
        raise ImportError('VLLMEngine needs vLLM: pip install -e ".[vllm]" (on a CPU-only machine see the README, '
                          '"vLLM rollouts")') from err
    return vllm


class VLLMEngine(RolloutEngine):
    """Rollouts sampled by vLLM, in process and on the policy's device.

    Args:
        gpu_memory_utilization: share of the GPU vLLM may take for its weights and KV cache (GPU only; the
            policy's training needs the rest).
        kv_cache_memory_bytes: KV-cache size in bytes; overrides ``gpu_memory_utilization``. On CPU, where vLLM
            commits the cache in full, None gives room for 4 sequences of ``max_model_len`` tokens (64 MiB at least).
        max_model_len: longest prompt + completion in tokens the engine accepts.
        max_images_per_prompt: images a prompt may carry (vLLM's ``limit_mm_per_prompt``).
        sleep_between_rollouts: free the KV cache and offload the weights between rollouts (vLLM's sleep mode;
            CUDA and ROCm only).
        enforce_eager: run without CUDA graphs (start-up in seconds; graphs pay off for long completions).
        llm_kwargs: further ``vllm.LLM`` arguments, e.g. ``{enable_prefix_caching: true}``.
    """

    reports_logprobs = True

    def __init__(
        self,
        gpu_memory_utilization: float = 0.3,
        kv_cache_memory_bytes: int | None = None,
        max_model_len: int = 4096,
        max_images_per_prompt: int = 1,
        sleep_between_rollouts: bool = False,
        enforce_eager: bool = True,
        llm_kwargs: dict[str, Any] | None = None,
    ) -> None:
        checks = {
            "gpu_memory_utilization": (gpu_memory_utilization, 0 < gpu_memory_utilization <= 1),
            "kv_cache_memory_bytes": (kv_cache_memory_bytes,
                                      kv_cache_memory_bytes is None or kv_cache_memory_bytes > 0),
            "max_model_len": (max_model_len, max_model_len >= 2),
            "max_images_per_prompt": (max_images_per_prompt, max_images_per_prompt >= 0),
        }
        bad = {k: v for k, (v, ok) in checks.items() if not ok}
        if bad:
            raise ValueError("invalid VLLMEngine option(s): " + ", ".join(f"{k}={v!r}" for k, v in bad.items()))
        self.gpu_memory_utilization = gpu_memory_utilization
        self.kv_cache_memory_bytes = kv_cache_memory_bytes
        self.max_model_len = max_model_len
        self.max_images_per_prompt = max_images_per_prompt
        self.sleep_between_rollouts = sleep_between_rollouts
        self.enforce_eager = enforce_eager
        self.llm_kwargs = dict(llm_kwargs or {})
        self.llm: Any = None
        self.pushes = 0  # weight pushes so far (the policy's weights copied into the engine)
        self._bundle: PolicyBundle | None = None
        self._stale = True
        self._asleep = False
        self._config_dir: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ setup
    def bind(self, bundle: PolicyBundle) -> None:
        base = bundle.model.get_base_model() if bundle.is_lora else bundle.model
        if getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False):
            raise ValueError("VLLMEngine cannot serve a quantized (load_in_4bit) policy: its merged weights would be "
                             "re-quantized lossily every step; use rollout_engine HFGenerate with QLoRA")
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            raise ValueError("VLLMEngine runs one engine in one training process; with several processes "
                             "(trainer.devices > 1) use rollout_engine HFGenerate")
        self._bundle = bundle
        self._stale = True

    def _kv_cache_bytes(self, model: nn.Module, device: torch.device) -> int | None:
        if self.kv_cache_memory_bytes is not None or device.type != "cpu":
            return self.kv_cache_memory_bytes
        text = model.config.get_text_config()
        heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        element = next(model.parameters()).element_size()
        per_token = 2 * text.num_hidden_layers * heads * head_dim * element
        return max(MIN_CPU_KV_CACHE_BYTES, 4 * self.max_model_len * per_token)

    def _start(self, model: nn.Module, processor: Any, device: torch.device) -> Any:
        vllm = _import_vllm()
        if self.sleep_between_rollouts:
            from vllm.platforms import current_platform

            if not current_platform.is_sleep_mode_available():
                raise ValueError(f"sleep_between_rollouts=True: vLLM's sleep mode is not available on "
                                 f"{current_platform.device_type}; set it to false")
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        dtype = next(base.parameters()).dtype
        kwargs: dict[str, Any] = dict(
            model=self._model_dir(processor), dtype=str(dtype).removeprefix("torch."),
            enforce_eager=self.enforce_eager, max_model_len=self.max_model_len,
            limit_mm_per_prompt={"image": self.max_images_per_prompt, "video": 0},
            logprobs_mode="processed_logprobs", enable_sleep_mode=self.sleep_between_rollouts,
            gpu_memory_utilization=self.gpu_memory_utilization,
            kv_cache_memory_bytes=self._kv_cache_bytes(base, device), seed=0,
        )
        kwargs.update(self.llm_kwargs)
        threads, set_threads = torch.get_num_threads(), torch.set_num_threads
        try:
            llm = vllm.LLM(**kwargs)
        finally:
            # vLLM's CPU worker replaces torch.set_num_threads by a no-op for the whole process; in-process, that
            # would be the trainer's process: put the function and the thread count back.
            torch.set_num_threads = set_threads
            torch.set_num_threads(threads)
        return llm

    def _model_dir(self, processor: Any) -> str:
        """A directory with the checkpoint's files (links) and the policy's processor as configured."""
        source = Path(self._bundle.model_path)
        if not source.is_dir():  # a hub id: the cached snapshot (downloaded first unless HF_HUB_OFFLINE)
            from huggingface_hub import snapshot_download

            source = Path(snapshot_download(self._bundle.model_path))
        self._config_dir = tempfile.TemporaryDirectory(prefix="modomodo-vllm-")
        target = Path(self._config_dir.name)
        for item in source.iterdir():
            (target / item.name).symlink_to(item.resolve())
        processor_files = {f.name for f in target.iterdir()
                           if "token" in f.name or "processor" in f.name or "chat_template" in f.name
                           or f.name in ("preprocessor_config.json", "vocab.json", "merges.txt")}
        for name in processor_files:
            (target / name).unlink()
        processor.save_pretrained(target)
        return str(target)

    # --------------------------------------------------------------- weights
    def policy_updated(self) -> None:
        self._stale = True

    def _weights(self, model: nn.Module) -> dict[str, Tensor]:
        if hasattr(model, "disable_adapter"):  # a PEFT model: the base weights with the adapter merged in
            return merged_lora_state_dict(model)
        return {k: v.detach() for k, v in model.state_dict().items()}

    def _push(self, model: nn.Module) -> None:
        with torch.no_grad():
            weights = list(self._weights(model).items())
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        # Cached prefixes and image encodings were computed with the old weights.
        self.llm.reset_prefix_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.pushes += 1
        self._stale = False

    # ------------------------------------------------------------ generation
    def _sampling_params(self, model: nn.Module, settings: GenerationSettings, group_size: int,
                         eos: list[int]) -> Any:
        """One request's sampling parameters, with its own seed (drawn from torch's generator)."""
        from vllm import SamplingParams

        suppressed = placeholder_token_ids(getattr(model, "base_model", model))
        sample = settings.do_sample
        return SamplingParams(
            n=group_size if sample else 1, max_tokens=settings.max_new_tokens, min_tokens=settings.min_new_tokens,
            temperature=settings.temperature if sample else 0.0, top_p=settings.top_p if sample else 1.0,
            top_k=settings.top_k if sample else 0, stop_token_ids=eos, logprobs=0,
            logit_bias={t: -float("inf") for t in suppressed} or None, skip_special_tokens=True,
            seed=int(torch.randint(0, 2**31 - 1, (1,)).item()) if sample else None,
        )

    def generate(self, model: nn.Module, processor: Any, samples: Sequence[Sample], inputs: dict[str, Tensor],
                 settings: GenerationSettings, group_size: int,
                 images_per_row: Sequence[int] | None = None) -> Completions:
        if self._bundle is None:
            raise RuntimeError("VLLMEngine.bind(bundle) must run before generate (GRPOModule does it)")
        device = inputs["input_ids"].device
        if self.llm is None:
            self.llm = self._start(model, processor, device)
        if self._asleep:
            self.llm.wake_up()
            self._asleep = False
        if self._stale:
            self._push(model)
        tokenizer = getattr(processor, "tokenizer", processor)
        eos = eos_token_ids(model, processor)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        requests = []
        for s in samples:
            text = processor.apply_chat_template(s.messages(), add_generation_prompt=True, tokenize=False)
            requests.append({"prompt": text, "multi_modal_data": {"image": list(s.images)}} if s.images else
                            {"prompt": text})
        params = [self._sampling_params(model, settings, group_size, eos) for _ in requests]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        self._check_prompts(outputs, inputs, group_size)
        # A greedy request is decoded once (vLLM refuses n > 1 without sampling); its G rows are that completion.
        copies = 1 if settings.do_sample else group_size
        rows = [c for out in outputs for c in sorted(out.outputs, key=lambda c: c.index) for _ in range(copies)]
        width = max(1, max(len(c.token_ids) for c in rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        logprobs = torch.zeros(len(rows), width)
        for r, c in enumerate(rows):
            ids[r, : len(c.token_ids)] = torch.as_tensor(list(c.token_ids), dtype=torch.long)
            if c.logprobs:
                logprobs[r, : len(c.token_ids)] = torch.as_tensor(
                    [step[t].logprob for step, t in zip(c.logprobs, c.token_ids, strict=False)])
        if self.sleep_between_rollouts:
            self.llm.sleep(level=1)
            self._asleep = True
        done = finish_completions(ids, tokenizer, eos, pad, logprobs=logprobs)
        return Completions(ids=done.ids.to(device), mask=done.mask.to(device), truncated=done.truncated.to(device),
                           texts=done.texts, logprobs=done.logprobs.to(device))

    @staticmethod
    def _check_prompts(outputs: Sequence[Any], inputs: dict[str, Tensor], group_size: int) -> None:
        """The engine's prompt tokens must be the processor's (same chat template, same image token counts)."""
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        for p, out in enumerate(outputs):
            row = p * group_size
            ours = ids[row][mask[row].bool()].tolist()
            if list(out.prompt_token_ids) != ours:
                raise ValueError(f"vLLM tokenized prompt {p} into {len(out.prompt_token_ids)} tokens, the policy's "
                                 f"processor into {len(ours)}: their image processing or chat template differ")
