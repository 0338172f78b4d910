"""The source interface: where a domain's records come from (a generator, a hub dataset, local files)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Literal

from datamodules.sample import Record

if TYPE_CHECKING:
    from rewards.composite import VerifierSpec

Part = Literal["train", "eval"]


class BadSampleError(ValueError):
    """A record that cannot be used: missing field, missing or corrupt image, invalid ground truth.

    Sources raise it (or any ``KeyError``/``OSError``) from :meth:`SourceSplit.record`; the data
    module adds the domain and sample id to the message.
    """


class SourceSplit(ABC):
    """A sized, indexable part (train or eval) of a source; records are built on access."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of records in the part (before caps and skipped bad samples)."""

    @abstractmethod
    def record(self, index: int) -> Record:
        """Builds record ``index`` (``0 <= index < len(self)``).

        Raises:
            BadSampleError: If the stored example is unusable (the message names the field or file).
        """


class Source(ABC):
    """Base class of every data source; subclasses are selected by ``class_path`` in YAML."""

    @abstractmethod
    def split(self, part: Part) -> SourceSplit | None:
        """The training (``"train"``) or evaluation (``"eval"``) part, ``None`` if the source has none."""

    def default_verifiers(self) -> list[VerifierSpec]:
        """The paper's verifiers for this kind of data, used when a domain lists none.

        Raises:
            ValueError: If the source has no natural default (then the domain must list verifiers).
        """
        raise ValueError(f"{type(self).__name__} has no default verifiers; list them in the domain's `verifiers`")
