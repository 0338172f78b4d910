"""The command line around the runs: help, ``--print_config``, one-line errors, no debris after a failed start.

In-process through ``main.cli`` (the function ``python main.py`` runs), from a directory that looks like a
checkout; the console as a subprocess sees it is checked in ``tests/test_first_hour.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import main

ROOT = Path(__file__).resolve().parents[1]
MIX = "configs/mix.yaml"
_RAW = yaml.safe_load((ROOT / MIX).read_text())
DOMAINS = [d["name"] for d in _RAW["data"]["init_args"]["domains"]]
_LOGGER = _RAW["trainer"]["logger"]["init_args"]
RUNS = Path(_LOGGER["save_dir"], _LOGGER["name"])


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("configs", "assets"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["main.py"])  # pytest's own arguments are not the CLI's
    monkeypatch.delenv(main.DEBUG_ENV, raising=False)
    return tmp_path


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def test_fit_help_points_at_the_real_options_and_offers_no_optimizer(checkout: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main.cli(["fit", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # the help text is wrapped to the terminal width
    assert "`--model.help GRPOModule`" in text and "`--data.help MultiDomainDataModule`" in text
    assert f"{main.DEBUG_ENV}=1" in text
    # The modules configure their own optimisers: an --optimizer option would be ignored or fail.
    assert "--optimizer" not in text and "--lr_scheduler" not in text


@pytest.mark.parametrize(
    "override, names",
    [
        ("--trainer.max_steps=abc", "trainer.max_steps"),  # a value of the wrong type
        ("--model.init_args.bogus=1", "bogus"),  # an option the model does not have
        ("--optimizer=torch.optim.SGD", "optimizer"),  # not offered: the modules configure their own
    ],
)
def test_a_parse_error_is_one_line(checkout: Path, capsys, override: str, names: str) -> None:
    with pytest.raises(SystemExit) as stop:
        main.cli(["fit", "--config", MIX, override])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    (error,) = _errors(err)
    assert names in error and "Given value" not in error
    assert len(err.splitlines()) <= 3 and "usage:" not in err  # not the 50-line usage text
    assert not (checkout / "runs").exists()


def test_the_debug_variable_shows_the_full_traceback(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(main.DEBUG_ENV, "1")
    bad = {d["name"]: 1 for d in _RAW["data"]["init_args"]["domains"] if d.get("role", "train") == "train"}
    bad[next(iter(bad))] = -1
    with pytest.raises(ValueError, match=next(iter(bad))):
        main.cli(["fit", "--config", MIX, f"--data.init_args.weights={bad}"])


@pytest.mark.parametrize(
    "override, names",
    [
        # Found before anything is built; the message lists the checkpoints that exist (none here).
        (f"--ckpt_path={RUNS}/version_3/checkpoints/last.ckpt", "version_3/checkpoints/last.ckpt"),
        # Found when the model loads in setup, after Lightning made the run directory: it is removed again.
        ("--model.init_args.policy.init_args.model_name_or_path=nowhere", "model_name_or_path"),
    ],
)
def test_a_failed_start_is_one_line_and_leaves_nothing(checkout: Path, capsys, override: str, names: str) -> None:
    assert (
        main.cli(["fit", "--config", MIX, "--trainer.max_steps=2", "--trainer.enable_progress_bar=false", override])
        == 1
    )
    err = capsys.readouterr().err
    (error,) = _errors(err)
    assert names in error and "Traceback" not in err
    assert not (checkout / RUNS).exists()  # no version directory, no interrupted.ckpt
    assert not list(checkout.glob("runs/records/*.json"))  # no failed record: nothing was trained


def test_print_config_lists_every_domains_verifiers(checkout: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main.cli(["fit", "--config", MIX, "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    domains = printed["data"]["init_args"]["domains"]
    assert [d["name"] for d in domains] == DOMAINS
    # Every domain shows the verifiers its rewards use, also one that leaves them to its source's defaults.
    rewards = main.main(["--config", MIX, "--trainer.logger=false"], run=False).datamodule.rewards
    for domain in domains:
        used = [{"name": v.name, "weight": v.weight, "options": v.options} for v in rewards[domain["name"]].specs]
        assert domain["verifiers"] == used, domain["name"]
    # The printed config is a config: it parses back to itself.
    (checkout / "printed.yaml").write_text(yaml.safe_dump(printed))
    with pytest.raises(SystemExit):
        main.cli(["fit", "--config", "printed.yaml", "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == printed


def test_a_grpo_run_does_not_import_the_predictor_stack(checkout: Path) -> None:
    """GPyTorch and BoTorch (seconds of import, and a torch.jit deprecation warning) are for the predictor only."""
    code = (
        "import sys; import main; main.main(['--config', 'configs/mix.yaml', '--trainer.logger=false'], run=False); "
        "print(sorted({'gpytorch', 'botorch'} & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
