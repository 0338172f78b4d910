"""A tiny randomly initialised Qwen2-VL / Qwen2.5-VL model with its processor, built offline and cached on disk.

It stands in for ``Qwen/Qwen2-VL-2B-Instruct`` in tests and CPU smoke runs: same architecture, chat format, image
pipeline and special tokens, about a million parameters. Nothing is downloaded. Building is deterministic: the same
settings and seed give byte-identical weight files.

Run ``python -m lightning_modules.tiny_model`` to build (or find) the cached model and print its size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
import transformers
from transformers import (
    GenerationConfig,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from lightning_modules.tiny_tokenizer import build_tiny_tokenizer

#: Bump when the saved layout or the build recipe changes, so stale caches are not reused.
FORMAT_VERSION = 1

#: Written last into a built directory; its presence marks the build complete.
MARKER_FILE = "modomodo_tiny.json"

PATCH_SIZE = 14
MERGE_SIZE = 2

Arch = Literal["qwen2_vl", "qwen2_5_vl"]


@dataclasses.dataclass(frozen=True)
class TinyVLMSettings:
    """Everything that determines the tiny model's files; its hash names the cache directory.

    Args:
        arch: ``"qwen2_vl"`` (Qwen2-VL) or ``"qwen2_5_vl"`` (Qwen2.5-VL, windowed vision attention, RMSNorm, SwiGLU).
        seed: Seed of the random weight initialisation.
        hidden_size: Width of the language model.
        num_layers: Decoder layers of the language model.
        num_heads: Attention heads of the language model (``hidden_size / num_heads`` must be a multiple of 8).
        num_kv_heads: Key/value heads (grouped-query attention); must divide ``num_heads``.
        intermediate_size: MLP width of the language model.
        vision_embed_dim: Width of the vision tower.
        vision_depth: Blocks of the vision tower.
        vision_heads: Attention heads of the vision tower.
        vocab_size: Target BPE vocabulary size (the trained tokenizer may be smaller; the model matches the tokenizer).
        min_pixels: Images smaller than this many pixels are upscaled (``28 * 28 * 4`` = at least 4 image tokens).
        max_pixels: Images larger than this many pixels are downscaled (``112 * 112`` = at most 16 image tokens).
        rope_theta: Base of the language model's rotary (M-RoPE) frequencies. M-RoPE gives the image tokens' width
            position the lowest frequencies of a head; with 4 x 4 image tokens and 32-dim heads at Qwen's 10000 a
            column turns a query by under 0.004 rad, so the language model cannot tell image columns apart. A small
            base (e.g. 4: 0.27-1 rad per step in every section) makes image positions visible to it.
    """

    arch: Arch = "qwen2_vl"
    seed: int = 0
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    vision_embed_dim: int = 64
    vision_depth: int = 1
    vision_heads: int = 2
    vocab_size: int = 1024
    min_pixels: int = 28 * 28 * 4
    max_pixels: int = 112 * 112
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.arch not in ("qwen2_vl", "qwen2_5_vl"):
            raise ValueError(f"arch must be 'qwen2_vl' or 'qwen2_5_vl', got {self.arch!r}")
        for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size",
                     "vision_embed_dim", "vision_depth", "vision_heads", "min_pixels", "max_pixels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        head_dim, rem = divmod(self.hidden_size, self.num_heads)
        if rem or head_dim % 8:
            raise ValueError(f"hidden_size / num_heads must be a multiple of 8 (M-RoPE sections), got "
                             f"hidden_size={self.hidden_size}, num_heads={self.num_heads}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}")
        if self.vision_embed_dim % self.vision_heads or (self.vision_embed_dim // self.vision_heads) % 4:
            raise ValueError(f"vision_embed_dim / vision_heads must be a multiple of 4 (2-D rotary), got "
                             f"vision_embed_dim={self.vision_embed_dim}, vision_heads={self.vision_heads}")
        if not self.rope_theta > 1.0:  # base 1 makes every frequency 1 rad; below 1 they grow with the index
            raise ValueError(f"rope_theta must be > 1, got {self.rope_theta}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels={self.min_pixels} exceeds max_pixels={self.max_pixels}")

    def digest(self) -> str:
        """Short hash of the settings, the format version and the transformers version (it decides the file layout)."""
        settings = dataclasses.asdict(self)
        if settings["rope_theta"] == 10000.0:  # added later: the default keeps the cache names models were built under
            del settings["rope_theta"]
        blob = json.dumps(
            {"settings": settings, "format": FORMAT_VERSION, "transformers": transformers.__version__},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _model_config(
    settings: TinyVLMSettings, tokenizer: transformers.PreTrainedTokenizerBase
) -> transformers.PretrainedConfig:
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    # M-RoPE splits each head's rotary half into temporal / height / width sections; Qwen uses [16, 24, 24] of 64.
    half = settings.hidden_size // settings.num_heads // 2
    mrope = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        num_key_value_heads=settings.num_kv_heads,
        max_position_embeddings=4096,
        max_window_layers=settings.num_layers,
        rope_parameters={"rope_type": "default", "rope_theta": float(settings.rope_theta), "mrope_section": mrope},
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        depth=settings.vision_depth,
        num_heads=settings.vision_heads,
        patch_size=PATCH_SIZE,
        spatial_merge_size=MERGE_SIZE,
        temporal_patch_size=2,
    )
    if settings.arch == "qwen2_vl":
        vision.update(embed_dim=settings.vision_embed_dim, hidden_size=settings.hidden_size, mlp_ratio=2)
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    vision.update(
        hidden_size=settings.vision_embed_dim,
        intermediate_size=2 * settings.vision_embed_dim,
        out_hidden_size=settings.hidden_size,
        window_size=PATCH_SIZE * MERGE_SIZE * 2,  # 2 x 2 merged tokens per window, so windowing is exercised
        fullatt_block_indexes=[settings.vision_depth - 1],
        tokens_per_second=2,
    )
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)


def build_tiny_vlm(path: str | os.PathLike[str], **settings: object) -> Path:
    """Build the tiny model, processor and generation config and save them in Hugging Face format.

    ``AutoModelForImageTextToText.from_pretrained(path)`` and ``AutoProcessor.from_pretrained(path)`` load the result
    offline. A 112 x 112 image becomes 8 x 8 patches of 14 px, merged 2 x 2 into 16 image tokens.

    Args:
        path: Output directory (created; existing files are overwritten).
        **settings: Fields of :class:`TinyVLMSettings` (``arch``, ``seed``, ``hidden_size``, ``num_layers``, ...).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    config_settings = TinyVLMSettings(**settings)  # type: ignore[arg-type]
    out = Path(path)
    tokenizer = build_tiny_tokenizer(vocab_size=config_settings.vocab_size)
    config = _model_config(config_settings, tokenizer)
    model_cls = (Qwen2VLForConditionalGeneration if config_settings.arch == "qwen2_vl"
                 else Qwen2_5_VLForConditionalGeneration)
    with torch.random.fork_rng(devices=[]):  # do not disturb the caller's RNG stream
        torch.manual_seed(config_settings.seed)
        model = model_cls(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    pixels = {"min_pixels": config_settings.min_pixels, "max_pixels": config_settings.max_pixels}
    common = dict(patch_size=PATCH_SIZE, merge_size=MERGE_SIZE, temporal_patch_size=2)
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels, **common),
        video_processor=Qwen2VLVideoProcessor(**pixels, **common),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    marker = {"settings": dataclasses.asdict(config_settings), "format": FORMAT_VERSION,
              "transformers": transformers.__version__, "num_parameters": sum(p.numel() for p in model.parameters())}
    (out / MARKER_FILE).write_text(json.dumps(marker, indent=2, sort_keys=True))
    return out


