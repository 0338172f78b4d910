"""The main job, ``python main.py fit --config configs/mix.yaml``, shortened: what it leaves behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
MIX = ROOT / "configs" / "mix.yaml"
_RAW = yaml.safe_load(MIX.read_text())
TRAIN = [d["name"] for d in _RAW["data"]["init_args"]["domains"] if d.get("role", "train") == "train"]
EVAL_OUT = [d["name"] for d in _RAW["data"]["init_args"]["domains"] if d.get("role") == "out"]
_LOGGER = _RAW["trainer"]["logger"]["init_args"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _main(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "main.py"),
        "fit",
        "--config",
        str(MIX),
        f"--trainer.default_root_dir={tmp_path}",
        "--model.init_args.generation.max_new_tokens=8",
        "--trainer.callbacks+=callbacks.CompletionSamples",
        "--trainer.callbacks.every_n_steps=1",
        *extra,
    ]


def _run(tmp_path: Path, *extra: str) -> Path:
    cmd = _main(
        tmp_path,
        "--trainer.max_steps=2",
        "--trainer.val_check_interval=2",
        "--trainer.limit_val_batches=1",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--data.init_args.eval_batch_size=2",
        "--model.init_args.eval_generation.max_new_tokens=8",
        *extra,
    )
    proc = subprocess.run(cmd, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (version,) = (tmp_path / _LOGGER["name"]).glob("version_*")
    return version


def test_main_job_writes_events_checkpoint_export_and_samples(tmp_path: Path) -> None:
    drawn, idle = TRAIN[0], TRAIN[1]
    weights = {name: 1 if name == drawn else 0 for name in TRAIN}
    version = _run(tmp_path, f"--data.init_args.weights={json.dumps(weights)}")
    events = EventAccumulator(str(version))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        "train/reward",
        "train/kl",
        "train/entropy",
        "train/completion_len",
        "train/zero_std_frac",
        f"train/reward/{drawn}",
        "val/in_score",
        "val/out_score",
        f"val/{idle}/score",
        f"val/{EVAL_OUT[0]}/score",
        f"data/count/{drawn}",
        f"data/share/{drawn}",
        f"data/weight/{drawn}",
        f"data/weight/{idle}",
        f"data/skipped/{drawn}",
    }
    assert expected <= scalars, sorted(expected - scalars)
    # Only the weighted domain was drawn: changing data.weights changes what training sees.
    assert f"data/count/{idle}" not in scalars
    counts = events.Scalars(f"data/count/{drawn}")
    assert counts[-1].step == 2 and counts[-1].value >= 2 * _RAW["data"]["init_args"]["batch_size"]  # cumulative
    assert events.Scalars(f"data/share/{drawn}")[-1].value == 1.0
    assert (version / "checkpoints" / "last.ckpt").is_file()
    policy = version / "policy"
    assert (policy / "config.json").is_file() and list(policy.glob("*.safetensors"))
    assert (policy / "tokenizer_config.json").is_file() or (policy / "processor_config.json").is_file()
    rows = [json.loads(line) for line in (version / "samples.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"train", "val"}
    assert all("completion" in r for r in rows)
    assert (version / "config.yaml").is_file()  # the config is saved with each run
    (record,) = (tmp_path / "runs" / "records").glob("*.json")  # one run record for the mixture predictor
    data = json.loads(record.read_text())
    assert data["status"] == "ok" and data["weights"][drawn] == 1.0 and data["in_score"] is not None


def test_sigterm_keeps_a_checkpoint_and_the_resume_continues_the_same_run(tmp_path: Path) -> None:
    run = tmp_path / "runs" / _LOGGER["name"] / "version_0"
    cmd = _main(tmp_path, "--trainer.max_steps=1000", "--trainer.enable_progress_bar=false")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = run / "samples.jsonl"
    deadline = time.monotonic() + 300
    while not samples.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert samples.exists(), "the run never finished a step"
    proc.send_signal(signal.SIGTERM)  # what a scheduler sends before it kills a job
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]  # stopped by SIGTERM, not a success
    interrupted = run / "checkpoints" / "interrupted.ckpt"
    assert interrupted.is_file(), err[-3000:]
    assert f"--ckpt_path {interrupted.relative_to(tmp_path)}" in err  # how to continue
    (record,) = (tmp_path / "runs" / "records").glob("*.json")
    killed = json.loads(record.read_text())
    assert killed["status"] == "failed"
    assert samples.read_text().strip()  # samples written before the kill are still there
    step = torch.load(interrupted, weights_only=True)["global_step"]
    assert step >= 1

    # Resume: the same run directory, the same record, the bar counting steps of the whole run.
    resumed = subprocess.run(
        [*cmd[:-2], f"--trainer.max_steps={step + 1}", "--trainer.limit_val_batches=0", f"--ckpt_path={interrupted}"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [p.name for p in run.parent.iterdir()] == ["version_0"]  # one run, one directory
    assert f"{step + 1}/{step + 1}" in resumed.stdout  # steps of max_steps, not the batches left after the resume
    (record,) = (tmp_path / "runs" / "records").glob("*.json")
    done = json.loads(record.read_text())
    assert done["status"] == "ok" and done["steps"] == step + 1 and done["run_id"] == killed["run_id"]
    assert done["started_at"] == killed["started_at"]
    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("train/reward")][-1] == step  # the curve continues in the same run
