"""Every YAML in configs/ parses against the code and instantiates (so no config rots).

Run configs go through the real LightningCLI (``main.main(run=False)``); real checkpoints are swapped
for the tiny offline model and GPUs for the CPU. Data-only configs (``configs/data/``) are
instantiated as a ``LightningDataModule`` subclass. Nothing is downloaded: sources load at ``setup``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from lightning import LightningDataModule

from main import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_configs_exist() -> None:
    names = {p.relative_to(p.parents[1]).as_posix() if p.parent.name != "configs" else p.name for p in CONFIGS}
    assert "mix.yaml" in names and "paper/mix.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.relative_to(p.parents[1]).as_posix() for p in CONFIGS])
def test_config_instantiates(path: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    if "base_config" in raw:  # a mixture-search config (python -m predictors.search), not a main.py config
        from predictors.search.__main__ import parse_config

        parse_config(["--config", str(path)])
        return
    if "class_path" in raw:  # a data-only config, inlined under `data:` of run configs
        parser = ArgumentParser()
        parser.add_subclass_arguments(LightningDataModule, "data")
        cfg = parser.parse_object({"data": raw})
        data = parser.instantiate_classes(cfg).data
        assert isinstance(data, LightningDataModule)
        return
    args = [
        "--config",
        str(path),
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    logger = raw.get("trainer", {}).get("logger")
    if isinstance(logger, dict) and "save_dir" in logger.get("init_args", {}):
        args.append(f"--trainer.logger.init_args.save_dir={tmp_path}")
    model_args = raw.get("model", {}).get("init_args", {})
    if "policy" in model_args:
        args.append("--model.policy.init_args.model_name_or_path=tiny")
    cli = main(args, run=False)
    assert cli.model is not None and cli.trainer is not None
    if "policy" in model_args:
        cli.model.configure_model()  # the policy really loads (tiny stand-in for hub checkpoints)
        assert any(p.requires_grad for p in cli.model.model.parameters())
    if "data" in raw:
        assert isinstance(cli.datamodule, LightningDataModule)


MIX = Path(__file__).resolve().parents[1] / "configs" / "mix.yaml"


@pytest.mark.parametrize(
    "override, message",
    [
        ("--data.init_args.weights={objects: 1, bogus: 1}", "bogus"),  # unknown domain named
        ("--data.init_args.weights={objects: -1, referring: 1, geometry: 1, spatial: 1, science: 1}", "objects"),
        ("--model.init_args.num_generations=1", "num_generations"),  # GRPO needs a group
        ("--model.init_args.generation.top_p=0", "top_p"),
    ],
)
def test_bad_options_fail_before_training_naming_the_key(override: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        main(["--config", str(MIX), f"--trainer.default_root_dir={tmp_path}", override], run=False)


def test_missing_model_path_is_named(tmp_path: Path) -> None:
    cli = main(
        [
            "--config",
            str(MIX),
            f"--trainer.default_root_dir={tmp_path}",
            f"--model.init_args.policy.init_args.model_name_or_path={tmp_path / 'nope'}",
        ],
        run=False,
    )
    with pytest.raises(Exception, match="model_name_or_path"):
        cli.model.configure_model()
