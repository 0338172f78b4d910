"""Run one planned run in a subprocess and make sure it leaves a record, even when it fails.

A run that crashes before its ``RunRecordCallback`` exists (a bad override, an import error), is
killed by the timeout, or ends without a record would otherwise leave nothing, and the search
would plan it again forever. Here every such run gets a ``failed`` record holding the reason
and the tail of its log, so the search moves on and the user sees why.

On a cluster each array task runs::

    python -m predictors.search.execute --plan runs/search/plan/seeds.json --run_id m-0123456789-r0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from predictors.records import RecordError, RunRecord, write_record
from predictors.search.plan import PlannedRun, StagePlans

LOG_TAIL_CHARS = 2000


def record_path(run: PlannedRun) -> Path:
    """Where ``run``'s record is (or will be)."""
    return Path(run.record_dir) / f"{run.run_id}.json"


def read_run_record(run: PlannedRun) -> RunRecord | None:
    """The record of ``run``, or None if it has none (or an unreadable one)."""
    path = record_path(run)
    if not path.is_file():
        return None
    try:
        return RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecordError):
        return None


def log_tail(path: str | os.PathLike[str], chars: int = LOG_TAIL_CHARS) -> str:
    """The last ``chars`` characters of a log file ('' if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - chars))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def execute_run(run: PlannedRun, timeout_s: float | None = None, env: dict[str, str] | None = None) -> RunRecord:
    """Runs ``run.command``, waits at most ``timeout_s`` and returns its record.

    Args:
        run: the planned run (command, record directory, log path).
        timeout_s: seconds before the process is terminated (then killed) and the run recorded as failed.
        env: the subprocess environment; the current one when None.

    Returns:
        The run's own record if it succeeded, else the ``failed`` record written here.
    """
    Path(run.log_path).parent.mkdir(parents=True, exist_ok=True)
    started = os.times().elapsed
    reason: str | None = None
    with open(run.log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(run.command) + "\n")
        log.flush()
        try:
            proc = subprocess.Popen(run.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        except OSError as err:  # e.g. the interpreter does not exist
            reason = f"could not start: {err}"
        else:
            try:
                code = proc.wait(timeout=timeout_s)
                if code != 0:
                    reason = f"exited with code {code}"
            except subprocess.TimeoutExpired:
                proc.terminate()  # SIGTERM lets Lightning write its failed record; SIGKILL if it will not stop
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                reason = f"timed out after {timeout_s:g} s (run_timeout_s)"
            except BaseException:  # the driver is interrupted: do not leave the run behind
                proc.kill()
                proc.wait()
                raise
    own = read_run_record(run)
    if reason is None and own is not None and own.status == "ok":
        return own
    if reason is None:
        reason = "finished without an ok record" if own is None else "the run recorded a failure"
    own_error = f"; the run's own error: {own.error}" if own is not None and own.error else ""
    failed = RunRecord(
        weights=dict(run.weights),
        status="failed",
        error=f"{reason}{own_error}\n--- log tail ({run.log_path}) ---\n{log_tail(run.log_path)}",
        stage="val",
        run_id=run.run_id,
        config={"search": {"stage": run.stage, "origin": run.origin, "repeat": run.repeat}, "command": run.command},
        duration_s=os.times().elapsed - started,
    )
    write_record(failed, run.record_dir)
    return failed


def main(argv: list[str] | None = None) -> int:
    """Entry point of a cluster task: run one run of a stored stage plan."""
    parser = argparse.ArgumentParser(description="Run one planned run of a mixture search and record it.")
    parser.add_argument("--plan", required=True, help="a stage plan file (search_dir/plan/<stage>.json)")
    parser.add_argument("--run_id", required=True, help="the run's id in that plan")
    parser.add_argument("--timeout_s", type=float, default=None, help="kill the run after this many seconds")
    args = parser.parse_args(argv)
    plan_path = Path(args.plan)
    runs = StagePlans(plan_path.parent).load(plan_path.stem) or []
    matches = [r for r in runs if r.run_id == args.run_id]
    if not matches:
        raise SystemExit(f"run {args.run_id!r} is not in plan {args.plan!r} (it has {[r.run_id for r in runs]})")
    record = execute_run(matches[0], args.timeout_s)
    print(f"{record.run_id}: {record.status}" + (f" ({record.error.splitlines()[0]})" if record.error else ""))
    return 0 if record.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
