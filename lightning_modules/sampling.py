"""The next-token rule of rollouts, as one logits processor that Hugging Face's greedy decoding then follows.

``generate`` runs with ``do_sample=False`` and :class:`RolloutSampler` as its only logits processor: the
sampler bans the image placeholders and, before ``min_new_tokens``, the end tokens (writing ``-inf`` into those
few columns rather than rebuilding the ``B x V`` scores), applies temperature, top-k and top-p with the
semantics of transformers' warpers, draws each row's token by inverse-CDF sampling, and returns scores whose
maximum is the drawn token. ``torch.multinomial`` draws the same distribution but takes 0.24 s per call for 16
rows of Qwen's 151,936 tokens on a CPU thread (3 ms at 650 tokens): for a 64-token rollout, 15 s of sampling.
Greedy settings return the masked scores unchanged, so ``argmax`` decodes greedily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from transformers import LogitsProcessor

if TYPE_CHECKING:  # rollout.py imports this module
    from lightning_modules.rollout import GenerationSettings


def filtered_scores(scores: Tensor, temperature: float, top_k: int, top_p: float) -> Tensor:
    """``scores / temperature`` with tokens outside the top-k and the top-p nucleus at ``-inf`` (transformers'
    ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper``, in that order)."""
    if temperature != 1.0:
        scores = scores / temperature
    if top_k:
        kth = torch.topk(scores, min(top_k, scores.shape[-1])).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False)
        remove = ordered.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        remove[..., -1:] = False  # the most likely token always stays
        scores = scores.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
    return scores


def draw(scores: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One token per row from ``softmax(scores)``, by inverse-CDF sampling (no ``-inf`` token is ever drawn)."""
    cdf = torch.softmax(scores, dim=-1).cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    # The first token whose cumulative probability exceeds u: its own probability is positive.
    return torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[-1] - 1).squeeze(1)


class RolloutSampler(LogitsProcessor):
    """Hugging Face logits processor that applies :class:`GenerationSettings` and, when sampling, draws the token.

    Args:
        settings: the sampling settings.
        prompt_length: columns of the prompt in ``input_ids`` (tokens after them are generated ones).
        eos_ids: end-of-sequence tokens (held back before ``min_new_tokens``).
        banned_ids: tokens never generated (image placeholders).
    """

    def __init__(self, settings: GenerationSettings, prompt_length: int, eos_ids: Sequence[int],
                 banned_ids: Sequence[int] = ()) -> None:
        self.settings = settings
        self.prompt_length = prompt_length
        self.eos_ids = list(eos_ids)
        self.banned_ids = list(banned_ids)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        """The processor interface: scores whose maximum is the next token (``generate`` decodes greedily)."""
        tokens = self.choose(scores, input_ids.shape[1] - self.prompt_length)
        return torch.full_like(scores, float("-inf")).scatter_(1, tokens.unsqueeze(1), 0.0)

    def choose(self, scores: Tensor, step: int) -> Tensor:
        """The next token of every row from its float32 scores (modified in place), ``step`` tokens generated."""
        if self.banned_ids:
            scores[:, self.banned_ids] = float("-inf")
        if step < self.settings.min_new_tokens:
            scores[:, self.eos_ids] = float("-inf")
        s = self.settings
        if not s.do_sample:
            return scores.argmax(dim=-1)
        return draw(filtered_scores(scores, s.temperature, s.top_k, s.top_p))
