"""The main job, ``python main.py fit --config configs/mix.yaml``, shortened: what it leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *extra: str) -> Path:
    cmd = [
        sys.executable, str(ROOT / "main.py"), "fit", "--config", str(ROOT / "configs" / "mix.yaml"),
        "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}", "--data.init_args.eval_batch_size=2",
        "--model.init_args.generation.max_new_tokens=8", "--model.init_args.eval_generation.max_new_tokens=8",
        "--trainer.callbacks+=callbacks.CompletionSamples", "--trainer.callbacks.every_n_steps=1", *extra,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (version,) = (tmp_path / "mix").glob("version_*")
    return version


def test_main_job_writes_events_checkpoint_export_and_samples(tmp_path: Path) -> None:
    version = _run(tmp_path, "--data.init_args.weights={objects: 1, referring: 0, geometry: 0, spatial: 0, science: 1}")
    events = EventAccumulator(str(version))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        "train/reward", "train/kl", "train/clip_frac", "train/entropy", "train/completion_len", "train/zero_std_frac",
        "reward/think_answer_format/mean", "reward/multi_box_iou/mean", "reward/choice_accuracy/parse_fail",
        "train/reward/objects", "data/count/objects", "val/in_score", "val/out_score", "val/spatial/score",
        "val/chart/score",
    }
    assert expected <= scalars, sorted(expected - scalars)
    # Only the weighted domains were drawn: changing data.weights changes what training sees.
    assert "data/count/objects" in scalars and "data/count/spatial" not in scalars
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
    assert data["status"] == "ok" and data["weights"]["objects"] == 0.5 and data["in_score"] is not None


def test_killed_run_keeps_a_checkpoint_and_a_failed_record(tmp_path: Path) -> None:
    import signal
    import time

    cmd = [sys.executable, str(ROOT / "main.py"), "fit", "--config", str(ROOT / "configs" / "mix.yaml"),
           "--trainer.max_steps=1000", "--trainer.enable_progress_bar=false",
           "--model.init_args.generation.max_new_tokens=8", "--trainer.callbacks+=callbacks.CompletionSamples",
           "--trainer.callbacks.every_n_steps=1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = tmp_path / "runs" / "mix" / "version_0" / "samples.jsonl"
    deadline = time.monotonic() + 300
    while not samples.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert samples.exists(), "the run never finished a step"
    proc.send_signal(signal.SIGTERM)  # what a scheduler sends before it kills a job
    proc.communicate(timeout=120)
    interrupted = tmp_path / "runs" / "mix" / "version_0" / "checkpoints" / "interrupted.ckpt"
    assert interrupted.is_file()
    (record,) = (tmp_path / "runs" / "records").glob("*.json")
    assert json.loads(record.read_text())["status"] == "failed"
    assert samples.read_text().strip()  # samples written before the kill are still there
    # The next run from the same config starts fresh: it does not silently resume the killed one (it would
    # start at the killed run's step and, with max_steps=1, train nothing).
    subprocess.run([*cmd[:5], "--trainer.max_steps=1", "--trainer.enable_progress_bar=false",
                    "--model.init_args.generation.max_new_tokens=8", "--trainer.val_check_interval=1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    events = EventAccumulator(str(tmp_path / "runs" / "mix" / "version_1"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/reward")] == [0]
    assert interrupted.is_file()  # and the killed run's checkpoint is kept for an explicit --ckpt_path
