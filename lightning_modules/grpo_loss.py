"""GRPO objective as pure tensor functions: advantages, the k3 KL estimator and the clipped loss.

Kept free of models and Lightning so every formula can be checked against hand-computed values
(``tests/test_grpo_loss.py``). Shapes: ``N`` completions (prompts x G), ``C`` completion tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

AdvantageScale = Literal["group", "batch", "none"]
LossAggregation = Literal["grpo", "token_mean", "dr_grpo"]


def group_advantages(
    rewards: Tensor, group_size: int, scale: AdvantageScale = "group", eps: float = 1e-4
) -> Tensor:
    """Group-relative advantages.

    Args:
        rewards: ``N`` rewards, consecutive runs of ``group_size`` share a prompt.
        group_size: completions per prompt (G).
        scale: ``group`` divides by the group's std (GRPO, ``(r - mean) / (std + eps)``),
            ``batch`` by the std of the whole batch (less noisy for tiny groups), ``none`` keeps
            ``r - mean`` (Dr. GRPO).
        eps: added to the std, 1e-4 as in the paper.

    Returns:
        ``N`` advantages.
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, got {tuple(rewards.shape)}")
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale == "group":
        # Unbiased std as in the paper's reference code (torch.std default).
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps) if group_size > 1 else centred
    elif scale == "batch":
        centred = centred / (rewards.std() + eps) if rewards.numel() > 1 else centred
    elif scale != "none":
        raise ValueError(f"advantage scale must be 'group', 'batch' or 'none', got {scale!r}")
    return centred.reshape(-1)


def zero_spread_groups(rewards: Tensor, group_size: int) -> Tensor:
    """Which groups carry no learning signal because all their rewards tie.

    Args:
        rewards: ``N`` rewards grouped as in :func:`group_advantages`.
        group_size: G.

    Returns:
        Boolean tensor of ``N / G`` entries, True where every reward of the group is equal.
    """
    grouped = rewards.view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values).abs() <= 1e-8


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(policy || reference): ``exp(ref - logp) - (ref - logp) - 1``.

    Args:
        logp: ``N x C`` policy log-probabilities of the sampled tokens.
        ref_logp: ``N x C`` reference log-probabilities of the same tokens.

    Returns:
        ``N x C`` non-negative estimates.
    """
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


@dataclass
class LossOutput:
    """The scalar loss plus detached statistics for logging."""

    loss: Tensor
    kl: Tensor
    clip_frac: Tensor
    clip_low_frac: Tensor
    clip_high_frac: Tensor


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over positions where ``mask`` is 1 (0 when the mask is empty)."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def grpo_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    ref_logp: Tensor | None = None,
    beta: float = 0.04,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    aggregation: LossAggregation = "grpo",
    max_completion_length: int | None = None,
) -> LossOutput:
    """Clipped policy-ratio objective with an optional k3 KL penalty.

    Args:
        logp: ``N x C`` current log-probabilities (with grad).
        old_logp: ``N x C`` log-probabilities at generation time (detached).
        advantages: ``N`` per-completion advantages.
        mask: ``N x C`` 1 for completion tokens that count, 0 for padding and masked completions.
        ref_logp: ``N x C`` reference log-probabilities, required when ``beta > 0``.
        beta: KL coefficient.
        epsilon_low: lower clip, the ratio is kept above ``1 - epsilon_low``.
        epsilon_high: upper clip, ``1 + epsilon_high`` (DAPO's clip-higher when larger than low).
        aggregation: ``grpo`` averages tokens within each sequence then sequences; ``token_mean``
            averages over all tokens of the batch (DAPO); ``dr_grpo`` sums tokens and divides by
            ``N * max_completion_length`` (Dr. GRPO, no length bias).
        max_completion_length: the constant of ``dr_grpo``; defaults to ``C``.

    Returns:
        :class:`LossOutput` with the loss to minimise and detached statistics.
    """
    valid = mask > 0
    mask = mask.to(logp.dtype)
    # Padding may hold any log-probability (an unlikely pad token): exp() of it can overflow to inf, and inf * 0 is
    # NaN, which would void the whole step. Masked positions get ratio 1 and KL 0 before anything is exponentiated.
    logp = torch.where(valid, logp, old_logp)
    if ref_logp is not None:
        ref_logp = torch.where(valid, ref_logp, logp)
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high) * adv
    per_token = -torch.min(unclipped, clipped)
    kl = torch.zeros_like(logp)
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("ref_logp is required when beta != 0")
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl

    if aggregation == "grpo":
        per_seq = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        # Sequences with no counted token (fully masked) do not dilute the mean.
        has_tokens = (mask.sum(dim=1) > 0).to(per_seq.dtype)
        loss = (per_seq * has_tokens).sum() / has_tokens.sum().clamp(min=1.0)
    elif aggregation == "token_mean":
        loss = masked_mean(per_token, mask)
    elif aggregation == "dr_grpo":
        length = max_completion_length or logp.shape[1]
        loss = (per_token * mask).sum() / (logp.shape[0] * length)
    else:
        raise ValueError(f"aggregation must be 'grpo', 'token_mean' or 'dr_grpo', got {aggregation!r}")

    with torch.no_grad():
        low = ((ratio < 1.0 - epsilon_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1.0 + epsilon_high) & (adv > 0)).to(mask.dtype)
        stats = dict(
            kl=masked_mean(kl, mask),
            clip_low_frac=masked_mean(low, mask),
            clip_high_frac=masked_mean(high, mask),
            clip_frac=masked_mean(low + high, mask),
        )
    return LossOutput(loss=loss, **stats)
