"""The ``main.py`` command line of each search run: the base config plus the search's overrides.

The run record of a search run must land in the search's record directory under the search's
run id. The base config's own ``RunRecordCallback`` (if any) would write elsewhere under a random
id, so the callback list is passed whole on the command line: the base config's callbacks minus
that one (and minus ``drop_callbacks``), plus a ``RunRecordCallback`` for this run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from predictors.search.config import SearchConfig
from predictors.search.plan import PlannedRun, base_callbacks, base_logger

RECORD_CALLBACK = "callbacks.RunRecordCallback"
BASE_RECORDER = "callbacks.base_score.BaseScoreRecorder"


def _class_name(entry: Any) -> str:
    path = entry.get("class_path", "") if isinstance(entry, dict) else str(entry)
    return path.rsplit(".", 1)[-1]


def callback_arguments(config: SearchConfig, recorder: dict[str, Any], drop: set[str]) -> list[str]:
    """Arguments that set the callback list of a run: the base config's, filtered, plus ``recorder``."""
    listed = base_callbacks(config.base_config)
    if listed is None:  # the base config lists no callbacks: append ours to whatever the defaults are
        args = [f"--trainer.callbacks+={recorder['class_path']}"]
        return args + [f"--trainer.callbacks.{k}={json.dumps(v)}" for k, v in recorder["init_args"].items()]
    kept = [c for c in listed if _class_name(c) not in drop]
    return [f"--trainer.callbacks={json.dumps([*kept, recorder])}"]


def _common(config: SearchConfig, run: PlannedRun) -> list[str]:
    logs = Path(config.search_dir) / "logs"
    args = [f"--trainer.default_root_dir={logs / run.run_id}"]
    if base_logger(config.base_config) is not None:
        args += [f"--trainer.logger.init_args.save_dir={logs}", f"--trainer.logger.init_args.name={run.run_id}"]
    return args


def fit_command(config: SearchConfig, run: PlannedRun) -> list[str]:
    """``python main.py fit --config <base> --data.init_args.weights {...} ...`` for one training run."""
    recorder = {
        "class_path": RECORD_CALLBACK,
        "init_args": {
            "dirpath": run.record_dir,
            "run_id": run.run_id,
            "config": {"search": {"stage": run.stage, "origin": run.origin, "repeat": run.repeat}},
        },
    }
    steps = (
        []
        if config.max_steps is None
        else [f"--trainer.max_steps={config.max_steps}", f"--trainer.val_check_interval={config.max_steps}"]
    )
    return [
        config.python or sys.executable, config.main_script, "fit", "--config", config.base_config,
        f"--seed_everything={config.run_seed + run.repeat}",
        f"--data.init_args.weights={json.dumps(run.weights)}",
        *steps,
        *_common(config, run),
        *callback_arguments(config, recorder, {"RunRecordCallback", *config.drop_callbacks}),
        *config.overrides,
    ]  # fmt: skip


def validate_command(config: SearchConfig, run: PlannedRun) -> list[str]:
    """``python main.py validate --config <base> ...``: the base model's scores, no training."""
    recorder = {"class_path": BASE_RECORDER, "init_args": {"dirpath": run.record_dir, "run_id": run.run_id}}
    # Training-only overrides (steps) do not apply; evaluation caps in `overrides` do.
    return [
        config.python or sys.executable, config.main_script, "validate", "--config", config.base_config,
        f"--seed_everything={config.run_seed}",
        *_common(config, run),
        *callback_arguments(config, recorder, {"RunRecordCallback", *config.drop_callbacks}),
        *config.overrides,
    ]  # fmt: skip
