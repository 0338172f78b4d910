"""Completion-only log-probs and shared image features equal the straightforward computations."""

from __future__ import annotations

import pytest
import torch

from datamodules.sample import Sample
from lightning_modules import HFPolicy
from lightning_modules.image_features import distinct_images, shared_image_features
from lightning_modules.logprobs import completion_logprobs
from lightning_modules.rollout import process_prompts, repeat_inputs
from toys import two_prompts


def _samples() -> list[Sample]:
    return two_prompts()


@pytest.fixture(scope="module")
def bundle():
    torch.manual_seed(0)
    return HFPolicy("tiny", freeze_vision=False).build(need_reference=False)


@pytest.fixture(scope="module")
def rollout_inputs(bundle):
    samples = _samples()
    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, 3)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(10, 200, (6, 5), generator=g)
    mask = torch.ones(6, 5, dtype=torch.long)
    mask[1, 3:] = 0  # a completion that ended early (right padding)
    return inputs, ids, mask


def full_logits_logprobs(model, inputs, ids, mask, temperature=1.0):
    """The textbook computation: full N x T x V logits, log-softmax, gather the completion's tokens."""
    full = dict(inputs)
    full["input_ids"] = torch.cat([inputs["input_ids"], ids], 1)
    full["attention_mask"] = torch.cat([inputs["attention_mask"], mask], 1)
    full["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(ids)], 1)
    logits = model(**full, use_cache=False).logits.float() / temperature
    logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, full["input_ids"][:, 1:, None]).squeeze(-1)
    return logp[:, -ids.shape[1]:]


@pytest.mark.parametrize("temperature,chunk", [(1.0, 8), (0.7, 4), (1.3, 1)])
def test_completion_logprobs_match_full_logits(bundle, rollout_inputs, temperature, chunk) -> None:
    inputs, ids, mask = rollout_inputs
    model = bundle.model.eval()
    with torch.no_grad():
        expected = full_logits_logprobs(model, inputs, ids, mask, temperature)
        got, entropy = completion_logprobs(model, inputs, ids, mask, temperature=temperature, with_entropy=True,
                                           chunk_size=chunk)
    assert got.shape == ids.shape and entropy.shape == ids.shape
    real = mask.bool()
    assert torch.allclose(got[real], expected[real], atol=1e-5)
    assert (entropy[real] >= 0).all()


def test_shared_image_features_encode_each_image_once_with_exact_gradients(bundle, rollout_inputs) -> None:
    inputs, ids, mask = rollout_inputs
    model = bundle.model.eval()
    calls: list[int] = []
    real_encode = model.get_image_features

    def counting(pixel_values, image_grid_thw, **kw):
        calls.append(int(image_grid_thw.shape[0]))
        return real_encode(pixel_values, image_grid_thw, **kw)

    model.get_image_features = counting
    try:
        shared = shared_image_features(model, inputs)
    finally:
        del model.get_image_features
    assert calls == [2]  # 6 rows, 2 distinct images
    assert "pixel_values" not in shared and len(shared["mm_encoder_outputs"]["image"].pooler_output) == 6

    vision = [p for n, p in model.named_parameters() if "visual" in n]
    grads = []
    for share in (False, True):
        model.zero_grad()
        if share:
            logp, _ = completion_logprobs(model, inputs, ids, mask)
        else:
            logp = full_logits_logprobs(model, inputs, ids, mask)
        (logp * mask).sum().backward()
        grads.append([p.grad.clone() for p in vision])
    for plain, shared_grad in zip(*grads, strict=False):
        assert torch.allclose(plain, shared_grad, atol=1e-5, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads[1])  # the vision tower did receive gradient


def test_distinct_images_finds_repeats_in_any_order() -> None:
    a, b, c = torch.zeros(4, 3), torch.ones(4, 3), torch.zeros(8, 3)
    assert distinct_images([a, a, b, b, a, c]) == ([0, 2, 5], [0, 0, 1, 1, 0, 2])


def test_inputs_without_images_pass_through(bundle) -> None:
    text_only = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    assert shared_image_features(bundle.model, text_only) == text_only


# ---------------------------------------------------------------- shared prompt prefix (KV cache per group)

def _embedded_shapes(model) -> tuple[list[tuple[int, ...]], object]:
    """Record the shape of every batch the language model embeds (what it actually runs on)."""
    shapes: list[tuple[int, ...]] = []
    handle = model.get_input_embeddings().register_forward_hook(lambda m, a, out: shapes.append(tuple(a[0].shape)))
    return shapes, handle


def _logprobs_and_grads(model, inputs, ids, mask, images_per_row):
    model.zero_grad()
    logp, entropy = completion_logprobs(model, inputs, ids, mask, temperature=0.8, with_entropy=True,
                                        images_per_row=images_per_row)
    (logp * mask).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logp.detach(), entropy, grads


