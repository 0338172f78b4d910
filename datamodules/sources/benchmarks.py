"""Adapters for the paper's out-of-domain benchmarks, in the hub copies lmms-eval scores and the others.

- ChartQA: ``lmms-lab/ChartQA`` (``question``, ``answer``, ``type``, ``image``; split ``test``) or
  ``HuggingFaceM4/ChartQA`` (``query``, ``label`` list, ``human_or_machine``) -> relaxed accuracy;
- InfographicVQA: ``lmms-lab/DocVQA``, config ``InfographicVQA`` (``answers`` list; split ``validation``) -> ANLS;
- MathVista: ``AI4Math/MathVista``, split ``testmini`` -> MathVista's extraction and normalisation;
- MMMU: ``lmms-lab/MMMU`` (one config; splits ``dev`` / ``validation`` / ``test``) or ``MMMU/MMMU`` (one config
  per subject, ``name: [Accounting, ...]``) -> MMMU's choice / open parsing.

``prompt_style`` picks the evaluation protocol: ``think_answer`` (the question, then the domain's template adds
the paper's think/answer instruction) or ``lmms_eval`` (lmms-eval's own task prompt - e.g. ChartQA's
"Answer the question with a single word." - for a domain with ``prompt_template: "{question}"``, scored on
the whole completion as lmms-eval does). lmms-eval also caps each task's answer length (ChartQA 16 tokens,
InfographicVQA 32, MathVista 1024, MMMU 16); here the budget is ``model.eval_generation.max_new_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from datamodules.sample import Record
from datamodules.sources.base import BadSampleError
from datamodules.sources.hf import HFSource
from datamodules.sources.parsing import parse_string_list
from rewards.composite import VerifierSpec

PromptStyle = Literal["think_answer", "lmms_eval"]
_LETTERS = "ABCDEFGH"
_IMAGE_TOKEN_RE = re.compile(r"<image (\d+)>")


def _text(value: Any, field: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadSampleError(f"field {field!r} must be a non-empty string, got {value!r}"[:120])
    return value.strip()


def _answers(value: Any, field: str) -> list[str]:
    """A list of accepted answers (or a single answer) as stripped strings."""
    answers = value if isinstance(value, list) else [value]
    if not answers:
        raise BadSampleError(f"field {field!r} holds no answer")
    return [_text(a, field) for a in answers]


def _lettered(options: list[str]) -> str:
    return "\n".join(f"{_LETTERS[i]}. {o}" for i, o in enumerate(options))


class BenchmarkSource(HFSource):
    """An evaluation-only hub dataset scored by one lmms-eval metric (``metric``).

    Args:
        prompt_style: ``think_answer`` or ``lmms_eval`` (see the module).
        **kwargs: See :class:`~datamodules.sources.hf.HFSource`; ``train_split`` defaults to None.
    """

    metric: str = ""

    def __init__(
        self,
        *args: Any,
        prompt_style: PromptStyle = "think_answer",
        train_split: str | None = None,
        eval_split: str | None = "test",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, train_split=train_split, eval_split=eval_split, **kwargs)
        if prompt_style not in ("think_answer", "lmms_eval"):
            raise ValueError(f"prompt_style must be 'think_answer' or 'lmms_eval', got {prompt_style!r}")
        self.prompt_style = prompt_style

    def default_verifiers(self) -> list[VerifierSpec]:
        """Format 1.0 and the metric 2.0 (think/answer); the metric alone on the whole completion (lmms-eval)."""
        if self.prompt_style == "lmms_eval":
            return [VerifierSpec(self.metric, 1.0, {"answer_block": False})]
        return [VerifierSpec("think_answer_format", 1.0), VerifierSpec(self.metric, 2.0)]


class ChartQASource(BenchmarkSource):
    """ChartQA (``lmms-lab/ChartQA`` or ``HuggingFaceM4/ChartQA``), eval split ``test``; relaxed accuracy.

    The ground truth is the list of accepted answers (one for lmms-lab's ``answer``, HuggingFaceM4's ``label``).
    """

    default_path = "lmms-lab/ChartQA"
    metric = "relaxed_accuracy"

    def to_record(self, row: Mapping[str, Any]) -> Record:
        images, _, _ = self.images_of(row)
        if "query" in row:  # HuggingFaceM4/ChartQA
            question, answers = _text(self.field(row, "query"), "query"), _answers(self.field(row, "label"), "label")
        else:
            question, answers = (_text(self.field(row, "question"), "question"),
                                 _answers(self.field(row, "answer"), "answer"))
        if self.prompt_style == "lmms_eval":
            question = f"{question}\nAnswer the question with a single word."
        return Record(question, images, answers, self.base_meta(images))


class InfoVQASource(BenchmarkSource):
    """InfographicVQA (``lmms-lab/DocVQA``, config ``InfographicVQA``), eval split ``validation``; ANLS.

    The ground truth is the list of accepted ``answers``.
    """

    default_path = "lmms-lab/DocVQA"
    metric = "anls"

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
        question = _text(self.field(row, "question"), "question")
        if self.prompt_style == "lmms_eval":
            question = f"{question}\nAnswer the question using a single word or phrase."
        return Record(question, images, _answers(self.field(row, "answers"), "answers"), self.base_meta(images))


_MATHVISTA_HINTS = {
    ("integer", None): "Answer the question using a single integer number.",
    ("float", 1): "Answer the question using a single floating-point number with one decimal place.",
    ("float", 2): "Answer the question using a single floating-point number with two decimal places.",
    ("list", None): "Answer the question using a Python list.",
}


class MathVistaSource(BenchmarkSource):
    """MathVista (``AI4Math/MathVista``, split ``testmini``); lmms-eval's extraction and normalisation.

    ``think_answer`` asks MathVista's own ``query`` (question, choices and hint); ``lmms_eval`` builds
    lmms-eval's zero-shot "format-prompt" query (question, unit, lettered choices, a hint by answer type).
    The image is ``decoded_image`` (or ``image`` as a path under ``image_root``). The ground truth is the
    answer as stored (a choice's text for ``multi_choice``); meta carries ``question_type``, ``answer_type``,
    ``precision``, ``unit`` and the choices as ``options``.
    """

    default_path = "AI4Math/MathVista"
    metric = "mathvista_match"

    def __init__(self, *args: Any, eval_split: str | None = "testmini", **kwargs: Any) -> None:
        super().__init__(*args, eval_split=eval_split, **kwargs)

    def to_record(self, row: Mapping[str, Any]) -> Record:
        images, _, _ = self.images_of(row, ("decoded_image", "image"))
        question = _text(self.field(row, "question"), "question")
        question_type = _text(self.field(row, "question_type"), "question_type")
        answer_type = _text(self.field(row, "answer_type"), "answer_type")
        choices = row.get("choices") or []
        if question_type == "multi_choice" and not choices:
            raise BadSampleError("multi_choice row without 'choices'")
        options = [_text(c, "choices") for c in choices]
        precision = row.get("precision")
        unit = row.get("unit") or ""
        meta = self.base_meta(images) | {
            "question_type": question_type, "answer_type": answer_type, "precision": precision,
            "unit": unit, "options": options,
        }  # fmt: skip
        if self.prompt_style == "lmms_eval":
            if question_type == "multi_choice":
                hint = "Answer with the option's letter from the given choices directly."
            else:
                digits = int(precision) if answer_type == "float" and precision is not None else None
                hint = _MATHVISTA_HINTS.get((answer_type, digits), "")
            parts = [question + (f" (Unit: {unit})" if unit else ""), _lettered(options) if options else "", hint]
            prompt = "\n".join(p for p in parts if p)
        else:
            prompt = _text(row.get("query") or question, "query")
        return Record(prompt, images, _text(self.field(row, "answer"), "answer"), meta)


class MMMUSource(BenchmarkSource):
    """MMMU (``lmms-lab/MMMU``, or ``MMMU/MMMU`` with ``name: [subjects]``), split ``validation``; MMMU's parsing.

    ``options`` is a Python-literal list string (parsed without eval). The images are those the prompt
    refers to (``<image 1>`` .. ``<image 7>``, in number order, as lmms-eval picks them; all of the row's
    images when the text names none). ``think_answer`` lists the options and asks for the letter;
    ``lmms_eval`` uses lmms-eval's MMMU prompt. The ground truth is the answer letter (multiple choice) or
    text (open); meta carries ``options`` and ``question_type``.

    Args:
        name: Subject config(s) of ``MMMU/MMMU`` (concatenated); None for ``lmms-lab/MMMU``.
        **kwargs: See :class:`BenchmarkSource`.
    """

    default_path = "lmms-lab/MMMU"
    metric = "mmmu_match"

    def __init__(self, *args: Any, eval_split: str | None = "validation", **kwargs: Any) -> None:
        super().__init__(*args, eval_split=eval_split, **kwargs)

    def to_record(self, row: Mapping[str, Any]) -> Record:
        question = _text(self.field(row, "question"), "question")
        question_type = _text(row.get("question_type") or "multiple-choice", "question_type")
        options = parse_string_list(row["options"]) if isinstance(row.get("options"), str) else []
        if question_type == "multiple-choice" and not options:
            raise BadSampleError("multiple-choice row without options")
        if self.prompt_style == "lmms_eval":
            if question_type == "multiple-choice":
                prompt = (f"{question}\n{_lettered(options)}\n\n"
                          "Answer with the option's letter from the given choices directly.")
            else:
                prompt = f"{question}\n\nAnswer the question using a single word or phrase."
        elif question_type == "multiple-choice":
            prompt = f"{question}\nOptions:\n{_lettered(options)}\nAnswer with the option's letter."
        else:
            prompt = question
        referred = sorted({int(n) for n in _IMAGE_TOKEN_RE.findall(prompt) if 1 <= int(n) <= 7})
        keys = ([f"image_{i}" for i in referred]
                or [f"image_{i}" for i in range(1, 8) if row.get(f"image_{i}") is not None])
        if not keys:
            raise BadSampleError("row has no image (image_1 .. image_7 are all empty)")
        images = [self.prepare_image(self.open_image(self.field(row, k), k))[0] for k in keys]
        meta = self.base_meta(images) | {"question_type": question_type, "options": options}
        return Record(prompt, images, _text(self.field(row, "answer"), "answer"), meta)
