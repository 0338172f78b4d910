"""Adapters for the paper's five training sets (problem / solution / image rows).

- ``laolao77/ViRFT_COCO``: ``solution`` is ``<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, ...]</answer>``
  in pixels of the stored image -> list of boxes (multi-box IoU);
- ``yiqingliang/lisa-problems-dataset``: one box ``[x1, y1, x2, y2]`` (pixels, or 0-1 fractions) -> box (IoU);
- ``yiqingliang/geoqav-problems-dataset``, ``yiqingliang/scienceqa-problems-dataset``: an option letter
  (choice accuracy; options are read from the problem's ``A. ...`` lines when present);
- ``yiqingliang/sat-problems-dataset``: a short answer (exact match); rows may hold several images.

``solution`` may or may not wrap the answer in ``<answer>`` tags; ``problem`` may already end with
the paper's format instruction (it is not repeated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from datamodules.sample import PROMPT_SUFFIX, Record
from datamodules.sources.base import BadSampleError
from datamodules.sources.hf import HFSource
from datamodules.sources.parsing import answer_content, parse_box, parse_letter, parse_options, parse_positions
from rewards.composite import VerifierSpec

SolutionBoxFormat = Literal["auto", "pixel", "unit", "norm1000"]


def _format_and(name: str) -> list[VerifierSpec]:
    return [VerifierSpec("think_answer_format", 1.0), VerifierSpec(name, 2.0)]


class ProblemSolutionSource(HFSource):
    """Rows with ``problem`` (text), ``solution`` (answer, maybe in ``<answer>`` tags) and ``image``/``images``."""

    def question_of(self, row: Mapping[str, Any]) -> str:
        """The ``problem`` text."""
        question = self.field(row, "problem")
        if not isinstance(question, str) or not question.strip():
            raise BadSampleError("field 'problem' must be a non-empty string")
        return question

    def to_record(self, row: Mapping[str, Any]) -> Record:
        question = self.question_of(row)
        images, sx, sy = self.images_of(row)
        meta = self.base_meta(images)
        solution = self.parse_solution(answer_content(self.field(row, "solution")), question, meta, images, sx, sy)
        return Record(question, images, solution, meta)

    def parse_solution(
        self, answer: str, question: str, meta: dict[str, Any], images: list, sx: float, sy: float
    ) -> Any:
        """Turns the answer text into the verifier's ground truth (may add to ``meta``)."""
        return answer


class _ChoiceSource(ProblemSolutionSource):
    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("choice_accuracy")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> str:
        # The paper's instruction may trail the last option on its line; it is not option text.
        options = parse_options(question.replace(PROMPT_SUFFIX, ""))
        if options is not None:
            meta["options"] = options
        return parse_letter(answer, options)


class GeoQAVSource(_ChoiceSource):
    """GeoQA-V geometry problems, multiple choice (``yiqingliang/geoqav-problems-dataset``)."""

    default_path = "yiqingliang/geoqav-problems-dataset"


class ScienceQASource(_ChoiceSource):
    """ScienceQA image questions, multiple choice (``yiqingliang/scienceqa-problems-dataset``)."""

    default_path = "yiqingliang/scienceqa-problems-dataset"


class SATSource(ProblemSolutionSource):
    """SAT spatial questions with short natural-language answers (``yiqingliang/sat-problems-dataset``)."""

    default_path = "yiqingliang/sat-problems-dataset"

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("exact_match")


def _to_pixels(box: list[float], fmt: str, size: tuple[int, int]) -> list[float]:
    w, h = size
    if fmt == "auto":
        fmt = "unit" if max(abs(v) for v in box) <= 1.0 else "pixel"
    scale = {"pixel": (1.0, 1.0), "unit": (w, h), "norm1000": (w / 1000, h / 1000)}[fmt]
    return [box[0] * scale[0], box[1] * scale[1], box[2] * scale[0], box[3] * scale[1]]


class _BoxSource(ProblemSolutionSource):
    """Shared box handling: ground truth in the stored image's frame -> pixels of the resized image.

    Args:
        solution_box_format: Frame of the stored boxes: ``pixel``, ``unit`` (0-1), ``norm1000``, or
            ``auto`` (``unit`` when every coordinate is <= 1, else ``pixel``).
        **kwargs: See :class:`~datamodules.sources.hf.HFSource`.
    """

    def __init__(self, *args: Any, solution_box_format: SolutionBoxFormat = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if solution_box_format not in ("auto", "pixel", "unit", "norm1000"):
            raise ValueError(f"solution_box_format must be auto, pixel, unit or norm1000, got {solution_box_format!r}")
        self.solution_box_format = solution_box_format

    def rescale(self, box: list[float], images: list, sx: float, sy: float) -> list[float]:
        """``box`` from the stored frame to pixels of the (resized) image the model sees."""
        w, h = images[0].size
        original = (round(w / sx), round(h / sy))
        x1, y1, x2, y2 = _to_pixels(box, self.solution_box_format, original)
        return [round(x1 * sx, 2), round(y1 * sy, 2), round(x2 * sx, 2), round(y2 * sy, 2)]


class LISASource(_BoxSource):
    """LISA reasoning segmentation as grounding: one box (``yiqingliang/lisa-problems-dataset``)."""

    default_path = "yiqingliang/lisa-problems-dataset"

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("box_iou")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> list[float]:
        return self.rescale(parse_box(answer), images, sx, sy)


class ViRFTCOCOSource(_BoxSource):
    """Visual-RFT COCO detection: every object of a category (``laolao77/ViRFT_COCO``)."""

    default_path = "laolao77/ViRFT_COCO"

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("multi_box_iou")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> list[list[float]]:
        return [self.rescale(box, images, sx, sy) for box in parse_positions(answer)]
