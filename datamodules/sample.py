"""The unit of data every domain produces: a prompt with its images and a verifiable solution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

#: The paper's instruction, appended to every question (no system prompt).
PROMPT_SUFFIX = "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."

#: Default prompt template: the question, then the paper's suffix.
DEFAULT_PROMPT_TEMPLATE = "{question} " + PROMPT_SUFFIX

Role = Literal["train", "in", "out"]


@dataclass
class Record:
    """What a source yields for one example, before the domain's prompt template is applied.

    Attributes:
        question: The task text (no format instruction).
        images: The images as the model will see them (already resized).
        solution: The ground truth in the form the domain's verifiers expect
            (an option letter, a word, a number, a box ``[x1, y1, x2, y2]`` in pixels,
            or a list of boxes).
        meta: Verifier metadata (``image_size``, ``box_format``, ``options``, ...).
    """

    question: str
    images: list[Image.Image]
    solution: Any
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One prompt of a domain, as the GRPO module consumes it.

    Attributes:
        id: Stable identifier ``"<domain>/<split>/<index>"`` (``split`` is ``train`` or ``eval``).
        domain: Name of the domain the sample belongs to (key of ``MultiDomainDataModule.rewards``).
        images: Images in the order they appear in the prompt.
        prompt: The user text, format instruction included.
        solution: Ground truth passed to the domain's ``DomainReward``.
        meta: Verifier metadata (``image_size: [w, h]``, ``box_format``, ``options``, ...).
    """

    id: str
    domain: str
    images: list[Image.Image]
    prompt: str
    solution: Any
    meta: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[dict[str, Any]]:
        """The sample as a single user turn in the Hugging Face chat format.

        Returns:
            ``[{"role": "user", "content": [{"type": "image"}, ..., {"type": "text", "text": prompt}]}]``
            with one image entry per image, images first (as the paper's Qwen2-VL prompts do).
        """
        content: list[dict[str, Any]] = [{"type": "image"} for _ in self.images]
        content.append({"type": "text", "text": self.prompt})
        return [{"role": "user", "content": content}]


@dataclass(frozen=True)
class EvalBenchmark:
    """One evaluation set, in the order of ``val_dataloader()`` / ``test_dataloader()``.

    Attributes:
        name: Benchmark name (the domain name); logged as ``<stage>/<name>/score``.
        role: ``"in"`` (in-domain, counts towards In-Score) or ``"out"`` (Out-Score).
        size: Number of samples after caps and skipped bad samples (weights the In/Out-Score average).
    """

    name: str
    role: Literal["in", "out"]
    size: int
