"""SFT of the base model: targets, the config, and a short run that lowers the loss on a fixed batch."""

from __future__ import annotations

import pytest
import torch

from datamodules import MultiDomainDataModule, SyntheticGeometry, SyntheticReferring, SyntheticSpatial
from datamodules.domain import Domain
from lightning_modules.sft import SFTModule
from lightning_modules.sft_targets import reference_targets, tokenize_targets
from lightning_modules.tiny_model import TinyVLMSettings


@pytest.fixture(scope="module")
def datamodule() -> MultiDomainDataModule:
    dm = MultiDomainDataModule(
        domains=[Domain("spatial", SyntheticSpatial(train_size=8, eval_size=0, seed=4)),
                 Domain("referring", SyntheticReferring(train_size=8, eval_size=0, seed=2))],
        batch_size=4, stop="cycle", seed=0,
    )
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def batch(datamodule: MultiDomainDataModule) -> list:
    return next(iter(datamodule.train_dataloader()))


def test_targets_score_the_maximum(datamodule: MultiDomainDataModule, batch: list) -> None:
    texts = reference_targets(batch, datamodule.rewards, {"spatial": "compare the positions"})
    for sample, text in zip(batch, texts, strict=False):
        reward = datamodule.rewards[sample.domain]
        total = reward([text], [sample.solution], [sample.meta]).total
        assert total.item() == pytest.approx(3.0), (sample.domain, text)  # format 1 + accuracy / IoU 2
    assert all("compare the positions" in t for s, t in zip(batch, texts, strict=False) if s.domain == "spatial")


def test_think_template_names_the_correct_option(datamodule: MultiDomainDataModule, batch: list) -> None:
    dm = MultiDomainDataModule(domains=[Domain("geometry", SyntheticGeometry(train_size=8, eval_size=0, seed=3))],
                               batch_size=8, stop="cycle", seed=0)
    dm.setup("fit")
    samples = next(iter(dm.train_dataloader()))
    texts = reference_targets(samples, dm.rewards, {"geometry": "read the figure: {option}"})
    for sample, text in zip(samples, texts, strict=False):
        value = sample.meta["options"]["ABCD".index(sample.solution)]
        assert text.startswith(f"<think>\nread the figure: {value}\n</think>"), text
        assert dm.rewards["geometry"]([text], [sample.solution], [sample.meta]).total.item() == pytest.approx(3.0)
    # The option's text as the answer instead of its letter: still the maximum reward.
    texts = reference_targets(samples, dm.rewards, {}, answer={"geometry": "{option}"})
    for sample, text in zip(samples, texts, strict=False):
        value = sample.meta["options"]["ABCD".index(sample.solution)]
        assert text.endswith(f"<answer>\n{value}\n</answer>"), text
        assert dm.rewards["geometry"]([text], [sample.solution], [sample.meta]).total.item() == pytest.approx(3.0)
    # A template with {option} on a domain that has no options is a configuration error, named as such.
    with pytest.raises(ValueError, match=r"\{option\}.*meta\['options'\]"):
        reference_targets(batch, datamodule.rewards, {"spatial": "the answer is {option}"})


def test_targets_need_a_reward(batch: list) -> None:
    with pytest.raises(KeyError, match="has no reward"):
        reference_targets(batch, {}, {})


def test_tokenize_targets_appends_end_and_pads(tiny_model_path: str) -> None:
    from transformers import AutoProcessor

    tok = AutoProcessor.from_pretrained(tiny_model_path).tokenizer
    texts = ["<think>\n\n</think>\n<answer>\nA\n</answer>", "<answer>left</answer>"]
    ids, mask = tokenize_targets(tok, texts, "<|im_end|>")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    lengths = mask.sum(1)
    assert ids.shape == mask.shape and lengths[0] > lengths[1]
    for row, n in zip(ids, lengths, strict=False):
        assert row[n - 1] == end  # the policy learns to stop
    assert (ids[1, lengths[1]:] == tok.pad_token_id).all()
    with pytest.raises(ValueError, match="end_token"):
        tokenize_targets(tok, ["x"], "<|no such token|>")


