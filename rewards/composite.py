"""A domain's reward: weighted verifiers with the paper's format gate.

In YAML (through jsonargparse) a domain lists its verifiers by registered name or class path, with
options, or - as every other component of a config - as ``class_path`` / ``init_args``::

    rewards:
      lisa:
        verifiers:
          - {name: think_answer_format, weight: 1.0}
          - {name: box_iou, weight: 2.0, options: {threshold: 0.5}}
          - {class_path: rewards.box_verifiers.BoxIoU, init_args: {threshold: 0.5}, weight: 2.0}
        format_gate: true
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rewards.base import InvalidSolutionError, Verifier, VerifierResult
from rewards.registry import build_verifier

_SPEC_KEYS = ("name", "weight", "options")
_CLASS_PATH_KEYS = ("class_path", "init_args", "weight")


@dataclass
class VerifierSpec:
    """One verifier of a :class:`DomainReward`.

    Args:
        name: Registered verifier name (``box_iou``) or class path (``my_pkg.mod.MyVerifier``).
        weight: Non-negative weight of this verifier's score in the total.
        options: Keyword options of the verifier (checked against its ``__init__``).
    """

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"VerifierSpec.name must be a non-empty string, got {self.name!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not (
            0.0 <= self.weight < math.inf
        ):
            raise ValueError(f"verifier {self.name!r}: weight must be a finite number >= 0, got {self.weight!r}")
        if not isinstance(self.options, Mapping):
            raise ValueError(f"verifier {self.name!r}: options must be a mapping, got {type(self.options).__name__}")
        self.weight = float(self.weight)
        self.options = dict(self.options)

    @classmethod
    def coerce(cls, spec: VerifierSpec | Mapping[str, Any]) -> VerifierSpec:
        """Accept a spec, a ``{name, weight, options}`` mapping or a ``{class_path, init_args, weight}`` one.

        The second form is the first spelled as the rest of a config spells components: ``class_path`` is the
        ``name`` (a class path or a registered name) and ``init_args`` the ``options``.

        Raises:
            ValueError: On a mapping that mixes the forms, misses ``name`` / ``class_path``, or has other keys.
        """
        if isinstance(spec, VerifierSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"a verifier spec must be a VerifierSpec or a mapping, got {type(spec).__name__}")
        class_form = "class_path" in spec or "init_args" in spec
        allowed, other = (_CLASS_PATH_KEYS, _SPEC_KEYS) if class_form else (_SPEC_KEYS, _CLASS_PATH_KEYS)
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ValueError(f"verifier spec {dict(spec)!r} has unknown key(s) {unknown}; allowed: {list(allowed)} "
                             f"(or, without class_path / init_args, {list(other)})")
        if class_form:
            if "class_path" not in spec:
                raise ValueError(f"verifier spec {dict(spec)!r} has init_args but no class_path")
            spec = {"name": spec["class_path"], "options": spec.get("init_args") or {},
                    **({"weight": spec["weight"]} if "weight" in spec else {})}
        if "name" not in spec:
            raise ValueError(f"verifier spec {dict(spec)!r} is missing 'name' (or 'class_path')")
        return cls(**spec)


@dataclass
class RewardOutput:
    """Rewards of one domain for a batch of ``n`` completions.

    Args:
        total: ``(n,)`` float32 weighted sum of the verifier scores, format gate applied.
        results: Per-verifier results by verifier name (scores before gating); each builds its own
            ``reward/<verifier>/*`` log entries (:meth:`~rewards.base.VerifierResult.to_log_dict`).
        weights: Weight of each verifier by name.
        format_passed: ``n`` flags, True where every format verifier scored 1.0 (all True
            when the domain has no format verifier); the "format failed" diagnostic.
    """

    total: torch.Tensor
    results: dict[str, VerifierResult]
    weights: dict[str, float]
    format_passed: list[bool] = field(default_factory=list)


class DomainReward:
    """Weighted sum of verifiers for one training domain.

    Args:
        verifiers: Verifier specs (``VerifierSpec``, ``{name, weight, options}`` or
            ``{class_path, init_args, weight}`` mappings); names must be unique within a domain.
        format_gate: If True, a sample failing any format verifier (``is_format``) scores 0 on
            the other verifiers too, as in the paper. No effect without a format verifier.
    """

    def __init__(self, verifiers: list[VerifierSpec | dict[str, Any]], format_gate: bool = True) -> None:
        if isinstance(verifiers, (str, Mapping)) or not isinstance(verifiers, Sequence) or not verifiers:
            raise ValueError("DomainReward needs a non-empty list of verifier specs")
        self.specs = [VerifierSpec.coerce(spec) for spec in verifiers]
        self.format_gate = bool(format_gate)
        self.verifiers: dict[str, Verifier] = {}
        self.weights: dict[str, float] = {}
        for spec in self.specs:
            verifier = build_verifier(spec.name, **spec.options)
            name = verifier.display_name
            if name in self.verifiers:
                raise ValueError(f"verifier {name!r} is listed twice in one DomainReward")
            self.verifiers[name] = verifier
            self.weights[name] = spec.weight
        self.primary: str | None = next((n for n, v in self.verifiers.items() if not v.is_format), None)
        """Name of the first non-format verifier (the evaluation metric), or None."""

    @property
    def max_total(self) -> float:
        """The largest possible total (the sum of the weights)."""
        return math.fsum(self.weights.values())

    def __call__(
        self, completions: Sequence[str], solutions: Sequence[Any], metas: Sequence[Mapping[str, Any]]
    ) -> RewardOutput:
        """Score ``n`` completions with every verifier.

        Returns:
            A :class:`RewardOutput` whose ``total`` has shape ``(n,)``.
        """
        results = {name: v.score(completions, solutions, metas) for name, v in self.verifiers.items()}
        n = len(completions)
        passed = [True] * n
        for name, verifier in self.verifiers.items():
            if verifier.is_format:
                passed = [p and s >= 1.0 for p, s in zip(passed, results[name].scores, strict=False)]
        totals = [0.0] * n
        for name, verifier in self.verifiers.items():
            weight = self.weights[name]
            gated = self.format_gate and not verifier.is_format
            for i, score in enumerate(results[name].scores):
                if not gated or passed[i]:
                    totals[i] += weight * score
        total = torch.tensor(totals, dtype=torch.float32)
        return RewardOutput(total=total, results=results, weights=dict(self.weights), format_passed=passed)

    def eval_score(
        self, completions: Sequence[str], solutions: Sequence[Any], metas: Sequence[Mapping[str, Any]]
    ) -> list[float]:
        """The primary verifier's scores (no format gate): the per-benchmark metric.

        Raises:
            ValueError: If the domain has only format verifiers.
        """
        if self.primary is None:
            raise ValueError("DomainReward has no non-format verifier to evaluate with")
        return self.verifiers[self.primary].score(completions, solutions, metas).scores

    def validate_solution(self, solution: Any, meta: Mapping[str, Any], sample_id: str) -> None:
        """Check one sample's ground truth against every verifier.

        Raises:
            InvalidSolutionError: Naming the sample id, the verifier and the field.
        """
        for name, verifier in self.verifiers.items():
            try:
                verifier.validate_solution(solution, meta)
            except InvalidSolutionError as err:
                raise InvalidSolutionError(f"sample {sample_id!r} ({name}): {err}") from err

    def reference_completion(self, solution: Any, meta: Mapping[str, Any], think: str = "",
                             answer: str | None = None) -> str:
        """A completion scoring :attr:`max_total`: the primary verifier's canonical answer in the strict format.

        The strict pattern's ``.*?`` accepts an empty think, which gives ``<think>\\n\\n</think>``.

        Args:
            solution: The ground truth.
            meta: The sample's meta.
            think: Text for the think block (must not contain ``</think>`` or ``<answer>``).
            answer: An equivalent answer to write instead of the canonical one (e.g. a multiple-choice option's
                text instead of its letter); it is scored, and must reach :attr:`max_total`.

        Raises:
            ValueError: if ``think`` or ``answer`` contains a format tag, or ``answer`` does not score the maximum.
        """
        for name, text in (("think", think), ("answer", answer or "")):
            if "</think>" in text or "<answer>" in text or "</answer>" in text:
                raise ValueError(f"{name} must not contain </think>, <answer> or </answer>")
        source = self.verifiers[self.primary] if self.primary is not None else next(iter(self.verifiers.values()))
        text = source.canonical_answer(solution, meta) if answer is None else answer
        completion = f"<think>\n{think}\n</think>\n<answer>\n{text}\n</answer>"
        if answer is None:  # the canonical answer scores the maximum by construction
            return completion
        total = float(self([completion], [solution], [meta]).total[0])
        if total < self.max_total - 1e-6:
            raise ValueError(f"answer {answer!r} scores {total:.3f}, not the maximum {self.max_total:.3f}, "
                             f"for solution {solution!r}")
        return completion
