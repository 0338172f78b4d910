"""The shipped base model (assets/tiny-base): loads offline and already solves part of every training domain.

GRPO learns only from reward differences inside a group, so the base must get some answers right; it must
also stay well below the maximum so that RL, and different mixtures, have room to differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datamodules import (MultiDomainDataModule, SyntheticGeometry, SyntheticObjects, SyntheticReferring,
                         SyntheticScience, SyntheticSpatial)
from datamodules.domain import Domain
from lightning_modules.policy import HFPolicy
from lightning_modules.rollout import GenerationSettings, generate, process_prompts
from lightning_modules.completion_scores import eval_scores

BASE = Path(__file__).resolve().parents[1] / "assets" / "tiny-base"

# domain -> (source, score of the best answer from the question text alone). The eval parts of configs/mix.yaml
# (same seeds). Multiple choice has 4 options; half the spatial questions name the two possible answers, the other
# half ask for one of six colours (1/2 * 1/2 + 1/2 * 1/6); for boxes, the best constant box per question template
# (tests/test_data_synthetic.py measures it: 0.013 matched IoU for objects, 0.197 mean IoU for referring).
DOMAINS = {
    "objects": (SyntheticObjects(train_size=1, eval_size=64, seed=1), 0.013),
    "referring": (SyntheticReferring(train_size=1, eval_size=64, seed=2), 0.197),
    "geometry": (SyntheticGeometry(train_size=1, eval_size=64, seed=3), 0.25),
    "spatial": (SyntheticSpatial(train_size=1, eval_size=64, seed=4), 1 / 3),
    "science": (SyntheticScience(train_size=1, eval_size=64, seed=5), 0.25),
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, tuple[list[float], list[float]]]:
    """domain -> (benchmark scores, format scores) of greedy completions of the shipped base."""
    bundle = HFPolicy(model_name_or_path=str(BASE)).build(need_reference=False)
    model, processor = bundle.model.eval(), bundle.processor
    dm = MultiDomainDataModule(domains=[Domain(name, source) for name, (source, _) in DOMAINS.items()],
                               weights=None, eval_batch_size=16)
    dm.setup("validate")
    settings = GenerationSettings(max_new_tokens=80, do_sample=False)
    out = {}
    with torch.no_grad():
        for bench, loader in zip(dm.eval_benchmarks, dm.val_dataloader()):
            scores: list[float] = []
            formats: list[float] = []
            for batch in loader:
                texts = generate(model, processor, process_prompts(processor, batch), settings).texts
                result = dm.rewards[bench.name](texts, [s.solution for s in batch], [s.meta for s in batch]).results
                scores += eval_scores(batch, texts, dm.rewards)
                formats += list(result["think_answer_format"].scores)
            out[bench.name] = (scores, formats)
    return out


def test_checkpoint_is_small_and_self_contained() -> None:
    size = sum(f.stat().st_size for f in BASE.rglob("*") if f.is_file())
    assert size <= 20 * 2**20, f"assets/tiny-base is {size / 2**20:.1f} MiB (limit 20)"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "chat_template.jinja"):
        assert (BASE / name).is_file(), f"assets/tiny-base lacks {name}: it would not load offline"


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_base_writes_the_format_and_leaves_room(outputs: dict, domain: str) -> None:
    scores, formats = outputs[domain]
    assert sum(formats) / len(formats) >= 0.9, f"{domain}: format rate {sum(formats) / len(formats):.2f}"
    mean = sum(scores) / len(scores)
    assert mean <= 0.7, f"{domain}: the base is meant to leave room for RL, scored {mean:.3f}"


# Known gap (assets/README.md, issue 5 open): the two-stage recipe localises single shapes and uses the image on
# objects, geometry and spatial, but on referring (box of the shape beside a named one) and science it is not yet
# above the text-only baseline. Expected failures, strict so that a fix (or a regression elsewhere) shows up.
_AT_CHANCE = {"referring", "science"}
_BLIND = pytest.mark.xfail(reason="issue 5 open: the shipped base is not above text-only chance here", strict=True)


@pytest.mark.parametrize("domain", [pytest.param(d, marks=_BLIND) if d in _AT_CHANCE else d for d in DOMAINS])
def test_base_scores_above_chance(outputs: dict, domain: str) -> None:
    scores, _ = outputs[domain]
    mean = sum(scores) / len(scores)
    assert mean > DOMAINS[domain][1], f"{domain}: score {mean:.3f} not above chance {DOMAINS[domain][1]}"
