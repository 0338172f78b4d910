"""The vLLM rollout engine on CPU: same prompts and probabilities as the policy, weights that follow its updates.

One in-process engine serves the whole file (vLLM takes ~10 s to import and a few to start); skipped only when
vLLM is not installed (``pip install -e ".[vllm]"``, on CPU as ``.ci/run`` does).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm", reason='vLLM is not installed (pip install -e ".[vllm]"; on CPU see .ci/run)')

from datamodules.sample import Sample  # noqa: E402
from lightning_modules import GenerationSettings, HFPolicy, LoraSettings, VLLMEngine  # noqa: E402
from lightning_modules.logprobs import _full_logits, completion_logprobs, hidden_states_of  # noqa: E402
from lightning_modules.rollout import placeholder_token_ids, process_prompts, repeat_inputs  # noqa: E402
from toys import two_prompts  # noqa: E402

G = 3


def _samples() -> list[Sample]:
    return two_prompts()


@pytest.fixture(scope="module")
def engine_and_bundle():
    torch.manual_seed(0)
    bundle = HFPolicy("tiny").build(need_reference=False)
    engine = VLLMEngine()
    engine.bind(bundle)
    return engine, bundle


def _rollout(engine, bundle, settings=None):
    samples = _samples()
    inputs = repeat_inputs(process_prompts(bundle.processor, samples), samples, G)
    out = engine.generate(bundle.model, bundle.processor, samples, inputs,
                          settings or GenerationSettings(max_new_tokens=10), G)
    return inputs, out


def _policy_logprobs(bundle, inputs, out):
    """The policy's log-probs of the engine's tokens: as the trainer computes them, and with the image placeholder
    tokens (which both samplers suppress) removed from the normaliser, which is what the engine reports."""
    model = bundle.model.eval()
    banned = placeholder_token_ids(getattr(model, "base_model", model))
    try:
        with torch.no_grad():
            plain, _ = completion_logprobs(model, inputs, out.ids, out.mask)
            with hidden_states_of(model) as head:
                hidden = _full_logits(model, inputs, out.ids, out.mask)
            logits = head(hidden).float()
    finally:
        model.train()
    logits[..., banned] = float("-inf")
    return plain, torch.log_softmax(logits, -1).gather(-1, out.ids.unsqueeze(-1)).squeeze(-1)


def test_engine_samples_what_the_policy_scores(engine_and_bundle) -> None:
    engine, bundle = engine_and_bundle
    inputs, out = _rollout(engine, bundle)
    assert out.ids.shape[0] == len(_samples()) * G and len(out.texts) == out.ids.shape[0]
    assert ((out.mask == 1) | (out.ids == bundle.processor.tokenizer.pad_token_id)).all()
    assert not torch.isin(out.ids[out.mask.bool()], torch.tensor(placeholder_token_ids(bundle.model))).any()
    plain, exact = _policy_logprobs(bundle, inputs, out)
    real = out.mask.bool()
    # The engine's log-probs are the policy's (float32 kernels of two libraries: 1e-4), and differ from the
    # unsuppressed ones only by the placeholders' small probability mass.
    assert torch.allclose(out.logprobs[real], exact[real], atol=1e-4), (out.logprobs - exact)[real].abs().max()
    assert (plain[real] <= out.logprobs[real] + 1e-4).all()
    # Every completion of a group is its own sample: the G rows of a prompt are not copies of one another.
    assert len({tuple(r) for r in out.ids[:G].tolist()}) > 1


def test_weights_are_pushed_after_an_update_and_only_then(engine_and_bundle) -> None:
    engine, bundle = engine_and_bundle
    _rollout(engine, bundle)
    pushes = engine.pushes
    _rollout(engine, bundle)
    assert engine.pushes == pushes  # nothing changed, nothing pushed
    with torch.no_grad():  # an "optimiser step" that moves every trainable weight
        for p in bundle.model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    try:
        engine.policy_updated()
        inputs, out = _rollout(engine, bundle)
        assert engine.pushes == pushes + 1
        _, exact = _policy_logprobs(bundle, inputs, out)
        real = out.mask.bool()
        assert torch.allclose(out.logprobs[real], exact[real], atol=1e-4)
    finally:
        engine.policy_updated()  # the fixture's later users push again


def test_lora_policy_is_served_with_the_adapter_merged(engine_and_bundle) -> None:
    engine, _ = engine_and_bundle
    torch.manual_seed(1)
    lora = HFPolicy("tiny", lora=LoraSettings(r=4)).build(need_reference=False)
    with torch.no_grad():  # lora_B starts at 0: give the adapter an effect the engine must see
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    engine.bind(lora)  # same base checkpoint: the running engine gets the merged weights
    inputs, out = _rollout(engine, lora)
    _, exact = _policy_logprobs(lora, inputs, out)
    real = out.mask.bool()
    assert torch.allclose(out.logprobs[real], exact[real], atol=1e-4)


def test_greedy_settings_decode_greedily(engine_and_bundle) -> None:
    engine, bundle = engine_and_bundle
    engine.policy_updated()
    greedy = GenerationSettings(max_new_tokens=6, do_sample=False, min_new_tokens=6)
    _, out = _rollout(engine, bundle, greedy)
    assert (out.mask.sum(1) == 6).all()  # min_new_tokens holds the end token back
    assert all(torch.equal(out.ids[i], out.ids[i - i % G]) for i in range(out.ids.shape[0]))  # a group agrees


# One bad option per row, with the key the error must name.
@pytest.mark.parametrize(("kwargs", "key"), [
    ({"gpu_memory_utilization": 0.0}, "gpu_memory_utilization"),  # no memory at all
    ({"kv_cache_memory_bytes": 0}, "kv_cache_memory_bytes"),  # an empty cache
    ({"max_model_len": 1}, "max_model_len"),  # no room for a completion
])
def test_bad_options_name_the_key(kwargs, key) -> None:
    with pytest.raises(ValueError, match=key):
        VLLMEngine(**kwargs)


def test_sleep_mode_is_refused_where_vllm_has_none(engine_and_bundle) -> None:
    from vllm.platforms import current_platform

    if current_platform.is_sleep_mode_available():
        pytest.skip("this platform has vLLM's sleep mode")
    _, bundle = engine_and_bundle
    engine = VLLMEngine(sleep_between_rollouts=True)
    engine.bind(bundle)
    with pytest.raises(ValueError, match="sleep_between_rollouts"):
        _rollout(engine, bundle)
