"""Supervised targets for warm-starting a policy: ground-truth completions, tokenised as GRPO completions.

The target of a sample is ``DomainReward.reference_completion`` (its canonical answer in the strict
``<think>...</think><answer>...</answer>`` format, a completion that scores the maximum) followed by the
end-of-turn token. Targets are tokenised on their own and right-padded, exactly as sampled completions
are laid out in a GRPO rollout, so :func:`lightning_modules.logprobs.completion_logprobs` scores them
behind the left-padded prompts and the loss falls on completion tokens only.

Think and answer texts may be templates: ``{option}`` is replaced by the text of the correct option of a
multiple-choice sample (``meta["options"]`` and its letter). An answer template ``"{option}"`` writes the
option's value instead of its letter (the choice verifier accepts either): the tiny base learns to read a
value off the image long before it learns to find that value's letter among the shuffled options printed
in the prompt (``assets/README.md``). ``{boxes}`` writes a box sample's ground truth as a plain list of boxes
(``[[x1, y1, x2, y2], ...]``), which the box verifiers read like the paper's longer dict format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from datamodules.sample import Sample
from rewards.box_verifiers import MultiBoxIoU
from rewards.boxes import format_box, from_pixels
from rewards.composite import DomainReward


def reference_targets(
    samples: Sequence[Sample], rewards: Mapping[str, DomainReward], think: Mapping[str, str], default_think: str = "",
    answer: Mapping[str, str] | None = None,
) -> list[str]:
    """The maximum-reward completion of every sample.

    Args:
        samples: the prompts.
        rewards: domain name -> its reward (from the DataModule).
        think: domain name -> think text (a template, see the module docstring); domains not listed get
            ``default_think``.
        default_think: think text for the other domains.
        answer: domain name -> answer template written instead of the canonical answer (``"{option}"``: a
            multiple-choice option's text instead of its letter); it must score the maximum. Domains not listed
            write the canonical answer.

    Returns:
        ``len(samples)`` completion texts.

    Raises:
        KeyError: if a sample's domain has no reward.
        ValueError: if a template needs what a sample lacks, or an answer template does not score the maximum.
    """
    out = []
    for s in samples:
        if s.domain not in rewards:
            raise KeyError(f"sample {s.id!r}: domain {s.domain!r} has no reward; known: {sorted(rewards)}")
        template = (answer or {}).get(s.domain)
        out.append(rewards[s.domain].reference_completion(
            s.solution, s.meta, think=_fill(think.get(s.domain, default_think), s),
            answer=None if template is None else _fill(template, s)))
    return out


def _fill(template: str, sample: Sample) -> str:
    """``template`` with ``{option}`` and ``{boxes}`` filled in from the sample (each computed only when used)."""
    if "{option}" in template:
        template = template.replace("{option}", correct_option(sample))
    if "{boxes}" in template:
        template = template.replace("{boxes}", plain_boxes(sample))
    return template


def plain_boxes(sample: Sample) -> str:
    """A box sample's ground truth as a plain list ``[[x1, y1, x2, y2], ...]`` in the frame the model writes boxes in.

    The multi-box verifier reads plain lists as boxes of confidence 1, so this answer scores what the paper's
    ``[{'Position': [...], 'Confidence': 1.0}, ...]`` does, in a third of the tokens.

    Raises:
        ValueError: if the solution is not a box or a list of boxes.
    """
    solution = sample.solution
    boxes = (solution if isinstance(solution, list) and solution and isinstance(solution[0], (list, tuple))
             else [solution])
    try:  # the multi-box verifier's own check of its ground truth
        checked, box_format, image_size = MultiBoxIoU().prepare_solution(boxes, sample.meta)
    except ValueError as err:
        raise ValueError(f"sample {sample.id!r} ({sample.domain}): an answer template uses {{boxes}}, "
                         f"which needs box solutions: {err}") from None
    return "[" + ", ".join(format_box(from_pixels(b, box_format, image_size)) for b in checked) + "]"


def correct_option(sample: Sample) -> str:
    """The text of a multiple-choice sample's correct option (its solution is the option letter).

    Raises:
        ValueError: if the sample has no ``meta["options"]`` or its solution is not one of their letters.
    """
    options = sample.meta.get("options")
    letter = sample.solution.strip().upper() if isinstance(sample.solution, str) else None
    if not options or not letter or len(letter) != 1 or not "A" <= letter < chr(ord("A") + len(options)):
        raise ValueError(f"sample {sample.id!r} ({sample.domain}): a think or answer template uses {{option}}, "
                         f"which needs meta['options'] and a letter solution; got solution {sample.solution!r}")
    return str(options[ord(letter) - ord("A")])


def tokenize_targets(tokenizer: Any, texts: Sequence[str], end_token: str) -> tuple[Tensor, Tensor]:
    """Tokenise completions and append the end-of-turn token, right-padded.

    Args:
        tokenizer: the policy's tokenizer.
        texts: ``N`` completion texts.
        end_token: the token that ends a turn (``<|im_end|>`` for Qwen); the policy must learn to stop.

    Returns:
        ``(ids, mask)``, both ``N x C`` (``C`` the longest target), mask 1 on real tokens.

    Raises:
        ValueError: if ``end_token`` is not a single token of the vocabulary.
    """
    end_id = tokenizer.convert_tokens_to_ids(end_token)
    if end_id is None or end_id == tokenizer.unk_token_id:
        raise ValueError(f"end_token={end_token!r} is not a token of the policy's vocabulary")
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] + [end_id] for t in texts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
