"""A domain of the mixture: a named source, its prompt template, its verifiers and its role."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datamodules.sample import DEFAULT_PROMPT_TEMPLATE, PROMPT_SUFFIX, Record, Role, Sample
from datamodules.sources.base import Source
from rewards.composite import VerifierSpec


@dataclass
class Domain:
    """One domain of the mixture (a training domain, or an evaluation-only benchmark).

    Args:
        name: Unique name; key of ``weights`` and of ``rewards``, and the benchmark name in logs.
        source: Where the records come from (a synthetic generator, a hub dataset, local files).
        role: ``"train"``: a training domain with a train part and an in-domain eval part;
            ``"in"``: an in-domain evaluation set only; ``"out"``: an out-of-domain evaluation set only.
        verifiers: Verifiers with weights, passed to ``rewards.composite.DomainReward``, each as
            ``{name, weight, options}`` or ``{class_path, init_args, weight}``; ``None`` uses the source's defaults
            (the paper's: format 1.0 plus accuracy or IoU 2.0).
        format_gate: If True, a completion that fails the format verifier scores 0 on the others too.
        prompt_template: ``str.format`` template with a ``{question}`` field. A question that already
            ends with the paper's suffix does not get it twice.
        max_samples: Cap on the training part (the first ``max_samples`` records); ``None``: all.
        eval_max_samples: Cap on the evaluation part; ``None``: all.
    """

    name: str
    source: Source
    role: Role = "train"
    verifiers: list[VerifierSpec | dict[str, Any]] | None = None
    format_gate: bool = True
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    max_samples: int | None = None
    eval_max_samples: int | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"domain name must be non-empty and contain no '/', got {self.name!r}")
        if self.role not in ("train", "in", "out"):
            raise ValueError(f"domain {self.name!r}: role must be 'train', 'in' or 'out', got {self.role!r}")
        for field_name in ("max_samples", "eval_max_samples"):
            cap = getattr(self, field_name)
            if cap is not None and cap < 0:
                raise ValueError(f"domain {self.name!r}: {field_name} must be >= 0, got {cap}")
        if "{question}" not in self.prompt_template:
            raise ValueError(f"domain {self.name!r}: prompt_template must contain '{{question}}'")

    def verifier_specs(self) -> list[VerifierSpec]:
        """The verifiers of this domain (explicit ones, else the source's defaults)."""
        return [VerifierSpec.coerce(v) for v in self.verifiers] if self.verifiers else self.source.default_verifiers()

    def make_sample(self, record: Record, sample_id: str) -> Sample:
        """Applies the prompt template to a record."""
        question = record.question.strip()
        if question.endswith(PROMPT_SUFFIX) and PROMPT_SUFFIX in self.prompt_template:
            question = question[: -len(PROMPT_SUFFIX)].rstrip()
        prompt = self.prompt_template.format(question=question)
        return Sample(
            id=sample_id,
            domain=self.name,
            images=record.images,
            prompt=prompt,
            solution=record.solution,
            meta=record.meta,
        )


def normalize_weights(weights: Mapping[str, float] | None, train_domains: Sequence[str]) -> dict[str, float]:
    """Validates mixture weights against the training domains and normalises them to sum to 1.

    Args:
        weights: Mapping ``domain -> weight``; ``None`` means uniform over ``train_domains``.
        train_domains: Names of the domains with role ``"train"``, in order.

    Returns:
        The weights in the order of ``train_domains``, summing to 1.

    Raises:
        ValueError: On a weight for an unknown domain (the message lists the training domains), a
            missing training domain, a negative, NaN or infinite weight, or all-zero weights.
    """
    if not train_domains:
        raise ValueError("no domain has role 'train'; a mixture needs at least one training domain")
    if weights is None:
        return {name: 1.0 / len(train_domains) for name in train_domains}
    unknown = [name for name in weights if name not in train_domains]
    if unknown:
        raise ValueError(f"weights name unknown domain(s) {unknown}; the training domains are {list(train_domains)}")
    missing = [name for name in train_domains if name not in weights]
    if missing:
        raise ValueError(
            f"weights miss training domain(s) {missing}; give every training domain a weight "
            f"(0 to leave it out): {list(train_domains)}"
        )
    values = {}
    for name in train_domains:
        value = weights[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"weight of domain {name!r} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight of domain {name!r} must be finite and >= 0, got {value}")
        values[name] = value
    total = math.fsum(values.values())
    if total <= 0:
        raise ValueError(f"weights are all zero: {values}; at least one training domain needs a positive weight")
    return {name: value / total for name, value in values.items()}
