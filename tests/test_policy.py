"""HFPolicy loading (full / LoRA, Qwen2-VL / Qwen2.5-VL), the KL reference, saving, and bad-input errors."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may touch the network

from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from lightning_modules.policy import HFPolicy, LoraSettings, PolicyBundle  # noqa: E402
from lightning_modules.policy_utils import (  # noqa: E402
    AdapterDisabledReference,
    FrozenReference,
    find_vision_tower,
    save_policy,
)

ARCHS = ["tiny", "tiny-qwen2.5-vl"]


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODOMODO_CACHE", str(tmp_path_factory.mktemp("modomodo_cache")))
        yield


def _inputs(bundle: PolicyBundle) -> dict[str, torch.Tensor]:
    processor = bundle.processor
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is the red box?"}]}],
        add_generation_prompt=True,
    )
    images = [Image.new("RGB", (112, 112), "red"), Image.new("RGB", (140, 84), "blue")]
    return dict(processor(text=[text, text + " ok"], images=images, padding=True, return_tensors="pt"))


def _storages(module: torch.nn.Module) -> set[int]:
    return {p.untyped_storage().data_ptr() for p in module.parameters()}


def _perturb_lora(model: torch.nn.Module) -> None:
    # lora_B starts at zero, which would make "adapter on" and "adapter off" trivially equal.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


@pytest.mark.parametrize("name", ARCHS)
def test_full_finetune_reference_is_frozen_and_separate(name: str) -> None:
    bundle = HFPolicy(name).build(need_reference=True)
    model, reference = bundle.model, bundle.reference
    assert isinstance(reference, FrozenReference) and not bundle.is_lora
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = {p.untyped_storage().data_ptr() for p in model.parameters() if not p.requires_grad}
    assert {p.untyped_storage().data_ptr() for p in trainable}.isdisjoint(_storages(reference))
    # weights the policy never trains (the vision tower) are the policy's own tensors, not a second copy
    assert frozen and frozen <= _storages(reference)
    assert not any(p.requires_grad for p in reference.parameters())
    reference.train()  # as Lightning does with the whole LightningModule
    assert not reference.training and not reference.model.training
    inputs = _inputs(bundle)
    before = reference(**inputs).logits
    assert torch.equal(before, model(**inputs).logits)
    with torch.no_grad():
        for param in trainable:
            param.add_(0.01)
    assert torch.equal(reference(**inputs).logits, before)  # updates to the policy do not reach the reference


@pytest.mark.parametrize("name", ARCHS)
def test_lora_reference_is_the_base_model_without_a_copy(name: str) -> None:
    bundle = HFPolicy(name, lora=LoraSettings(r=4, dropout=0.0)).build(need_reference=True)
    model, reference = bundle.model, bundle.reference
    assert isinstance(reference, AdapterDisabledReference) and bundle.is_lora
    assert not isinstance(reference, torch.nn.Module)  # would register the weights a second time
    assert reference.model is model
    _perturb_lora(model)
    inputs = _inputs(bundle)
    base = AutoModelForImageTextToText.from_pretrained(bundle.model_path).eval()
    expected = base(**inputs).logits
    got = reference(**inputs).logits
    assert not got.requires_grad
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(model(**inputs).logits, expected, atol=1e-3)  # the adapter does act when enabled
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert sum(p.numel() for p in model.parameters()) == base.num_parameters() + lora  # one copy of the base
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


@pytest.mark.parametrize("name", ARCHS)
def test_lora_stays_out_of_the_vision_tower(name: str) -> None:
    model = HFPolicy(name, lora=LoraSettings(r=2)).build(need_reference=False).model
    tower = find_vision_tower(model)
    assert tower is not None
    assert not any("lora_" in n for n, _ in tower.named_parameters())
    assert any("lora_" in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("freeze", [True, False])
def test_vision_tower_frozen_only_when_asked(freeze: bool) -> None:
    bundle = HFPolicy("tiny", freeze_vision=freeze).build(need_reference=False)
    assert bundle.reference is None
    tower = find_vision_tower(bundle.model)
    assert all(p.requires_grad != freeze for p in tower.parameters())
    tower_ids = {id(p) for p in tower.parameters()}
    assert all(p.requires_grad for p in bundle.model.parameters() if id(p) not in tower_ids)


def test_gradient_checkpointing_with_lora_trains_the_adapter() -> None:
    bundle = HFPolicy("tiny", lora=LoraSettings(r=2), gradient_checkpointing=True).build(need_reference=False)
    model = bundle.model.train()
    inputs = _inputs(bundle)
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    # lora_B starts at zero, so only its gradient is non-zero on the first step.
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_pixel_overrides_bound_image_tokens() -> None:
    bundle = HFPolicy("tiny", max_pixels=56 * 56, min_pixels=28 * 28).build(need_reference=False)
    inputs = _inputs(bundle)
    # 112 x 112 downsized to 56 x 56: 4 x 4 patches merged 2 x 2 = 4 image tokens per image.
    assert inputs["image_grid_thw"].tolist()[0] == [1, 4, 4]


def test_save_reload_full_model_gives_identical_logits(tmp_path: Path) -> None:
    bundle = HFPolicy("tiny-qwen2.5-vl").build(need_reference=False)
    bundle.model.eval()
    inputs = _inputs(bundle)
    save_policy(bundle.model, bundle.processor, tmp_path)
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(**inputs).logits, bundle.model(**inputs).logits)
    assert len(AutoProcessor.from_pretrained(tmp_path).tokenizer) == len(bundle.processor.tokenizer)


def test_save_reload_lora_merged(tmp_path: Path) -> None:
    bundle = HFPolicy("tiny", lora=LoraSettings(r=4, dropout=0.0)).build(need_reference=False)
    _perturb_lora(bundle.model)
    inputs = _inputs(bundle)
    expected = bundle.model(**inputs).logits
    save_policy(bundle.model, bundle.processor, tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert not any("lora" in n for n, _ in reloaded.named_parameters())
    torch.testing.assert_close(reloaded(**inputs).logits, expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(bundle.model(**inputs).logits, expected, rtol=0, atol=0)  # training model untouched


# One bad input per row, with the key the error must name.
@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"dtype": "float8"}, "dtype"),  # unknown dtype name
        ({"lora": {"r": 0}}, "lora.r"),  # rank must be positive
        ({"lora": {"dropout": 1.0}}, "lora.dropout"),  # dropout outside [0, 1)
        ({"load_in_4bit": True}, "load_in_4bit"),  # QLoRA without LoRA
        ({"max_pixels": 0}, "max_pixels"),  # non-positive pixel bound
        ({"model_name_or_path": ""}, "model_name_or_path"),  # empty name
    ],
)
def test_bad_options_fail_at_init_naming_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        HFPolicy(**kwargs)


def test_qlora_loads_a_4bit_base_and_trains_only_the_adapter() -> None:
    pytest.importorskip("bitsandbytes", reason='QLoRA needs bitsandbytes (pip install -e ".[qlora]")')
    import bitsandbytes as bnb

    bundle = HFPolicy("tiny", lora=LoraSettings(r=4, dropout=0.0), load_in_4bit=True).build(need_reference=True)
    model, reference = bundle.model, bundle.reference
    four_bit = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any("language_model" in n and n.endswith("q_proj.base_layer") for n in four_bit)  # nf4 linears
    assert isinstance(reference, AdapterDisabledReference) and reference.model is model
    _perturb_lora(model)
    inputs = _inputs(bundle)
    model.train()(**inputs, labels=inputs["input_ids"]).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert (grads and all("lora_" in n for n in grads)
            and all(g is not None and g.abs().sum() > 0 for g in grads.values()))
    with torch.no_grad():
        assert not torch.allclose(reference(**inputs).logits, model(**inputs).logits, atol=1e-3)


@pytest.mark.parametrize(
    "name",
    [
        "/definitely/not/a/model/dir",  # an absolute path that does not exist
        "./missing_model_dir/",  # a relative path that does not exist
        "nobody-owner/no-such-model-xyz",  # a hub id that is not cached, offline
    ],
)
def test_missing_model_names_model_name_or_path(name: str) -> None:
    with pytest.raises(ValueError, match="model_name_or_path"):
        HFPolicy(name).build(need_reference=False)


def test_processor_with_more_tokens_than_the_model_names_both_paths(tmp_path: Path) -> None:
    model_dir = Path(HFPolicy._resolve("tiny", "model_name_or_path"))
    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.add_tokens([f"<extra_{i}>" for i in range(10)])
    processor.save_pretrained(tmp_path / "processor")
    with pytest.raises(ValueError, match="processor_name_or_path.*model_name_or_path"):
        HFPolicy(str(model_dir), processor_name_or_path=str(tmp_path / "processor")).build(need_reference=False)


def test_image_token_id_mismatch_names_both_paths(tmp_path: Path) -> None:
    model_dir = Path(HFPolicy._resolve("tiny", "model_name_or_path"))
    shutil.copytree(model_dir, tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["image_token_id"] = config["video_token_id"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model_name_or_path.*processor_name_or_path"):
        HFPolicy(str(tmp_path / "model")).build(need_reference=False)


def test_yaml_style_parsing_builds_lora_settings() -> None:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_class_arguments(HFPolicy, "policy")
    cfg = parser.parse_args(["--policy.model_name_or_path=tiny", "--policy.lora.r=4", "--policy.dtype=bfloat16"])
    policy = parser.instantiate_classes(cfg).policy
    assert isinstance(policy.lora, LoraSettings) and policy.lora.r == 4 and policy.dtype == "bfloat16"
    with pytest.raises((SystemExit, ValueError)):
        parser.instantiate_classes(parser.parse_args(["--policy.dtype=float8"]))


@pytest.mark.parametrize("disable", [True, False])
def test_dropout_is_off_by_default_in_training_mode(disable: bool) -> None:
    # Rollouts run in eval mode; live dropout in the log-prob passes would make the ratio differ from 1 before any
    # update. LoRA's dropout is the one a default policy has.
    torch.manual_seed(0)
    bundle = HFPolicy("tiny", lora=LoraSettings(r=4, dropout=0.5), disable_dropout=disable).build(need_reference=False)
    _perturb_lora(bundle.model)  # lora_B = 0 would hide any dropout on the adapter's input
    model = bundle.model.train()
    inputs = _inputs(bundle)
    with torch.no_grad():
        first, second, evaluated = model(**inputs).logits, model(**inputs).logits, model.eval()(**inputs).logits
    assert torch.equal(first, second) is disable
    assert torch.equal(first, evaluated) is disable
