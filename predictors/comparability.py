"""Whether run records can be pooled: one predictor, one kind of run.

A GP fitted on runs that differ in more than their mixture attributes those differences to the mixture.
Records are refused when they differ in

- ``stage``: validation scores (``val``) are not test scores (``test``);
- the evaluation sets: the benchmark names in ``scores`` (In-/Out-Score average over them);
- the base model: ``config.base_model``, where the record states it;

and pooled with a warning when they differ in ``steps``: under ``stop: first_exhausted`` (the paper's
rule) a run ends when a drawn domain runs out, so a single-domain seed run is legitimately shorter than
the uniform one; runs configured for different lengths are not comparable, and the warning names them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from predictors.records import RunRecord


class NotComparableError(ValueError):
    """Run records differ in more than their mixtures (the message lists the groups)."""


def _base_model(record: RunRecord) -> object:
    return record.config.get("base_model") if isinstance(record.config, dict) else None


#: Fields that must agree, with how to read each from a record.
REFUSED: dict[str, Callable[[RunRecord], object]] = {
    "evaluation stage": lambda r: r.stage,
    "benchmarks": lambda r: tuple(sorted(r.scores)),
    "base model": _base_model,
}


def _order(value: object) -> tuple[int, object]:
    # Numbers in numeric order, everything else by its text (None first).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    return (0, "") if value is None else (2, str(value))


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return "unknown" if value is None else str(value)


def describe_difference(records: Sequence[RunRecord], fields: dict[str, Callable[[RunRecord], object]]) -> str | None:
    """None when the successful records agree on ``fields``, else a sentence listing each group with a run id."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for r in records:
        if r.status == "ok":
            groups.setdefault(tuple(read(r) for read in fields.values()), []).append(r.run_id)
    if len(groups) < 2:
        return None
    names = list(fields)
    differing = [i for i in range(len(names)) if len({key[i] for key in groups}) > 1]
    parts = [
        ", ".join(f"{names[i]} {_show(key[i])}" for i in differing) + f": {len(ids)} run(s), e.g. {ids[0]}"
        for key, ids in sorted(groups.items(), key=lambda item: [_order(v) for v in item[0]])
    ]
    return f"the records differ in {', '.join(names[i] for i in differing)}, not only in their mixtures: " + "; ".join(
        parts
    )


def check_comparable(records: Sequence[RunRecord], where: str, allow_mixed: bool = False) -> list[str]:
    """Refuses records of different kinds of run; returns warnings for what may be pooled.

    Args:
        records: the records to pool.
        where: the record directory (named in the messages).
        allow_mixed: pool records that differ in a refused field too (the difference becomes a warning).

    Returns:
        Warning texts (different ``steps``; refused differences under ``allow_mixed``).

    Raises:
        NotComparableError: the records differ in a refused field and not ``allow_mixed``.
    """
    warnings_: list[str] = []
    refused = describe_difference(records, REFUSED)
    if refused is not None:
        if not allow_mixed:
            raise NotComparableError(
                f"{where!r}: {refused}. Keep one kind of run per record directory, "
                "or pass --data.init_args.allow_mixed true to pool them anyway"
            )
        warnings_.append(f"{where!r}: pooling runs of different kinds: {refused}")
    steps = describe_difference(records, {"steps": lambda r: r.steps})
    if steps is not None:
        warnings_.append(
            f"{where!r}: {steps}. A run stops early when a drawn domain runs out (stop: first_exhausted); "
            "runs configured for different lengths are not comparable"
        )
    return warnings_
