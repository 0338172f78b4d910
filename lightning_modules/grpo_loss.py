"""GRPO objective as pure tensor functions: advantages, the k3 KL estimator and the clipped loss.

Kept free of models and Lightning so every formula can be checked against hand-computed values
(``tests/test_grpo_loss.py``). Shapes: ``N`` completions (prompts x G), ``C`` completion tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

AdvantageScale = Literal["group", "batch", "none"]
LossAggregation = Literal["grpo", "token_mean", "dr_grpo"]
#: How the log-prob mismatch between the rollout engine and the trainer is corrected (TRL's
#: ``vllm_importance_sampling_mode``): ``token_truncate`` weighs each token by ``min(ratio, cap)`` (truncated
#: importance sampling), ``token_mask`` drops tokens whose ratio exceeds the cap; ``none`` applies no correction.
ImportanceSampling = Literal["none", "token_truncate", "token_mask"]


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
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, "
                         f"got {tuple(rewards.shape)}")
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
    token_normaliser: float | Tensor | None = None,
    sampling_weights: Tensor | None = None,
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
        token_normaliser: the divisor of ``token_mean``; defaults to this batch's own count of tokens. An
            update that is one of ``S`` minibatches of a rollout passes the rollout's token count (over all
            ranks) divided by ``S * world_size``, as TRL's DAPO does, so every token of the rollout weighs the
            same whichever minibatch it falls in.
        sampling_weights: ``N x C`` detached importance weights of the rollout engine's samples (see
            :func:`engine_importance_weights`), multiplying the clipped objective; None for none.

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
    if sampling_weights is not None:
        per_token = per_token * sampling_weights
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
        divisor = mask.sum() if token_normaliser is None else token_normaliser
        loss = (per_token * mask).sum() / torch.as_tensor(divisor, dtype=per_token.dtype).clamp(min=1.0)
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


def token_mean_normaliser(tokens: Tensor | float, minibatches: int, world_size: int = 1) -> Tensor:
    """The ``token_mean`` divisor of each minibatch update, as TRL's DAPO: the rollout's tokens per minibatch and rank.

    Every minibatch's summed token loss is divided by the same number, so each token of the rollout carries the
    same weight whichever minibatch (and rank) it falls in; the ``S`` updates together weigh like one update of
    the whole rollout divided by its mean token count.

    Args:
        tokens: completion tokens that count in the loss, summed over the whole rollout and over every rank.
        minibatches: S, the minibatches the rollout is split into.
        world_size: ranks (DDP averages their gradients, which is the division by ``world_size`` undone here).
    """
    return torch.as_tensor(tokens, dtype=torch.float32) / (minibatches * world_size)


def engine_importance_weights(trainer_logp: Tensor, engine_logp: Tensor, mask: Tensor, mode: ImportanceSampling,
                              cap: float) -> Tensor | None:
    """Per-token importance weights correcting for the rollout engine sampling from slightly other probabilities.

    ``ratio = exp(trainer - engine)`` of each sampled token (TRL's ``vllm_importance_sampling_correction``):
    ``token_truncate`` keeps ``min(ratio, cap)`` (truncated importance sampling), ``token_mask`` sets tokens whose
    ratio exceeds ``cap`` to 0. Padding gets weight 1 (its loss is masked anyway).

    Args:
        trainer_logp: ``N x C`` log-probs of the policy that generated, as the trainer computes them (detached).
        engine_logp: ``N x C`` log-probs the engine reported for the same tokens.
        mask: ``N x C`` 1 for completion tokens.
        mode: ``none``, ``token_truncate`` or ``token_mask``.
        cap: the upper bound of the ratio (TRL's default 3).

    Returns:
        ``N x C`` detached weights, or None for ``none``.
    """
    if mode == "none":
        return None
    diff = torch.where(mask > 0, trainer_logp.detach() - engine_logp.to(trainer_logp.dtype), 0.0)
    ratio = torch.exp(torch.nan_to_num(diff, nan=0.0))  # an unreported engine log-prob: no correction
    if mode == "token_truncate":
        return ratio.clamp(max=cap)
    if mode == "token_mask":
        return ratio.masked_fill(ratio > cap, 0.0)
    raise ValueError(f"importance_sampling must be one of {get_args(ImportanceSampling)}, got {mode!r}")


@dataclass(frozen=True)
class GRPOLossSettings:
    """Everything that shapes the GRPO objective of one update, validated once.

    Args:
        beta: KL coefficient to the frozen reference (k3 estimator); 0 needs no reference.
        epsilon_low: lower clip range of the policy ratio.
        epsilon_high: upper clip range (DAPO's clip-higher when larger than ``epsilon_low``).
        aggregation: ``grpo``, ``token_mean`` (DAPO) or ``dr_grpo``.
        advantage_scale: ``group`` (GRPO), ``batch`` (std over the whole batch, all ranks) or ``none`` (Dr. GRPO).
        mask_truncated: exclude completions that hit the length cap from the loss.
        importance_sampling: correction of the engine/trainer mismatch (needs an engine reporting log-probs).
        importance_sampling_cap: the ratio bound of ``importance_sampling``.
    """

    beta: float = 0.04
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    aggregation: LossAggregation = "grpo"
    advantage_scale: AdvantageScale = "group"
    mask_truncated: bool = False
    importance_sampling: ImportanceSampling = "none"
    importance_sampling_cap: float = 3.0

    def __post_init__(self) -> None:
        checks = {  # name -> valid?
            "beta": self.beta >= 0 and math.isfinite(self.beta),
            "epsilon_low": 0 <= self.epsilon_low < 1,
            "epsilon_high": self.epsilon_high >= 0,
            "aggregation": self.aggregation in get_args(LossAggregation),
            "advantage_scale": self.advantage_scale in get_args(AdvantageScale),
            "importance_sampling": self.importance_sampling in get_args(ImportanceSampling),
            "importance_sampling_cap": self.importance_sampling_cap >= 1,
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError("invalid GRPO loss option(s): " + ", ".join(bad))

    def loss_mask(self, mask: Tensor, truncated: Tensor) -> Tensor:
        """The completion mask without the truncated completions when ``mask_truncated``."""
        if not self.mask_truncated:
            return mask
        return mask * (~truncated.to(mask.device)).unsqueeze(1).to(mask.dtype)

    def objective(self, logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, ref_logp: Tensor | None,
                  max_completion_length: int, token_normaliser: float | Tensor | None = None,
                  sampling_weights: Tensor | None = None) -> LossOutput:
        """:func:`grpo_loss` with these settings (arguments as there)."""
        return grpo_loss(logp, old_logp, advantages, mask, ref_logp=ref_logp, beta=self.beta,
                         epsilon_low=self.epsilon_low, epsilon_high=self.epsilon_high, aggregation=self.aggregation,
                         max_completion_length=max_completion_length, token_normaliser=token_normaliser,
                         sampling_weights=sampling_weights)
