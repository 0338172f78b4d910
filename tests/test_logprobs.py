"""Completion-only log-probs and shared image features equal the straightforward computations."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from datamodules.sample import Sample
from lightning_modules import HFPolicy
from lightning_modules.logprobs import _distinct_images, completion_logprobs, shared_image_features
from lightning_modules.rollout import process_prompts, repeat_inputs


def _samples() -> list[Sample]:
    # Two prompts of different lengths (left padding matters) and different image sizes.
    return [
        Sample(id="a", domain="d", images=[Image.new("RGB", (56, 56), (200, 10, 10))], prompt="Colour?", solution=""),
        Sample(id="b", domain="d", images=[Image.new("RGB", (84, 56), (10, 10, 200))],
               prompt="What shape is shown in this longer question?", solution=""),
    ]


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
    for plain, shared_grad in zip(*grads):
        assert torch.allclose(plain, shared_grad, atol=1e-5, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads[1])  # the vision tower did receive gradient


def test_distinct_images_finds_repeats_in_any_order() -> None:
    a, b, c = torch.zeros(4, 3), torch.ones(4, 3), torch.zeros(8, 3)
    assert _distinct_images([a, a, b, b, a, c]) == ([0, 2, 5], [0, 0, 1, 1, 0, 2])


def test_inputs_without_images_pass_through(bundle) -> None:
    text_only = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    assert shared_image_features(bundle.model, text_only) == text_only
