"""Rollout pieces: repeating processed prompts, completion masks, and what generation may emit."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from datamodules.sample import Sample
from lightning_modules import HFPolicy
from lightning_modules.rollout import (
    GenerationSettings,
    completion_mask,
    generate,
    placeholder_token_ids,
    process_prompts,
    repeat_inputs,
    select_rows,
)


def _sample(name: str, sizes: list[tuple[int, int]], prompt: str) -> Sample:
    images = [Image.new("RGB", size, (30 * i, 100, 200)) for i, size in enumerate(sizes)]
    return Sample(id=name, domain="d", images=images, prompt=prompt, solution="")


@pytest.fixture(scope="module")
def bundle():
    return HFPolicy("tiny").build(need_reference=False)


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    # Rows with one image, two images of different sizes, and one image: blocks of unequal patch counts.
    return [_sample("a", [(56, 56)], "One?"), _sample("b", [(56, 84), (112, 56)], "Two images, longer text?"),
            _sample("c", [(84, 84)], "Three?")]


def test_repeat_inputs_equal_processing_each_repeat(bundle, samples) -> None:
    once = process_prompts(bundle.processor, samples)
    repeated = repeat_inputs(once, samples, 2)
    direct = process_prompts(bundle.processor, [s for s in samples for _ in range(2)])
    assert set(repeated) == set(direct)
    for key in direct:
        assert torch.equal(repeated[key], direct[key]), key


def test_select_rows_gathers_image_blocks_in_order(bundle, samples) -> None:
    inputs = process_prompts(bundle.processor, samples)
    picked = select_rows(inputs, [1, 2, 1], [2, 0, 2])
    direct = process_prompts(bundle.processor, [samples[2], samples[0], samples[2]])
    # Left padding depends on the longest row present, so compare the unpadded ends of each row.
    width = direct["input_ids"].shape[1]
    assert torch.equal(picked["input_ids"][:, -width:], direct["input_ids"])
    assert torch.equal(picked["pixel_values"], direct["pixel_values"])
    assert torch.equal(picked["image_grid_thw"], direct["image_grid_thw"])


@pytest.mark.parametrize(
    "ids,expected_mask,expected_truncated",
    [
        ([[5, 9, 7, 1]], [[1, 1, 1, 1]], [True]),  # no EOS: all tokens count, truncated
        ([[5, 2, 7, 2]], [[1, 1, 0, 0]], [False]),  # EOS (2) counts, everything after it does not
        ([[3, 5, 5, 5]], [[1, 0, 0, 0]], [False]),  # the second EOS id (3) at the first position
        ([[2, 3, 2, 3]], [[1, 0, 0, 0]], [False]),  # only the first EOS matters
    ],
)
def test_completion_mask(ids, expected_mask, expected_truncated) -> None:
    mask, truncated = completion_mask(torch.tensor(ids), [2, 3])
    assert mask.tolist() == expected_mask
    assert truncated.tolist() == expected_truncated


def test_generation_never_emits_placeholders_and_masks_after_eos(bundle, samples) -> None:
    model, processor = bundle.model, bundle.processor
    banned = placeholder_token_ids(model)
    assert model.config.image_token_id in banned
    inputs = repeat_inputs(process_prompts(processor, samples), samples, 2)
    # Make the placeholders the most likely tokens: without suppression, sampling would pick them.
    head = model.get_output_embeddings()
    saved = head.weight.detach().clone()
    with torch.no_grad():
        head.weight[banned] = head.weight[banned] + 50 * head.weight.abs().max()
    try:
        torch.manual_seed(0)
        out = generate(model, processor, inputs, GenerationSettings(max_new_tokens=12, temperature=1.0))
    finally:
        with torch.no_grad():
            head.weight.copy_(saved)
    assert out.ids.shape[0] == 6 and len(out.texts) == 6
    assert not torch.isin(out.ids, torch.tensor(banned)).any()
    pad = processor.tokenizer.pad_token_id
    assert ((out.mask == 1) | (out.ids == pad)).all()  # masked positions hold padding
    assert (out.mask.sum(1) >= 1).all()
    assert model.training is bundle.model.training  # mode restored


def test_generation_is_unchanged_by_shared_image_features(bundle, samples, monkeypatch) -> None:
    import lightning_modules.rollout as rollout

    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, 3)
    greedy = GenerationSettings(max_new_tokens=10, do_sample=False)
    shared = generate(bundle.model, bundle.processor, inputs, greedy)
    monkeypatch.setattr(rollout, "shared_image_features", lambda model, x: dict(x))
    plain = generate(bundle.model, bundle.processor, inputs, greedy)
    assert torch.equal(shared.ids, plain.ids) and shared.texts == plain.texts


@pytest.mark.parametrize("do_sample", [True, False], ids=["sampled", "greedy"])
def test_shared_prefill_generates_the_same_tokens(bundle, samples, do_sample) -> None:
    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, 3)
    per_row = [len(s.images) for s in samples for _ in range(3)]
    settings = GenerationSettings(max_new_tokens=10, do_sample=do_sample)
    runs, shapes = [], []
    hook = bundle.model.get_input_embeddings().register_forward_hook(lambda m, a, o: shapes.append(tuple(a[0].shape)))
    try:
        for images_per_row in (None, per_row):
            shapes.clear()
            torch.manual_seed(3)
            runs.append(generate(bundle.model, bundle.processor, inputs, settings, images_per_row=images_per_row))
    finally:
        hook.remove()
    plain, shared = runs
    assert shapes[:2] == [(3, inputs["input_ids"].shape[1] - 1), (9, 1)]  # 3 distinct prompts prefilled once
    assert torch.equal(shared.ids, plain.ids) and torch.equal(shared.mask, plain.mask)
    assert not shared.ids.is_inference()  # usable by the log-prob passes that record autograd


@pytest.mark.parametrize("do_sample", [False, True])
def test_generation_ignores_the_checkpoints_own_generation_defaults(bundle, samples, do_sample) -> None:
    # Qwen2-VL-2B-Instruct ships repetition_penalty 1.05: applied in rollouts it would sample from a distribution
    # the log-prob passes do not score, and greedy evaluation would not be greedy.
    model, processor = bundle.model, bundle.processor
    settings = GenerationSettings(max_new_tokens=12, do_sample=do_sample)
    inputs = process_prompts(processor, samples)

    def run() -> torch.Tensor:
        torch.manual_seed(0)
        return generate(model, processor, inputs, settings).ids

    plain = run()
    saved = model.generation_config
    model.generation_config = type(saved).from_dict({**saved.to_dict(), "repetition_penalty": 3.0,
                                                     "no_repeat_ngram_size": 1})
    try:
        assert torch.equal(run(), plain)
    finally:
        model.generation_config = saved


def test_select_rows_follows_images_per_row_when_images_and_rows_are_as_many(bundle) -> None:
    # Two rows and two images, but both images belong to the first row: the counts say nothing about which tensor
    # is per image, so image_grid_thw must be gathered by the known images per row (else its rows are swapped).
    two = _sample("two", [(56, 84), (112, 56)], "Two images?")
    text_only = Sample(id="t", domain="d", images=[], prompt="No image here, a longer question.", solution="")
    samples = [text_only, two]
    inputs = process_prompts(bundle.processor, samples)
    assert inputs["image_grid_thw"].shape[0] == len(samples)
    repeated = repeat_inputs(inputs, samples, 2)
    direct = process_prompts(bundle.processor, [s for s in samples for _ in range(2)])
    for key in direct:
        assert torch.equal(repeated[key], direct[key]), key
    with pytest.raises(ValueError, match="images_per_row counts 1 images"):
        select_rows(inputs, [1, 0], [0])


def test_minibatches_are_shuffled_across_groups_and_seeded() -> None:
    from lightning_modules.rollout import Completions
    from lightning_modules.rollout_batch import Rollout

    n = 12
    rollout = Rollout(samples=[None] * n, inputs={}, completions=Completions(torch.zeros(n, 1), torch.ones(n, 1),
                      torch.zeros(n, dtype=torch.bool)), rewards=torch.zeros(n), group_size=4)
    first = rollout.minibatches(4, torch.Generator().manual_seed(0))
    assert sorted(i for part in first for i in part) == list(range(n)) and [len(p) for p in first] == [4, 4, 4]
    assert first != [list(range(i, i + 4)) for i in range(0, n, 4)]  # not the consecutive groups
    assert rollout.minibatches(4, torch.Generator().manual_seed(0)) == first  # the seed fixes the order
    assert rollout.minibatches(4, torch.Generator().manual_seed(1)) != first
    assert rollout.minibatches(5, torch.Generator())[-1].__len__() == 2  # the last minibatch takes the rest
    assert rollout.minibatches(None) == [list(range(n))] == rollout.minibatches(n)  # one minibatch: rows in order
