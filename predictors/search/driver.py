"""The search loop: seeds -> heuristics -> (fit GP -> propose a batch -> run it) x rounds -> confirm -> report.

State lives on disk only (``search_dir``): a stage is planned once and its plan stored before its
runs start; a run with a record is done. Running the driver again therefore resumes a killed
search, or continues one whose runs were handed to Slurm, without repeating any run.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from predictors.comparability import check_comparable
from predictors.gp import GPSurrogate, fit_gp
from predictors.records import RunRecord, read_records
from predictors.run_table import RunTable, table_from_records
from predictors.search.commands import fit_command, validate_command
from predictors.search.config import SearchConfig, StrategySpec
from predictors.search.execute import read_run_record
from predictors.search.launchers import Launcher, LocalLauncher, SlurmLauncher
from predictors.search.plan import (
    PlannedRun,
    StagePlans,
    check_simplex,
    domains_from_config,
    make_run_id,
    round_mixture,
)
from predictors.search.replicates import recommend
from predictors.search.summary import SearchSummary, find_uniform, gp_findings, group_by_mixture
from predictors.strategies import BayesOptBatch, ProposalStrategy, build_strategy, seed_mixtures

BASE_RUN_ID = "base"


class SearchError(RuntimeError):
    """The search cannot go on (the message says why and what to do)."""


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


class MixtureSearch:
    """Drives one mixture search described by a :class:`SearchConfig`.

    Args:
        config: the search configuration.
        launcher: overrides the launcher the config names (tests, custom schedulers).
    """

    def __init__(self, config: SearchConfig, launcher: Launcher | None = None) -> None:
        self.config = config
        self.dir = Path(config.search_dir)
        self.records_dir = self.dir / "records"
        self.base_dir = self.dir / "base"
        self.plans = StagePlans(self.dir / "plan")
        self.domains = list(config.domains) if config.domains else domains_from_config(config.base_config)
        if len(self.domains) < 2:
            raise SearchError(f"a mixture needs at least 2 training domains, got {self.domains}")
        # Built now, so a misspelt heuristic or option stops the search before any run.
        self.heuristics: list[tuple[StrategySpec, ProposalStrategy]] = []
        for spec in config.heuristics:
            try:
                self.heuristics.append((spec, build_strategy(spec.name, **spec.options)))
            except (KeyError, ValueError, TypeError) as err:
                raise SearchError(f"heuristic {spec.name!r}: {err}") from err
            if self.heuristics[-1][1].needs_surrogate:
                raise SearchError(
                    f"heuristic {spec.name!r} needs a surrogate; heuristics run before the GP (use rounds)"
                )
        self.launcher = launcher or self._default_launcher()

    def _default_launcher(self) -> Launcher:
        c = self.config
        if c.launcher == "slurm":
            return SlurmLauncher(self.dir / "slurm", c.slurm, c.max_parallel, c.run_timeout_s)
        return LocalLauncher(c.max_parallel, c.run_timeout_s, c.threads_per_run)

    # ----------------------------------------------------------------- state
    def check_record_dir(self) -> None:
        """Refuses a record directory holding runs over another domain set or of another kind of run."""
        if not self.records_dir.is_dir():
            return
        found = read_records(self.records_dir, warn=True)
        ours = sorted(self.domains)
        for record in found.records:
            if sorted(record.weights) != ours:
                raise SearchError(
                    f"record directory {str(self.records_dir)!r} holds run {record.run_id!r} over domains "
                    f"{sorted(record.weights)}, but this search is over {ours}; use another search_dir"
                )
        try:
            # The step counts of one search's runs differ only where a drawn domain ran out: not worth a warning here.
            check_comparable(found.records, str(self.records_dir))
        except ValueError as err:
            raise SearchError(f"{err}; use another search_dir for a search with other settings") from err

    def records(self) -> list[RunRecord]:
        """Every record of this search's record directory."""
        return read_records(self.records_dir, warn=False).records if self.records_dir.is_dir() else []

    def table(self, records: Sequence[RunRecord] | None = None) -> RunTable:
        """The successful runs as a :class:`RunTable` on the search's target, columns in search order.

        Args:
            records: the records to tabulate; None reads the record directory.
        """
        try:
            records = self.records() if records is None else records
            return table_from_records(records, [self.config.target], self.domains)
        except ValueError as err:
            raise SearchError(f"no usable run to learn from in {str(self.records_dir)!r}: {err}") from err

    def is_pending(self, run: PlannedRun) -> bool:
        """Whether ``run`` still has to run (no record; or a failed one with ``retry_failed``)."""
        record = read_run_record(run)
        return record is None or (self.config.retry_failed and record.status == "failed")

    def base_record(self) -> RunRecord | None:
        """The base model's record, if it was evaluated."""
        return read_run_record(PlannedRun(BASE_RUN_ID, {}, 0, "seeds", "base", record_dir=str(self.base_dir)))

    # -------------------------------------------------------------- planning
    def stage_names(self) -> list[str]:
        """The stages in order: ``seeds``, ``heuristics`` (if any), ``round_1`` ... ``round_<rounds>``, ``confirm``
        (if ``confirm.top`` > 0).

        The list ends at ``stop_after`` when that is set.
        """
        names = [
            "seeds",
            *(["heuristics"] if self.config.heuristics else []),
            *(f"round_{r}" for r in range(1, self.config.rounds + 1)),
            *(["confirm"] if self.config.confirm.top > 0 else []),
        ]
        stop = self.config.stop_after
        return names[: names.index(stop) + 1] if stop in names else names

    def _run(self, weights: dict[str, float], repeat: int, stage: str, origin: str) -> PlannedRun:
        run_id = make_run_id(weights, self.domains, repeat, self.config.decimals)
        run = PlannedRun(
            run_id,
            weights,
            repeat,
            stage,
            origin,
            record_dir=str(self.records_dir),
            log_path=str(self.dir / "logs" / f"{run_id}.log"),
        )
        run.command = fit_command(self.config, run)
        return run

    def proposals_to_runs(
        self, rows: Tensor | Sequence[dict[str, float]], stage: str, origin: str, taken: set[str]
    ) -> list[PlannedRun]:
        """Turns proposed mixtures into runs; a mixture already planned gets the next repeat index.

        Args:
            rows: ``k x d`` mixtures (columns in ``self.domains`` order) or mappings domain -> weight.
            stage: the planning stage.
            origin: the proposer's name (kept in the record).
            taken: run ids already planned; updated.

        Raises:
            SimplexError: a proposal is not on the simplex (the message names the proposer).
        """
        runs = []
        for row in rows:
            values = row if isinstance(row, dict) else torch.as_tensor(row).tolist()  # check_simplex names a bad row
            mixture = values if isinstance(values, dict) else dict(zip(self.domains, values, strict=False))
            weights = round_mixture(
                check_simplex(mixture, self.domains, f"mixture proposed by {origin}"),
                self.domains,
                self.config.decimals,
            )
            repeat = 0
            while make_run_id(weights, self.domains, repeat, self.config.decimals) in taken:
                repeat += 1
            run = self._run(weights, repeat, stage, origin)
            taken.add(run.run_id)
            runs.append(run)
        return runs

    def plan_stage(self, stage: str) -> list[PlannedRun]:
        """Plans ``stage`` from the records so far."""
        taken = {r.run_id for r in self.plans.all_runs()}
        if stage == "seeds":
            return self._plan_seeds(taken)
        if stage == "heuristics":
            return self._plan_heuristics(taken)
        if stage == "confirm":
            return self._plan_confirm(taken)
        return self._plan_round(int(stage.split("_")[1]), taken)

    def _plan_seeds(self, taken: set[str]) -> list[PlannedRun]:
        c, runs = self.config, []
        if c.base_eval:
            base = PlannedRun(
                BASE_RUN_ID,
                {},
                0,
                "seeds",
                "base",
                kind="validate",
                record_dir=str(self.base_dir),
                log_path=str(self.dir / "logs" / "base.log"),
            )
            base.command = validate_command(c, base)
            runs.append(base)
        kinds = set(c.seed_design)
        d = len(self.domains)
        designs = []
        for kind in ("single", "exclude_one", "uniform"):
            if kind in kinds and not (kind == "exclude_one" and d < 3):  # with 2 domains exclude-one = single
                designs += [
                    (kind, row) for row in seed_mixtures(d, kind == "single", kind == "exclude_one", kind == "uniform")
                ]
        designs += [("extra", m) for m in c.extra_mixtures]
        for _ in range(c.repeats):  # each pass plans one more repeat of every seed mixture
            for origin, row in designs:
                runs += self.proposals_to_runs([row], "seeds", origin, taken)
        return runs

    def _plan_heuristics(self, taken: set[str]) -> list[PlannedRun]:
        table, runs = self.table(), []
        for spec, strategy in self.heuristics:
            try:
                rows = strategy.propose(table)
            except ValueError as err:  # e.g. the uniform run failed: skip this heuristic, say why
                warnings.warn(f"heuristic {spec.name!r} proposes nothing: {err}", stacklevel=2)
                continue
            label = spec.name + "".join(f",{k}={v}" for k, v in sorted(spec.options.items()))
            runs += self.proposals_to_runs(rows, "heuristics", label, taken)
        return runs

    def _plan_round(self, round_index: int, taken: set[str]) -> list[PlannedRun]:
        table = self.table()
        surrogate = self.fit_surrogate(table)
        p = self.config.proposal
        strategy = BayesOptBatch(
            p.q, p.acquisition, p.beta, p.pool_size, p.num_restarts, p.raw_samples, seed=p.seed + round_index
        )
        origin = "bayes_opt" if len(self.config.gp.means) == 1 else f"bayes_opt (mean {surrogate.mean})"
        return self.proposals_to_runs(strategy.propose(table, surrogate), f"round_{round_index}", origin, taken)

    def _plan_confirm(self, taken: set[str]) -> list[PlannedRun]:
        # Ranked by observed mean, not by the GP: at a dozen runs the GP rarely ranks better than the runs
        # themselves, and replicating what was observed is what removes a lucky seed.
        c = self.config.confirm
        results = group_by_mixture(self.records(), self.domains, self.config.target)
        chosen = [(m, "confirm") for m in results[: c.top]]
        uniform = find_uniform(results)
        if c.uniform and uniform is not None and all(m is not uniform for m, _ in chosen):
            chosen.append((uniform, "confirm (uniform)"))
        runs = []
        for m, label in chosen:
            runs += self.proposals_to_runs([m.weights] * max(0, c.runs - m.runs), "confirm", label, taken)
        return runs

    def min_runs(self) -> int:
        """Runs a mixture needs to be recommended: ``confirm.runs`` once the confirm stage is planned, else 1."""
        confirmed = "confirm" in self.stage_names() and self.plans.load("confirm") is not None
        return self.config.confirm.runs if confirmed else 1

    def fit_surrogate(self, table: RunTable) -> GPSurrogate:
        """The GP on ``table``, as ``GPPredictor`` fits it (:func:`predictors.gp.fit_gp` with ``gp``).

        Its mean is chosen from the records' stages (each stage forecast from those before it), so a
        resumed search chooses as the uninterrupted one would.

        Raises:
            SearchError: fewer than 2 distinct successful mixtures.
        """
        if table.n < 2:
            raise SearchError(
                f"the GP needs at least 2 distinct successful mixtures, have {table.n}; "
                f"see the failed runs' errors in {str(self.records_dir)!r}"
            )
        return fit_gp(table, self.config.gp)

    def summarize(self) -> SearchSummary:
        """The search's results and what the final GP says about them.

        Raises:
            SearchError: no successful run.
        """
        c, records = self.config, self.records()
        results = group_by_mixture(records, self.domains, c.target)
        if not results:
            raise SearchError(f"no successful run in {str(self.records_dir)!r}; nothing to report")
        uniform, min_runs = find_uniform(results), self.min_runs()
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

    # ------------------------------------------------------------------ loop
    def run(self) -> SearchOutcome:
        """Runs (or resumes) the search; returns after the report, or when runs were handed off."""
        self.check_record_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "search_config.json").write_text(json.dumps(_as_json(self.config), indent=2), encoding="utf-8")
        launched: list[str] = []
        for stage in self.stage_names():
            plan = self.plans.load(stage)
            if plan is None:
                plan = self.plan_stage(stage)
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
