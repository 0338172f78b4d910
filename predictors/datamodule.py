"""``RunRecordDataModule``: a directory of run records as one full batch.

A Gaussian process is fitted on all data at once, so every loader yields exactly one
element: the whole :class:`~predictors.run_table.RunTable`. The same table serves training,
validation (cross-validation happens inside the model) and prediction (the history from
which strategies propose new mixtures). Records of different kinds of run (evaluation stage and
sets, base model) are refused before any fit, different step counts are a warning
(:mod:`predictors.comparability`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from predictors.comparability import check_comparable
from predictors.records import RecordSet, read_records
from predictors.run_table import RunTable, table_from_records

#: What to run when a directory holds too few mixtures: the paper's 2m + 1 seed runs.
SEED_COMMAND = "python -m predictors.search --config configs/search.yaml --stop_after seeds"


def _only(batch: list[Any]) -> Any:
    return batch[0]


class RunRecordDataModule(LightningDataModule):
    """Reads run records and serves them as a single :class:`RunTable` batch.

    Args:
        record_dir: directory of ``*.json`` run records (see :mod:`predictors.records`).
        target: what to predict: ``out_score``, ``in_score``, a benchmark name, or a list of
            these (one independent GP each; the first one drives mixture proposals).
        min_records: fewest unique mixtures accepted; fewer is an error, since a surrogate
            fitted on them would be fiction.
        allow_mixed: pool records of different kinds of run (evaluation stage or sets, base model)
            with a warning instead of refusing them; different step counts are always only a warning.
    """

    def __init__(
        self,
        record_dir: str | os.PathLike[str],
        target: str | list[str] = "out_score",
        min_records: int = 3,
        allow_mixed: bool = False,
    ) -> None:
        super().__init__()
        self.record_dir = str(record_dir)
        self.targets: list[str] = [target] if isinstance(target, str) else list(target)
        if not self.targets:
            raise ValueError("target must name at least one quantity")
        if min_records < 1:
            raise ValueError(f"min_records must be >= 1, got {min_records}")
        self.min_records = min_records
        self.allow_mixed = allow_mixed
        self.table: RunTable | None = None
        self.record_set: RecordSet | None = None

    def setup(self, stage: str) -> None:
        """Reads the records and builds the table (once).

        Raises:
            ValueError: fewer than ``min_records`` unique usable mixtures (the message says how to get
                more), mixed domain sets, or records of different kinds of run.
        """
        if self.table is not None:
            return
        self.record_set = read_records(self.record_dir)
        records = self.record_set.records
        n = len({tuple(sorted(r.weights.items())) for r in records if r.status == "ok"})
        if n < self.min_records:  # before anything else: the most common first error, and its fix
            raise ValueError(
                f"{self.record_dir!r} holds {n} unique usable mixture(s); at least {self.min_records} are needed "
                f"(skipped malformed: {len(self.record_set.skipped)}). Train the seed mixtures (each domain alone, "
                f"each left out, uniform) with `{SEED_COMMAND}`, then fit on their records: "
                f"--data.init_args.record_dir runs/search/records"
            )
        for message in check_comparable(records, self.record_dir, self.allow_mixed):
            warnings.warn(message, stacklevel=2)
        table = table_from_records(records, self.targets)
        if table.n < self.min_records:
            raise ValueError(
                f"{self.record_dir!r} holds {table.n} unique mixture(s) with a finite {self.targets}; at least "
                f"{self.min_records} are needed"
            )
        self.table = table

    def _loader(self) -> DataLoader:
        if self.table is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        # batch_size=1 with an unwrapping collate (not batch_size=None): Lightning's prediction writer then
        # knows the batch indices.
        return DataLoader([self.table], batch_size=1, collate_fn=_only)

    def train_dataloader(self) -> DataLoader:
        """One batch: the whole table."""
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        """One batch: the whole table (the model cross-validates within it)."""
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        """One batch: the whole table, the history strategies propose from."""
        return self._loader()
