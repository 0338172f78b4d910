"""Where a stage's pending runs go: local subprocesses, or a Slurm job array.

Both launch the same thing per run, :func:`predictors.search.execute.execute_run`: the
``main.py`` command in a subprocess, with a ``failed`` record when it crashes or times out.
The search keeps no state in memory between launches; a launcher only has to make the records
appear (``local``: now; ``slurm``: when the jobs have run, after which the user reruns the driver).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from predictors.records import RunRecord
from predictors.search.config import SlurmOptions
from predictors.search.execute import execute_run
from predictors.search.plan import PlannedRun


class Launcher(Protocol):
    """Starts a stage's pending runs."""

    def launch(self, stage: str, plan_path: Path, runs: Sequence[PlannedRun]) -> bool:
        """Starts ``runs``; True when they all have records on return, False when they were handed off."""
        ...


def _say(message: str) -> None:
    print(f"[search] {message}", file=sys.stderr, flush=True)


def describe(record: RunRecord) -> str:
    """One line about a finished run."""
    if record.status == "ok":
        return f"ok: in_score={record.in_score} out_score={record.out_score} ({record.duration_s or 0:.0f} s)"
    return "FAILED: " + (record.error or "").splitlines()[0]


class LocalLauncher:
    """Runs the pending runs here, ``max_parallel`` processes at a time, and waits for them.

    Args:
        max_parallel: processes at once.
        timeout_s: per-run time limit (None: none).
        threads_per_run: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of each run, so parallel runs do
            not oversubscribe the cores; None leaves the environment as it is.
        on_finish: called with each finished run and its record (progress reporting).
    """

    def __init__(
        self,
        max_parallel: int = 1,
        timeout_s: float | None = None,
        threads_per_run: int | None = None,
        on_finish: Callable[[PlannedRun, RunRecord], None] | None = None,
    ) -> None:
        self.max_parallel, self.timeout_s, self.threads_per_run = max_parallel, timeout_s, threads_per_run
        self.on_finish = on_finish

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.threads_per_run is not None:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = str(self.threads_per_run)
        return env

    def _one(self, run: PlannedRun) -> RunRecord:
        _say(f"{run.stage}: start {run.run_id} {run.kind} ({run.origin}) {run.weights}")
        record = execute_run(run, self.timeout_s, self._env())
        _say(f"{run.stage}: {run.run_id} {describe(record)}")
        if self.on_finish is not None:
            self.on_finish(run, record)
        return record

    def launch(self, stage: str, plan_path: Path, runs: Sequence[PlannedRun]) -> bool:
        """Runs all of ``runs`` and returns True."""
        if self.max_parallel == 1:
            for run in runs:
                self._one(run)
            return True
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            list(pool.map(self._one, runs))  # list() re-raises a driver-side error from any worker
        return True


class SlurmLauncher:
    """Writes a job-array script with one line per pending run and hands off (returns False).

    The script's array task ``i`` runs line ``i`` through ``python -m predictors.search.execute``,
    which records a failure if the run crashes. Submit it with ``sbatch``; when the array has
    finished, rerun the search command: it reads the records and continues.

    Args:
        script_dir: where scripts go (``<stage>.sbatch``).
        options: ``#SBATCH`` header, job name and interpreter.
        max_parallel: the array's ``%`` concurrency limit.
        timeout_s: per-run limit passed to the executor (Slurm's ``--time`` still applies to the task).
        workdir: the directory tasks ``cd`` into (where the driver runs; paths in the plan are relative to it).
    """

    def __init__(
        self,
        script_dir: Path,
        options: SlurmOptions,
        max_parallel: int = 1,
        timeout_s: float | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.script_dir, self.options, self.max_parallel, self.timeout_s = (
            Path(script_dir),
            options,
            max_parallel,
            timeout_s,
        )
        self.workdir = Path(workdir or Path.cwd()).resolve()
        self.last_script: Path | None = None

    def script(self, stage: str, plan_path: Path, runs: Sequence[PlannedRun]) -> str:
        """The text of the job-array script for ``runs``."""
        py = self.options.python
        timeout = [] if self.timeout_s is None else ["--timeout_s", f"{self.timeout_s:g}"]
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={self.options.job_name}-{stage}",
            f"#SBATCH --array=0-{len(runs) - 1}%{self.max_parallel}",
            f"#SBATCH --output={self.script_dir / 'slurm-%A_%a.out'}",
            *(f"#SBATCH {opt}" for opt in self.options.header),
            f"# Mixture search stage {stage!r}: {len(runs)} pending run(s). "
            f"Submit: sbatch {self.script_dir / (stage + '.sbatch')}",
            "# Afterwards rerun the search command; it continues from the runs' records.",
            "set -euo pipefail",
            f"cd {shlex.quote(str(self.workdir))}",
            'case "$SLURM_ARRAY_TASK_ID" in',
        ]
        for i, run in enumerate(runs):
            cmd = [py, "-m", "predictors.search.execute", "--plan", str(plan_path), "--run_id", run.run_id, *timeout]
            lines.append(f"  {i}) {shlex.join(cmd)} ;;  # {run.kind} {json_weights(run)}")
        lines += ['  *) echo "no run for task $SLURM_ARRAY_TASK_ID" >&2; exit 1 ;;', "esac", ""]
        return "\n".join(lines)

    def launch(self, stage: str, plan_path: Path, runs: Sequence[PlannedRun]) -> bool:
        """Writes ``<script_dir>/<stage>.sbatch`` and returns False (the runs happen later)."""
        self.script_dir.mkdir(parents=True, exist_ok=True)
        path = self.script_dir / f"{stage}.sbatch"
        path.write_text(self.script(stage, plan_path, runs), encoding="utf-8")
        path.chmod(0o755)
        self.last_script = path
        _say(
            f"{stage}: wrote {path} with {len(runs)} pending run(s); "
            f"submit it with `sbatch {path}`, then rerun this command"
        )
        return False


def json_weights(run: PlannedRun) -> str:
    """The mixture as a compact one-line string (for comments and logs)."""
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in run.weights.items()) + "}"