def test_invalid_options_are_named() -> None:
    with pytest.raises(ValueError, match="lr"):
        SFTModule(lr=0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        SFTModule(warmup_steps=-1)


def test_two_steps_lower_the_loss_on_one_batch(datamodule: MultiDomainDataModule, batch: list) -> None:
    torch.manual_seed(0)
    module = SFTModule(init_tiny=TinyVLMSettings(seed=0), lr=3e-3, warmup_steps=0)
    module.configure_model()
    vision = module.model.model.visual if hasattr(module.model, "model") else module.model.visual
    assert all(p.requires_grad for p in vision.parameters())  # the random vision tower is trained too
    before_vision = [p.detach().clone() for p in vision.parameters()]

    def loss() -> torch.Tensor:
        nll, mask = module.token_nll(batch, datamodule.rewards)
        assert nll.shape == mask.shape and mask.sum() > 0
        return (nll * mask).sum() / mask.sum()

    opt = torch.optim.AdamW(module.model.parameters(), lr=3e-3)
    first = loss()
    for _ in range(2):
        opt.zero_grad()
        step_loss = loss()
        step_loss.backward()
        opt.step()
    with torch.no_grad():
        after = loss()
    assert after < first.detach() - 0.05, (first.item(), after.item())
    assert any(not torch.equal(a, b) for a, b in zip(before_vision, vision.parameters(), strict=False))


def test_tiny_base_configs_parse() -> None:
    from main import main

    pre = main(["--config", "configs/tiny_pretrain.yaml", "--trainer.logger", "false"], run=False).model
    # Stage 1 builds the model: rope_theta 4 so the language model can tell image columns apart.
    assert pre.init_tiny is not None and pre.init_tiny.arch == "qwen2_vl" and pre.init_tiny.rope_theta == 4.0
    assert pre.policy.freeze_vision is False  # the vision tower starts random and must learn
    cli = main(["--config", "configs/tiny_base.yaml", "--trainer.logger", "false"], run=False)
    model = cli.model
    assert isinstance(model, SFTModule)
    # Stage 2 starts from what stage 1 exports.
    assert model.init_tiny is None and model.policy.model_name_or_path == "runs/tiny_pretrain/export"
    assert model.policy.freeze_vision is False
    assert cli.datamodule.stop == "cycle"
    assert set(model.think) == {d.name for d in cli.datamodule.train_domains}
    # Stage 2 trains every skill of configs/mix.yaml's domains and benchmarks with the same generators, on other
    # seeds: the base never sees the samples GRPO trains on or is scored on.
    stage2 = {d.name: (type(d.source).__name__, d.source.seed) for d in cli.datamodule.domains}
    mix = main(["--config", "configs/mix.yaml", "--trainer.logger", "false"], run=False).datamodule
    run = {d.name: (type(d.source).__name__, d.source.seed) for d in mix.domains}
    assert set(run) <= set(stage2)
    assert all(stage2[name][0] == kind for name, (kind, _) in run.items())
    assert {seed for _, seed in stage2.values()}.isdisjoint(seed for _, seed in run.values())


def test_boxes_answer_template_writes_every_box_and_scores_the_maximum() -> None:
    from datamodules.sample import Sample
    from lightning_modules.sft_targets import plain_boxes
    from rewards.registry import build_verifier

    meta = {"image_size": [112, 112], "box_format": "pixel"}
    sample = Sample("objects/train/0", "objects", [], "q", [[10, 12, 40, 44], [60, 50, 100, 90]], meta)
    answer = plain_boxes(sample)
    assert answer == "[[10, 12, 40, 44], [60, 50, 100, 90]]"
    completion = f"<think>\nx\n</think>\n<answer>\n{answer}\n</answer>"
    assert build_verifier("multi_box_iou").score([completion], [sample.solution], [meta]).scores == [1.0]
    with pytest.raises(ValueError, match=r"uses \{boxes\}, which needs box solutions"):
        plain_boxes(Sample("geometry/train/0", "geometry", [], "q", "B", meta))
