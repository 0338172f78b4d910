"""The search loop: seeds -> heuristics -> (fit GP -> propose a batch -> run it) x rounds -> confirm -> report.

State lives on disk only (:mod:`predictors.search.state`): a stage is planned once
(:mod:`predictors.search.stages`) and its plan stored before its runs start; a run with a record is done.
Running the driver again therefore resumes a killed search, or continues one whose runs were handed to
Slurm, without repeating any run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from predictors.search.config import SearchConfig
from predictors.search.launchers import Launcher, LocalLauncher, SlurmLauncher
from predictors.search.replicates import recommend
from predictors.search.stages import StagePlanner
from predictors.search.state import BASE_RUN_ID, SearchError, SearchState
from predictors.search.summary import SearchSummary, find_uniform, gp_findings, group_by_mixture

__all__ = ["BASE_RUN_ID", "MixtureSearch", "SearchError", "SearchOutcome"]

#: Settings that fix the seed stage's runs (which mixtures, seeds and training): a search folder keeps its stored
#: plans, so a rerun that changed one of these would silently run the old design. The others (launcher,
#: parallelism, ``stop_after``, later stages' options) may change when resuming.
PLAN_KEYS = ("base_config", "target", "domains", "seed_design", "extra_mixtures", "repeats", "run_seed",
             "max_steps", "overrides", "drop_callbacks")


@dataclass
class SearchOutcome:
    """What one invocation of the driver did.

    Attributes:
        status: ``done`` (report written) or ``waiting`` (runs handed to a scheduler).
        launched: ids of the runs started (or handed off) by this invocation.
        report: the Markdown report, when done.
        script: the scheduler script written, when waiting.
    """

    status: Literal["done", "waiting"]
    launched: list[str] = field(default_factory=list)
    report: Path | None = None
    script: Path | None = None


class MixtureSearch(SearchState):
    """Drives one mixture search described by a :class:`SearchConfig`: its state on disk
    (:class:`~predictors.search.state.SearchState`), a planner per stage (``planner``) and a launcher.

    Args:
        config: the search configuration.
        launcher: overrides the launcher the config names (tests, custom schedulers).

    Raises:
        SearchError: fewer than 2 domains, or a heuristic that cannot be built (before any run).
    """

    def __init__(self, config: SearchConfig, launcher: Launcher | None = None) -> None:
        super().__init__(config)
        self.planner = StagePlanner(self)
        self.launcher = launcher or self._default_launcher()

    def _default_launcher(self) -> Launcher:
        c = self.config
        if c.launcher == "slurm":
            return SlurmLauncher(self.dir / "slurm", c.slurm, c.max_parallel, c.run_timeout_s)
        return LocalLauncher(c.max_parallel, c.run_timeout_s, c.threads_per_run)

    def summarize(self) -> SearchSummary:
        """The search's results and what the final GP says about them.

        Raises:
            SearchError: no successful run.
        """
        c, records = self.config, self.records()
        results = group_by_mixture(records, self.domains, c.target)
        if not results:
            raise SearchError(f"no successful run in {str(self.records_dir)!r}; nothing to report")
        uniform, min_runs = find_uniform(results), self.planner.min_runs()
        summary = SearchSummary(
            search_dir=str(self.dir), base_config=c.base_config, target=c.target, domains=list(self.domains),
            decimals=c.decimals, records=records, results=results, best=recommend(results, min_runs), uniform=uniform,
            min_runs=min_runs, base=self.base_record(),
            failed=[r for r in records if r.status == "failed"], means=list(c.gp.means), noise_floor=c.gp.noise_floor,
        )  # fmt: skip
        try:
            table = self.table(records)  # the records read above: one read, one table for the sd and the GP
            sd = table.replicate_sd()
            summary.replicate_sd = None if sd is None else (float(sd[0]), table.noise_dof)
            summary.gp = gp_findings(self.fit_surrogate(table), table, summary.best, uniform)
        except (
            SearchError,
            ValueError,
            RuntimeError,
        ) as err:  # the report must still come out; it says why the GP is missing
            summary.gp_error = str(err)
        return summary

    def check_same_design(self) -> None:
        """Refuses to resume a search folder whose stored plans were made with other :data:`PLAN_KEYS` settings.

        Raises:
            SearchError: naming each changed setting, its stored and its requested value.
        """
        stored_path = self.dir / "search_config.json"
        if not stored_path.is_file() or self.plans.load("seeds") is None:
            return
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
        current = _as_json(self.config)
        assert isinstance(current, dict)
        changed = [f"{k}: {stored.get(k)!r} there, {current[k]!r} now"
                   for k in PLAN_KEYS if stored.get(k) != current[k]]
        if changed:
            raise SearchError(
                f"{str(self.dir)!r} holds a search planned with other settings ({'; '.join(changed)}); its stored "
                "plans would be rerun as they are. Give this design its own --search_dir, or rerun with the stored "
                f"settings ({stored_path})"
            )

    # ------------------------------------------------------------------ loop
    def run(self) -> SearchOutcome:
        """Runs (or resumes) the search; returns after the report, or when runs were handed off."""
        self.check_record_dir()
        self.check_same_design()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "search_config.json").write_text(json.dumps(_as_json(self.config), indent=2), encoding="utf-8")
        launched: list[str] = []
        for stage in self.planner.stage_names():
            plan = self.plans.load(stage)
            if plan is None:
                plan = self.planner.plan_stage(stage)
                self.plans.save(stage, plan)
            pending = [r for r in plan if self.is_pending(r)]
            if not pending:
                continue
            launched += [r.run_id for r in pending]
            if not self.launcher.launch(stage, self.plans.path(stage), pending):
                return SearchOutcome("waiting", launched, script=getattr(self.launcher, "last_script", None))
        from predictors.search.report import write_report  # matplotlib only when reporting

        return SearchOutcome("done", launched, report=write_report(self.summarize(), self.dir))


def _as_json(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _as_json(getattr(value, k)) for k in value.__dataclass_fields__}  # type: ignore[attr-defined]
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    return value