@pytest.mark.parametrize("arch", ["tiny", "tiny-qwen2.5-vl"])
def test_shared_prefix_matches_the_full_pass_with_exact_gradients(arch) -> None:
    # In float64: the two orders of summation differ by float32 rounding (a gradient element 2.9e-6 apart was
    # seen), which says nothing about whether the shared pass computes the same function.
    torch.manual_seed(0)
    bundle = HFPolicy(arch, freeze_vision=False).build(need_reference=False)
    bundle.model.double()
    samples = _samples()
    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, 3)
    inputs["pixel_values"] = inputs["pixel_values"].double()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(10, 200, (6, 5), generator=g)
    mask = torch.ones(6, 5, dtype=torch.long)
    mask[1, 3:] = 0
    model = bundle.model.train()
    plain = _logprobs_and_grads(model, inputs, ids, mask, None)
    shapes, handle = _embedded_shapes(model)
    try:
        shared = _logprobs_and_grads(model, inputs, ids, mask, [1] * 6)
    finally:
        handle.remove()
    p = inputs["input_ids"].shape[1]
    assert shapes == [(2, p - 1), (6, 5)]  # each distinct prompt once, then only the completions per row
    real = mask.bool()
    assert torch.allclose(shared[0][real], plain[0][real], atol=1e-6)
    assert torch.allclose(shared[1][real], plain[1][real], atol=1e-6)
    assert plain[2].keys() == shared[2].keys() and any(".visual." in n or "visual." in n for n in shared[2])
    # Qwen2-VL's norms and rotary embedding still compute in float32 inside a float64 model: 5e-8 of each
    # gradient's largest element is what that leaves; a wrong gather or position would be of order 1.
    for name, grad in plain[2].items():
        assert (shared[2][name] - grad).abs().max() <= 1e-6 * grad.abs().max() + 1e-12, name


@pytest.mark.parametrize("lora", [False, True], ids=["frozen-copy", "adapter-disabled"])
def test_shared_prefix_serves_the_reference(lora) -> None:
    from lightning_modules import LoraSettings

    torch.manual_seed(0)
    bundle = HFPolicy("tiny", lora=LoraSettings(r=4, dropout=0.0) if lora else None).build(need_reference=True)
    samples = _samples()
    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, 2)
    ids = torch.randint(10, 200, (4, 6), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(4, 6, dtype=torch.long)
    with torch.no_grad():
        for param in bundle.model.parameters():  # policy and reference must differ for the test to mean anything
            param.add_(0.05 * torch.randn_like(param)) if param.requires_grad else None
        ref_plain = completion_logprobs(bundle.reference, inputs, ids, mask)[0]
        ref_shared = completion_logprobs(bundle.reference, inputs, ids, mask, images_per_row=[1] * 4)[0]
        policy = completion_logprobs(bundle.model, inputs, ids, mask, images_per_row=[1] * 4)[0]
    assert torch.allclose(ref_shared, ref_plain, atol=1e-5)
    assert not torch.allclose(policy, ref_shared, atol=1e-3)


def test_prompt_groups_compare_tokens_and_pixels() -> None:
    from lightning_modules.shared_prefix import prompt_groups

    ids = torch.tensor([[0, 5, 6], [0, 5, 6], [0, 5, 6], [7, 5, 6]])
    inputs = {"input_ids": ids, "attention_mask": (ids > 0).long(),
              "pixel_values": torch.cat([torch.zeros(4, 2), torch.zeros(4, 2), torch.ones(4, 2), torch.ones(4, 2)]),
              "image_grid_thw": torch.tensor([[1, 2, 2]] * 4)}
    groups = prompt_groups(inputs, [1, 1, 1, 1])
    assert groups.firsts == [0, 2, 3] and groups.which.tolist() == [0, 0, 1, 2]  # same text, other image: distinct
    assert groups.shares
    with pytest.raises(ValueError, match="images_per_row has 3 entries for 4 rows"):
        prompt_groups(inputs, [1, 1, 2])
    with pytest.raises(ValueError, match="counts 5 images"):
        prompt_groups(inputs, [1, 1, 1, 2])


def test_checkpointed_training_takes_the_plain_path(bundle, rollout_inputs) -> None:
    from lightning_modules.shared_prefix import can_share

    inputs, ids, mask = rollout_inputs
    model = bundle.model
    assert can_share(model, inputs)
    if hasattr(model, "activation_checkpointing_enable"):  # the transformers >= 5 name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        assert not can_share(model, inputs)  # no KV cache under checkpointing
        with torch.no_grad():
            assert can_share(model, inputs)  # generation and no-grad passes still share
    finally:
        getattr(model, "activation_checkpointing_disable", model.gradient_checkpointing_disable)()
