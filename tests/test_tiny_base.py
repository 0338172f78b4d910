"""The shipped base model (assets/tiny-base): loads offline and is partial on every benchmark of the shipped worlds.

GRPO learns only from reward differences inside a group, so the base must get some answers right, with the
image (above what the question text alone is worth); it must also stay below the maximum so that RL, and
different mixtures, have room to differ (docs/WORLD.md, "The base model").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

from datamodules import MultiDomainDataModule
from lightning_modules.completion_scores import eval_scores
from lightning_modules.policy import HFPolicy
from lightning_modules.rollout import GenerationSettings, generate, process_prompts

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "assets" / "tiny-base"
SAMPLES = 48  # the first evaluation records of each benchmark
#: The main job's world, the transfer world and the conflict world (docs/TRANSFER.md).
WORLDS = ("mix.yaml", "transfer.yaml", "conflict.yaml")

#: Score of the best answer from the question text alone: 1 / #answers for letters, words and counts (answers are
#: uniform); for boxes the best constant box, as tests/test_data_synthetic.py measures it.
TEXT_ONLY = {"objects": 0.033, "referring": 0.306, "geometry": 0.25, "spatial": 0.25, "science": 0.2,
             "counting": 0.25, "chart": 0.2, "position": 0.25,
             "spatial140": 0.25, "science140": 0.2, "geometry140": 0.25}
#: The conflict world's descending thermometer: the base, trained on ascending option lists only, writes no
#: well-formed answer to it (docs/TRANSFER.md, "The conflict world"), so it is checked for that instead.
UNANSWERED = ("science_desc",)


@pytest.fixture(scope="module")
def outputs() -> dict[str, tuple[list[float], list[float]]]:
    """benchmark -> (scores, format scores) of the shipped base's greedy completions."""
    run, *others = (yaml.safe_load((ROOT / "configs" / name).read_text()) for name in WORLDS)
    config = run["data"]
    domains = config["init_args"]["domains"]
    names = {d["name"] for d in domains}
    for other in others:  # one data module over every benchmark of every world (the training domains are shared)
        domains += [d for d in other["data"]["init_args"]["domains"] if d["name"] not in names]
        names = {d["name"] for d in domains}
        for name, weight in other["data"]["init_args"]["weights"].items():
            config["init_args"]["weights"].setdefault(name, weight)
    for domain in domains:
        domain["eval_max_samples"] = SAMPLES
    parser = ArgumentParser()
    parser.add_argument("--data", type=MultiDomainDataModule)
    dm = parser.instantiate_classes(parser.parse_object({"data": config})).data
    dm.setup("validate")
    bundle = HFPolicy(model_name_or_path=str(BASE)).build(need_reference=False)
    model, processor = bundle.model.eval(), bundle.processor
    settings = GenerationSettings(**run["model"]["init_args"]["eval_generation"])  # the main job's decoding
    out = {}
    with torch.no_grad():
        for bench, loader in zip(dm.eval_benchmarks, dm.val_dataloader(), strict=False):
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


def test_every_benchmark_of_the_shipped_worlds_is_checked(outputs: dict) -> None:
    assert set(outputs) == set(TEXT_ONLY) | set(UNANSWERED)


@pytest.mark.parametrize("name", list(TEXT_ONLY))
def test_base_writes_the_format_and_is_partial(outputs: dict, name: str) -> None:
    scores, formats = outputs[name]
    assert sum(formats) / len(formats) >= 0.9, f"{name}: format rate {sum(formats) / len(formats):.2f}"
    mean = sum(scores) / len(scores)
    assert TEXT_ONLY[name] < mean < 0.9, f"{name}: {mean:.3f}, text-only {TEXT_ONLY[name]}"


@pytest.mark.parametrize("name", UNANSWERED)
def test_base_does_not_answer_the_descending_option_list(outputs: dict, name: str) -> None:
    """Science's thermometer with the options reversed: the format breaks, so RL starts there from zero."""
    scores, formats = outputs[name]
    assert sum(formats) / len(formats) < 0.5, f"{name}: format rate {sum(formats) / len(formats):.2f}"
    assert sum(scores) / len(scores) < TEXT_ONLY["science"], f"{name}: {sum(scores) / len(scores):.3f}"
    science_formats = outputs["science"][1]
    assert sum(science_formats) / len(science_formats) >= 0.9
