"""Adapters for the paper's five training sets (``image`` / ``problem`` / ``solution`` rows).

- ``laolao77/ViRFT_COCO``: ``problem`` is Visual-RFT's detection prompt (it asks for "bounding boxes (between
  0 and 1000, integer)" and already says how to format the answer); ``solution`` is
  ``<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, ...]</answer>`` with integer boxes on Qwen2-VL's
  0-1000 grid, not pixels (Visual-RFT's evaluation divides them by 1000) -> list of boxes, and the model's
  answers are read on the same grid (``box_format: norm1000``);
- ``yiqingliang/lisa-problems-dataset`` (and ``-test``): one box ``[x1, y1, x2, y2]`` (0-1 fractions of the
  image, or pixels) -> box (IoU);
- ``yiqingliang/geoqav-problems-dataset``, ``yiqingliang/scienceqa-problems-dataset`` (and ``-test``): an option
  letter (the paper's accuracy reward; options are read from the problem's ``A. ...`` lines when present);
- ``yiqingliang/sat-problems-dataset`` (and ``-test``): a short answer or an option letter (the paper's
  accuracy reward); a row may hold a list of images.

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
from rewards.boxes import to_pixels
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
        return _format_and("paper_accuracy")

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
    """SAT spatial questions: short answers or option letters (``yiqingliang/sat-problems-dataset``).

    Options listed in the problem (``A. left``) are kept in ``meta["options"]``; the answer stays as written.
    """

    default_path = "yiqingliang/sat-problems-dataset"

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("paper_accuracy")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> str:
        options = parse_options(question.replace(PROMPT_SUFFIX, ""))
        if options is not None:
            meta["options"] = options
        return answer


_FRAME_LIMIT = {"unit": 1.0, "norm1000": 1000.0}


class _BoxSource(ProblemSolutionSource):
    """Shared box handling: ground truth in the stored frame -> pixels of the (resized) image the model sees.

    Args:
        solution_box_format: Frame of the stored boxes: ``pixel`` (of the stored image), ``unit`` (0-1),
            ``norm1000`` (Qwen2-VL's 0-1000 grid), or ``auto`` (``unit`` when every coordinate is <= 1, else
            ``pixel``). A box outside its frame is a bad sample, never rescaled to fit.
        **kwargs: See :class:`~datamodules.sources.hf.HFSource`.
    """

    def __init__(self, *args: Any, solution_box_format: SolutionBoxFormat = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if solution_box_format not in ("auto", "pixel", "unit", "norm1000"):
            raise ValueError(f"solution_box_format must be auto, pixel, unit or norm1000, got {solution_box_format!r}")
        self.solution_box_format = solution_box_format

    def rescale(self, box: list[float], images: list, sx: float, sy: float) -> list[float]:
        """``box`` from the stored frame to pixels of the (resized) image the model sees."""
        fmt = self.solution_box_format
        if fmt == "auto":
            fmt = "unit" if max(abs(v) for v in box) <= 1.0 else "pixel"
        if fmt == "pixel":
            return [round(box[0] * sx, 2), round(box[1] * sy, 2), round(box[2] * sx, 2), round(box[3] * sy, 2)]
        limit = _FRAME_LIMIT[fmt]
        if any(not 0.0 <= v <= limit for v in box):
            raise BadSampleError(f"box {box} lies outside the {fmt} frame [0, {limit:g}]")
        pixels = to_pixels((box[0], box[1], box[2], box[3]), fmt, images[0].size)
        if fmt == self.box_format:
            # The model answers in this frame and the verifiers convert its answers with this same function,
            # so the stored box, written back, meets the ground truth exactly.
            return list(pixels)
        return [round(v, 2) for v in pixels]


class LISASource(_BoxSource):
    """LISA reasoning segmentation as grounding: one box (``yiqingliang/lisa-problems-dataset``)."""

    default_path = "yiqingliang/lisa-problems-dataset"

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("box_iou")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> list[float]:
        return self.rescale(parse_box(answer), images, sx, sy)


class ViRFTCOCOSource(_BoxSource):
    """Visual-RFT COCO detection: every object of a category (``laolao77/ViRFT_COCO``).

    Stored boxes and the model's answers are on Qwen2-VL's 0-1000 grid (``solution_box_format`` and
    ``box_format`` default to ``norm1000``); IoU is the same in either frame.
    """

    default_path = "laolao77/ViRFT_COCO"

    def __init__(
        self,
        *args: Any,
        solution_box_format: SolutionBoxFormat = "norm1000",
        box_format: Literal["pixel", "norm1000", "unit"] = "norm1000",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, solution_box_format=solution_box_format, box_format=box_format, **kwargs)

    def default_verifiers(self) -> list[VerifierSpec]:
        return _format_and("multi_box_iou")

    def parse_solution(self, answer, question, meta, images, sx, sy) -> list[list[float]]:
        return [self.rescale(box, images, sx, sy) for box in parse_positions(answer)]
