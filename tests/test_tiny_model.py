"""The tiny offline Qwen2-VL stand-in: deterministic build, Auto-class loading, chat template, generation, cache."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may touch the network

from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from lightning_modules.tiny_model import MARKER_FILE, TinyVLMSettings, build_tiny_vlm, ensure_tiny_model  # noqa: E402
from lightning_modules.tiny_tokenizer import FORMAT_SUFFIX, SPECIAL_TOKENS, TAG_TOKENS, build_tiny_tokenizer  # noqa: E402

MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]}]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_model(cache_dir=tmp_path_factory.mktemp("cache"))


def test_build_is_byte_identical_for_the_same_seed(tmp_path: Path, tiny_dir: Path) -> None:
    again = build_tiny_vlm(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert _digest(again / name) == _digest(tiny_dir / name), name
    other = build_tiny_vlm(tmp_path / "other", seed=1)
    assert _digest(other / "model.safetensors") != _digest(tiny_dir / "model.safetensors")
    assert _digest(other / "tokenizer.json") == _digest(tiny_dir / "tokenizer.json")  # the seed is only the weights'


def test_build_leaves_global_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_vlm(tmp_path / "m", num_layers=1)
    assert torch.equal(torch.rand(3), expected)


def test_loads_offline_with_auto_classes_and_generates(tiny_dir: Path) -> None:
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_dir)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert 500_000 < model.num_parameters() < 3_000_000
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert text == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What?<|im_end|>\n<|im_start|>assistant\n"
    )  # no system prompt, Qwen layout
    inputs = processor(text=[text], images=[Image.new("RGB", (112, 112), "red")], return_tensors="pt")
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16  # 8 x 8 patches merged 2 x 2
    assert inputs["image_grid_thw"].tolist() == [[1, 8, 8]]
    prompt_len = inputs["input_ids"].shape[1]
    out = model.generate(**inputs, max_new_tokens=6, do_sample=True, min_new_tokens=6)
    assert out.shape == (1, prompt_len + 6)
    assert isinstance(processor.batch_decode(out[:, prompt_len:])[0], str)


def test_config_ids_match_the_tokenizer(tiny_dir: Path) -> None:
    processor = AutoProcessor.from_pretrained(tiny_dir)
    config = json.loads((tiny_dir / "config.json").read_text())
    tok = processor.tokenizer
    assert config["image_token_id"] == tok.convert_tokens_to_ids("<|image_pad|>") == processor.image_token_id
    assert config["video_token_id"] == tok.convert_tokens_to_ids("<|video_pad|>")
    assert config["vision_start_token_id"] == tok.convert_tokens_to_ids("<|vision_start|>")
    assert config["vision_end_token_id"] == tok.convert_tokens_to_ids("<|vision_end|>")
    assert config["text_config"]["vocab_size"] == len(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.padding_side == "left"


def test_tokenizer_keeps_tags_as_single_visible_tokens() -> None:
    tok = build_tiny_tokenizer()
    assert 600 <= len(tok) <= 2048
    completion = "<think> the red box is left </think><answer>[12, 40, 56, 90]</answer>"
    ids = tok(completion)["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    for tag in TAG_TOKENS:
        assert tokens.count(tag) == 1  # one token each, not split into "<", "think", ">"
    assert [t for t in tokens if t.isdigit()] == list("1240" "5690")  # digits one by one
    # Tags are plain added tokens: they survive skipping special tokens, the control tokens do not.
    assert tok.decode(ids, skip_special_tokens=True) == completion
    assert tok.decode(tok("<|im_start|>hi<|im_end|>")["input_ids"], skip_special_tokens=True) == "hi"
    for special in SPECIAL_TOKENS:
        assert len(tok(special)["input_ids"]) == 1
    round_trip = f"Is the blue cube left of it? A. 3 B. 4.5 {FORMAT_SUFFIX} é ∠ 🙂"
    assert tok.decode(tok(round_trip)["input_ids"]) == round_trip  # byte-level: any text survives


def _ensure_in(cache: str, queue: multiprocessing.Queue) -> None:
    queue.put(str(ensure_tiny_model(cache_dir=cache, num_layers=1)))


def test_ensure_is_cached_and_safe_under_concurrent_builders(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = ctx.Queue()
    workers = [ctx.Process(target=_ensure_in, args=(str(tmp_path), queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    paths = {queue.get(timeout=5) for _ in workers}
    assert len(paths) == 1
    built = Path(paths.pop())
    assert (built / MARKER_FILE).is_file()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []  # no leftovers
    stamp = (built / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(cache_dir=tmp_path, num_layers=1) == built
    assert (built / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    AutoModelForImageTextToText.from_pretrained(built)


def test_cache_name_tracks_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODOMODO_CACHE", str(tmp_path))
    a = TinyVLMSettings()
    assert a.digest() == TinyVLMSettings().digest()
    assert a.digest() != TinyVLMSettings(seed=1).digest()
    assert ensure_tiny_model(num_layers=1).parent == tmp_path
    assert ensure_tiny_model(num_layers=1).name.startswith("tiny-qwen2_vl-v")


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"arch": "llama"}, "arch"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": 100, "num_heads": 4}, "hidden_size"),  # head dim 25 cannot hold M-RoPE sections
        ({"num_kv_heads": 3}, "num_kv_heads"),
        ({"min_pixels": 10_000, "max_pixels": 100}, "min_pixels"),
        ({"rope_theta": 1.0}, "rope_theta"),  # base 1 makes every rotary frequency equal
    ],
)
def test_bad_settings_name_the_field(settings: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        TinyVLMSettings(**settings)


def test_rope_theta_reaches_the_language_model(tmp_path: Path) -> None:
    model = AutoModelForImageTextToText.from_pretrained(build_tiny_vlm(tmp_path / "m", rope_theta=4.0))
    inv_freq = model.model.language_model.rotary_emb.inv_freq
    assert inv_freq.min() > 0.25  # the width section's lowest frequency turns by > 0.25 rad per image column
    assert TinyVLMSettings(rope_theta=4.0).digest() != TinyVLMSettings().digest()
