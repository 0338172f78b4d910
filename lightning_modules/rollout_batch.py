"""The rollout: one scored generation batch, the row subsets optimiser steps consume, and joining several."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from datamodules.sample import Sample
from lightning_modules.prompt_rows import select_rows
from lightning_modules.rollout import Completions


@dataclass
class Rollout:
    """``N = prompts x G`` completions with everything the loss needs.

    Attributes:
        samples: the sample of each row (each prompt repeated G times, consecutively).
        inputs: processed prompts, one row per completion (left-padded).
        completions: sampled tokens and masks (right-padded).
        rewards: ``N`` total rewards.
        advantages: ``N`` advantages (filled once the whole batch is known).
        group_size: G.
    """

    samples: list[Sample]
    inputs: dict[str, Tensor]
    completions: Completions
    rewards: Tensor
    group_size: int
    advantages: Tensor | None = None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def images_per_row(self) -> list[int]:
        return [len(s.images) for s in self.samples]

    def rows(self, rows: list[int]) -> Rollout:
        """The rollout restricted to ``rows`` (any order)."""
        idx = torch.as_tensor(rows, dtype=torch.long)
        c = self.completions
        return Rollout(
            samples=[self.samples[r] for r in rows],
            inputs=select_rows(self.inputs, self.images_per_row, rows),
            completions=Completions(
                ids=c.ids[idx.to(c.ids.device)],
                mask=c.mask[idx.to(c.mask.device)],
                truncated=c.truncated[idx.to(c.truncated.device)],
                texts=[c.texts[r] for r in rows],
                logprobs=None if c.logprobs is None else c.logprobs[idx.to(c.logprobs.device)],
            ),
            rewards=self.rewards[idx],
            group_size=self.group_size,
            advantages=None if self.advantages is None else self.advantages[idx],
        )

    def minibatches(self, size: int | None, generator: torch.Generator | None = None) -> list[list[int]]:
        """Row indices of the minibatches of ``size`` rows (the last may be smaller), in a random order.

        Rows are shuffled across groups before they are split, as TRL shuffles the generation batch, so a
        minibatch is not a run of whole groups (whose advantages sum to zero); one minibatch keeps the rows'
        order and draws nothing from ``generator``.

        Args:
            size: rows per minibatch; None (or at least ``len(self)``) makes one minibatch.
            generator: the random source of the order (seeded by the caller for reproducible runs).
        """
        n = len(self)
        if size is None or size >= n:
            return [list(range(n))]
        order = torch.randperm(n, generator=generator).tolist()
        return [order[i : i + size] for i in range(0, n, size)]

    def groups(self, keep: Tensor) -> Rollout:
        """Keep the groups where ``keep`` (``N / G`` booleans) is True."""
        g = self.group_size
        rows = [i * g + j for i in torch.nonzero(keep).flatten().tolist() for j in range(g)]
        return self.rows(rows)


def _pad_to(t: Tensor, length: int, value: int, left: bool) -> Tensor:
    missing = length - t.shape[1]
    if missing <= 0:
        return t
    pad = (missing, 0) if left else (0, missing)
    return F.pad(t, (0, 0) * (t.ndim - 2) + pad, value=value)


def concat_rollouts(parts: list[Rollout], pad_token_id: int) -> Rollout:
    """Join rollouts from several generation batches (dynamic sampling), re-padding as needed.

    Prompt tensors that share ``input_ids``' first two dims are left-padded to the longest prompt;
    completions are right-padded to the longest completion; image tensors are concatenated.
    """
    if len(parts) == 1:
        return parts[0]
    p_len = max(p.inputs["input_ids"].shape[1] for p in parts)
    c_len = max(p.completions.ids.shape[1] for p in parts)
    inputs: dict[str, Tensor] = {}
    for key in parts[0].inputs:
        values = [p.inputs[key] for p in parts]
        seq_like = all(
            isinstance(v, Tensor) and v.ndim >= 2 and v.shape[:2] == p.inputs["input_ids"].shape[:2]
            for v, p in zip(values, parts, strict=False)
        )
        if seq_like:
            fill = pad_token_id if key == "input_ids" else 0
            inputs[key] = torch.cat([_pad_to(v, p_len, fill, left=True) for v in values])
        else:
            inputs[key] = torch.cat(values)
    logprobs = None
    if all(p.completions.logprobs is not None for p in parts):
        logprobs = torch.cat([_pad_to(p.completions.logprobs, c_len, 0, left=False) for p in parts])
    comps = Completions(
        ids=torch.cat([_pad_to(p.completions.ids, c_len, pad_token_id, left=False) for p in parts]),
        mask=torch.cat([_pad_to(p.completions.mask, c_len, 0, left=False) for p in parts]),
        truncated=torch.cat([p.completions.truncated for p in parts]),
        texts=[t for p in parts for t in p.completions.texts],
        logprobs=logprobs,
    )
    advantages = None
    if all(p.advantages is not None for p in parts):
        advantages = torch.cat([p.advantages for p in parts])
    return Rollout(
        samples=[s for p in parts for s in p.samples],
        inputs=inputs,
        completions=comps,
        rewards=torch.cat([p.rewards for p in parts]),
        group_size=parts[0].group_size,
        advantages=advantages,
    )