def default_cache_dir() -> Path:
    """``$MODOMODO_CACHE`` if set, else ``~/.cache/modomodo``."""
    env = os.environ.get("MODOMODO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "modomodo"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Serialises builders so a second process waits instead of building again; correctness does not depend on it
    # (the atomic rename below does), it only saves the duplicate work.
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_tiny_model(cache_dir: str | os.PathLike[str] | None = None, **settings: object) -> Path:
    """Return the cached tiny model directory for these settings, building it first if it is missing.

    The directory is named ``tiny-<arch>-v<FORMAT_VERSION>-<hash of settings>``. The build goes into a temporary
    sibling directory that is renamed into place only when complete, so concurrent callers (threads or processes)
    never see a half-written model.

    Args:
        cache_dir: Parent directory; defaults to :func:`default_cache_dir`.
        **settings: Fields of :class:`TinyVLMSettings`.

    Returns:
        Path of the complete model directory.
    """
    resolved = TinyVLMSettings(**settings)  # type: ignore[arg-type]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"tiny-{resolved.arch}-v{FORMAT_VERSION}-{resolved.digest()}"
    if (final / MARKER_FILE).is_file():
        return final
    with _file_lock(root / f".{final.name}.lock"):
        if (final / MARKER_FILE).is_file():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like any download cache
        try:
            build_tiny_vlm(tmp, **dataclasses.asdict(resolved))
            if final.exists():  # an incomplete leftover (no marker) from a killed build outside the lock
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError:
            if not (final / MARKER_FILE).is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    location = ensure_tiny_model()
    info = json.loads((location / MARKER_FILE).read_text())
    print(f"{location}  params={info['num_parameters']}  ({time.perf_counter() - start:.1f} s)")
