"""A search's state on disk: its directory, its stage plans and the records its runs wrote.

Nothing else is kept between invocations, which is what lets a killed search resume and a search handed to
Slurm continue: a stage is planned once and its plan stored before its runs start; a run with a record is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from predictors.comparability import check_comparable
from predictors.gp import GPSurrogate, fit_gp
from predictors.records import RunRecord, read_records
from predictors.run_table import RunTable, table_from_records
from predictors.search.config import SearchConfig
from predictors.search.execute import read_run_record
from predictors.search.plan import PlannedRun, StagePlans, domains_from_config

BASE_RUN_ID = "base"


class SearchError(RuntimeError):
    """The search cannot go on (the message says why and what to do)."""


class SearchState:
    """The directory of one search (``search_dir``) and what it holds.

    Layout: ``records/`` (one record per run), ``base/`` (the base model's evaluation), ``plan/`` (one plan per
    stage), ``logs/`` (one log per run).

    Args:
        config: the search configuration.

    Raises:
        SearchError: fewer than 2 training domains.
    """

    def __init__(self, config: SearchConfig) -> None:
        self.config = config
        self.dir = Path(config.search_dir)
        self.records_dir = self.dir / "records"
        self.base_dir = self.dir / "base"
        self.plans = StagePlans(self.dir / "plan")
        self.domains = list(config.domains) if config.domains else domains_from_config(config.base_config)
        if len(self.domains) < 2:
            raise SearchError(f"a mixture needs at least 2 training domains, got {self.domains}")

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

    def base_run(self) -> PlannedRun:
        """The base model's evaluation as a run (its command is set by the planner)."""
        return PlannedRun(
            BASE_RUN_ID,
            {},
            0,
            "seeds",
            "base",
            kind="validate",
            record_dir=str(self.base_dir),
            log_path=str(self.dir / "logs" / "base.log"),
        )

    def base_record(self) -> RunRecord | None:
        """The base model's record, if it was evaluated."""
        return read_run_record(self.base_run())

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
