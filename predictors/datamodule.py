"""``RunRecordDataModule``: a directory of run records as one full batch.

A Gaussian process is fitted on all data at once, so every loader yields exactly one
element: the whole :class:`~predictors.table.RunTable`. The same table serves training,
validation (cross-validation happens inside the model) and prediction (the history from
which strategies propose new mixtures).
"""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from predictors.records import RecordSet, read_records
from predictors.table import RunTable, table_from_records


def _identity(batch: Any) -> Any:
    return batch


class RunRecordDataModule(LightningDataModule):
    """Reads run records and serves them as a single :class:`RunTable` batch.

    Args:
        record_dir: directory of ``*.json`` run records (see :mod:`predictors.records`).
        target: what to predict: ``out_score``, ``in_score``, a benchmark name, or a list of
            these (one independent GP each; the first one drives mixture proposals).
        min_records: fewest unique mixtures accepted; fewer is an error, since a surrogate
            fitted on them would be fiction.
    """

    def __init__(self, record_dir: str | os.PathLike[str], target: str | list[str] = "out_score", min_records: int = 3) -> None:
        super().__init__()
        self.record_dir = str(record_dir)
        self.targets: list[str] = [target] if isinstance(target, str) else list(target)
        if not self.targets:
            raise ValueError("target must name at least one quantity")
        if min_records < 1:
            raise ValueError(f"min_records must be >= 1, got {min_records}")
        self.min_records = min_records
        self.table: RunTable | None = None
        self.record_set: RecordSet | None = None

    def setup(self, stage: str) -> None:
        """Reads the records and builds the table (once).

        Raises:
            ValueError: fewer than ``min_records`` unique usable mixtures, or mixed domain sets.
        """
        if self.table is not None:
            return
        self.record_set = read_records(self.record_dir)
        table = table_from_records(self.record_set.records, self.targets)
        if table.n < self.min_records:
            raise ValueError(
                f"{self.record_dir!r} holds {table.n} unique usable mixture(s) for {self.targets}; "
                f"at least {self.min_records} are needed (skipped malformed: {len(self.record_set.skipped)})"
            )
        self.table = table

    def _loader(self) -> DataLoader:
        if self.table is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        return DataLoader([self.table], batch_size=None, collate_fn=_identity)

    def train_dataloader(self) -> DataLoader:
        """One batch: the whole table."""
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        """One batch: the whole table (the model cross-validates within it)."""
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        """One batch: the whole table, the history strategies propose from."""
        return self._loader()
