"""Adapters for the paper's out-of-domain benchmarks: ChartQA, InfoVQA, MathVista, MMMU.

Their answers mix numbers, words and option letters, so all four are scored by ``exact_match``
(numbers and number words normalise alike); multiple-choice answers are option letters and the
question lists the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datamodules.sample import Record
from datamodules.sources.base import BadSampleError
from datamodules.sources.hf import HFSource
from datamodules.sources.parsing import parse_string_list
from rewards.composite import VerifierSpec

_LETTERS = "ABCDEFGH"


def _text(value: Any, field: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadSampleError(f"field {field!r} must be a non-empty string, got {value!r}"[:120])
    return value.strip()


def _first_answer(value: Any, field: str) -> tuple[str, list[str]]:
    """The first of a list of accepted answers (or a single answer), and all of them."""
    answers = value if isinstance(value, list) else [value]
    if not answers:
        raise BadSampleError(f"field {field!r} holds no answer")
    texts = [_text(a, field) for a in answers]
    return texts[0], texts


def _with_options(question: str, options: list[str]) -> str:
    listed = "\n".join(f"{_LETTERS[i]}. {o}" for i, o in enumerate(options))
    return f"{question}\nOptions:\n{listed}\nAnswer with the option's letter."


class _EvalOnlySource(HFSource):
    def __init__(
        self, *args: Any, train_split: str | None = None, eval_split: str | None = "test", **kwargs: Any
    ) -> None:
        super().__init__(*args, train_split=train_split, eval_split=eval_split, **kwargs)

    def default_verifiers(self) -> list[VerifierSpec]:
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec("exact_match", 2.0)]


class ChartQASource(_EvalOnlySource):
    """ChartQA (``HuggingFaceM4/ChartQA``: ``query``, ``label`` list, ``image``); eval split ``test``."""

    default_path = "HuggingFaceM4/ChartQA"

    def to_record(self, row: Mapping[str, Any]) -> Record:
        images, _, _ = self.images_of(row)
        answer, answers = _first_answer(self.field(row, "label"), "label")
        meta = self.base_meta(images) | {"answers": answers}
        return Record(_text(self.field(row, "query"), "query"), images, answer, meta)


class InfoVQASource(_EvalOnlySource):
    """InfographicVQA (``lmms-lab/DocVQA``, config ``InfographicVQA``: ``question``, ``answers``, ``image``).

    The ground truth is the first accepted answer; all of them are in ``meta["answers"]``.
    """

    default_path = "lmms-lab/DocVQA"

    def __init__(
        self,
        *args: Any,
        name: str | list[str] | None = "InfographicVQA",
        eval_split: str | None = "validation",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, name=name, eval_split=eval_split, **kwargs)

    def to_record(self, row: Mapping[str, Any]) -> Record:
        images, _, _ = self.images_of(row)
        answer, answers = _first_answer(self.field(row, "answers"), "answers")
        meta = self.base_meta(images) | {"answers": answers}
        return Record(_text(self.field(row, "question"), "question"), images, answer, meta)


class MathVistaSource(_EvalOnlySource):
    """MathVista (``AI4Math/MathVista``, split ``testmini``).

    Uses ``query`` (question with MathVista's own hint) when present, else ``question``; the image
    is ``decoded_image`` (or ``image`` as a path under ``image_root``). Multiple-choice answers
    become the letter of the matching entry of ``choices``.
    """

    default_path = "AI4Math/MathVista"

    def __init__(self, *args: Any, eval_split: str | None = "testmini", **kwargs: Any) -> None:
        super().__init__(*args, eval_split=eval_split, **kwargs)

    def to_record(self, row: Mapping[str, Any]) -> Record:
        images, _, _ = self.images_of(row, ("decoded_image", "image"))
        question = _text(row.get("query") or self.field(row, "question"), "query")
        answer = _text(self.field(row, "answer"), "answer")
        meta = self.base_meta(images)
        choices = row.get("choices")
        if row.get("question_type") == "multi_choice":
            if not isinstance(choices, list) or not choices:
                raise BadSampleError("multi_choice row without 'choices'")
            options = [_text(c, "choices") for c in choices]
            if answer not in options:
                raise BadSampleError(f"answer {answer[:40]!r} is not among 'choices'")
            meta["options"] = options
            answer = _LETTERS[options.index(answer)]
        return Record(question, images, answer, meta)


class MMMUSource(_EvalOnlySource):
    """MMMU (``MMMU/MMMU``, one config per subject, split ``validation``).

    ``options`` is a Python-literal list string (parsed without eval); images are ``image_1`` ..
    ``image_7`` in order (the question refers to them as ``<image 1>``, ...).

    Args:
        name: Subject config(s), e.g. ``[Accounting, Art, ...]`` (concatenated).
        **kwargs: See :class:`~datamodules.sources.hf.HFSource`.
    """

    default_path = "MMMU/MMMU"

    def __init__(self, *args: Any, eval_split: str | None = "validation", **kwargs: Any) -> None:
        super().__init__(*args, eval_split=eval_split, **kwargs)

    def to_record(self, row: Mapping[str, Any]) -> Record:
        keys = [f"image_{i}" for i in range(1, 8) if row.get(f"image_{i}") is not None]
        if not keys:
            raise BadSampleError("row has no image (image_1 .. image_7 are all empty)")
        images = [self.prepare_image(self.open_image(row[k], k))[0] for k in keys]
        question = _text(self.field(row, "question"), "question")
        answer = _text(self.field(row, "answer"), "answer")
        meta = self.base_meta(images)
        options = parse_string_list(row["options"]) if isinstance(row.get("options"), str) else []
        if row.get("question_type", "multiple-choice") == "multiple-choice" and options:
            meta["options"] = options
            question = _with_options(question, options)
        return Record(question, images, answer, meta)
