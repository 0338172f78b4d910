"""A user's first hour, run as a user runs it: the main job (shortened), ``test`` on its checkpoint, a bad weight.

Every command is a ``python main.py ...`` line as the README shows it, run in a fresh process from a
directory that looks like a checkout (``configs/`` and ``assets/`` linked in); the overrides that
shorten the main job are appended to each. The checks are on what the user sees: the console (an
evaluation table, no warnings, errors in one line) and the run directories (one per training run,
nothing left behind by a failed attempt). Domain names and the run directory come from the config.
More bad input, checked in-process: ``tests/test_cli.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/mix.yaml"
_RAW = yaml.safe_load((ROOT / CONFIG).read_text())
DOMAINS = {d["name"]: d.get("role", "train") for d in _RAW["data"]["init_args"]["domains"]}
TRAIN = [name for name, role in DOMAINS.items() if role == "train"]
_LOGGER = _RAW["trainer"]["logger"]["init_args"]
RUNS = Path(_LOGGER["save_dir"], _LOGGER["name"])  # the logger's directory: one version_N per training run
RUN = RUNS / "version_0"
RECORDS = Path(
    next(
        c["init_args"]["dirpath"] for c in _RAW["trainer"]["callbacks"] if c["class_path"].endswith("RunRecordCallback")
    )
)
BAD_WEIGHTS = json.dumps({name: -1 if i == 0 else 1 for i, name in enumerate(TRAIN)})

# The main job in seconds instead of minutes: 2 steps, one evaluation of one small batch per benchmark.
SHORT = (
    "--trainer.max_steps=2 --trainer.val_check_interval=2 --trainer.limit_val_batches=1 "
    "--trainer.limit_test_batches=1 --data.init_args.eval_batch_size=2 "
    "--model.init_args.generation.max_new_tokens=8 --model.init_args.eval_generation.max_new_tokens=8"
)

# (name, command) in the order a user runs them; each later check reads the state the earlier ones left.
COMMANDS = [
    ("fit", f"python main.py fit --config {CONFIG}"),
    ("test", f"python main.py test --config {CONFIG} --ckpt_path {RUN}/checkpoints/last.ckpt"),
    ("bad weight", f"python main.py fit --config {CONFIG} --data.init_args.weights '{BAD_WEIGHTS}'"),
]
# A Python warning as the console shows it: "<file>.py:<line>: <message>".
WARNING = re.compile(r"\.py:\d+: ")


def _state(cwd: Path) -> tuple[list[str], list[str]]:
    runs = sorted(p.name for p in (cwd / RUNS).glob("*")) if (cwd / RUNS).is_dir() else []
    records = sorted(p.name for p in (cwd / RECORDS).glob("*.json")) if (cwd / RECORDS).is_dir() else []
    return runs, records


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Runs COMMANDS one after another in one directory; per command: exit code, output, runs and records after it."""
    cwd = tmp_path_factory.mktemp("checkout")
    for name in ("configs", "assets"):
        (cwd / name).symlink_to(ROOT / name)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MODOMODO_DEBUG", None)
    results = {}
    for name, command in COMMANDS:
        argv = shlex.split(command)
        assert argv[:2] == ["python", "main.py"], command
        proc = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), *argv[2:], *shlex.split(SHORT)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        runs, records = _state(cwd)
        results[name] = {
            "rc": proc.returncode,
            "out": proc.stdout,
            "err": proc.stderr,
            "runs": runs,
            "records": records,
            "cwd": cwd,
        }
    return results


def test_fit_prints_the_evaluation_and_no_warning(session: dict[str, dict]) -> None:
    fit = session["fit"]
    assert fit["rc"] == 0, fit["err"][-3000:]
    lines = fit["out"].splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("Validation at step 2: In-Score ")]
    assert len(header) == 1, fit["out"]  # printed once
    table = lines[header[0] + 2 : header[0] + 2 + len(DOMAINS)]
    assert [line.split()[:2] for line in table] == [[n, r if r != "train" else "in"] for n, r in _table_order()]
    assert "Training ended at step 2" in fit["out"] and "Last evaluation: In-Score" in fit["out"]
    console = fit["out"] + fit["err"]
    assert not WARNING.findall(console), [line for line in console.splitlines() if WARNING.search(line)]
    for noise in ("Tip:", "Epoch 0/-2", "v_num", "ckpt_path="):  # adverts, Lightning's epoch bar, resume hints
        assert noise not in console, noise
    assert fit["runs"] == [RUN.name] and len(fit["records"]) == 1


def _table_order() -> list[tuple[str, str]]:
    # In-domain benchmarks first, then out-of-domain, each in config order (the data module's order).
    return [(n, r) for n, r in DOMAINS.items() if r != "out"] + [(n, r) for n, r in DOMAINS.items() if r == "out"]


def test_test_reports_once_and_stays_in_the_runs_directory(session: dict[str, dict]) -> None:
    test = session["test"]
    assert test["rc"] == 0, test["err"][-3000:]
    assert test["out"].count("Test at step 2: In-Score ") == 1
    assert "DataLoader" not in test["out"]  # not Lightning's table with one identical column per benchmark
    assert test["runs"] == [RUN.name]  # no second version directory: one run, one TensorBoard run
    run = session["fit"]["cwd"] / RUN
    assert (run / "config.yaml").is_file() and (run / "test_config.yaml").is_file()
    assert len(list(run.glob("events.out.tfevents.*"))) == 2
    (record,) = test["records"]
    data = json.loads((session["fit"]["cwd"] / RECORDS / record).read_text())
    assert data["stage"] == "val" and data["steps"] == 2 and data["duration_s"] > 0  # the training record kept
    assert set(data["config"]["test"]["scores"]) == set(DOMAINS) and data["config"]["test"]["in_score"] is not None


def test_a_bad_weight_is_one_line_and_leaves_nothing(session: dict[str, dict]) -> None:
    result = session["bad weight"]
    assert result["rc"] == 1, result["err"][-3000:]
    errors = [line for line in result["err"].splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and TRAIN[0] in errors[0], result["err"]  # names the domain
    assert "Traceback" not in result["err"] and len(result["err"].splitlines()) <= 4, result["err"]
    assert len(result["err"]) < 1000  # no dump of the whole configuration
    # Nothing left behind: the runs and records are those of the main job.
    assert (result["runs"], result["records"]) == (session["test"]["runs"], session["test"]["records"])
