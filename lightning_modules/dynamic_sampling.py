"""DAPO's dynamic sampling: hold back groups whose rewards all tie until a full batch of informative ones exists."""

from __future__ import annotations

from lightning_modules.grpo_loss import zero_spread_groups
from lightning_modules.rollout_batch import Rollout, concat_rollouts


class DynamicSamplingBuffer:
    """Collects the informative groups of successive rollouts and releases exactly ``P x G`` rows at a time.

    Disabled, every rollout passes straight through. Enabled, groups whose rewards all tie are dropped (they
    carry no advantage); the rest wait here until ``P`` groups are collected or ``max_refill_batches`` extra
    batches were drawn, and if still short the kept groups are reused cyclically, so every update (and every
    DDP rank) has the same ``P x G`` rows. The held groups are not checkpointed: a resumed run starts empty.

    Args:
        enabled: drop tied groups and refill (``GRPOModule(dynamic_sampling=True)``).
        max_refill_batches: extra generation batches that may be drawn before updating anyway.
        pad_token_id: padding of joined rollouts.
    """

    def __init__(self, enabled: bool, max_refill_batches: int, pad_token_id: int) -> None:
        if max_refill_batches < 0:
            raise ValueError(f"max_refill_batches must be >= 0, got {max_refill_batches}")
        self.enabled = enabled
        self.max_refill_batches = max_refill_batches
        self.pad_token_id = pad_token_id
        self.pending: list[Rollout] = []
        self.refills = 0

    def offer(self, rollout: Rollout, prompts: int) -> Rollout | None:
        """Add a scored rollout of ``prompts`` groups; return the rollout to train on now, or None to draw more.

        Args:
            rollout: a freshly generated and scored rollout.
            prompts: P, the prompts of one training batch.
        """
        if not self.enabled:
            return rollout
        g = rollout.group_size
        informative = ~zero_spread_groups(rollout.rewards, g)
        if informative.any():
            self.pending.append(rollout.groups(informative))
        have = sum(len(r) for r in self.pending) // g
        if have < prompts and self.refills < self.max_refill_batches:
            self.refills += 1
            return None
        self.refills = 0
        if not self.pending:
            return None
        merged, self.pending = concat_rollouts(self.pending, self.pad_token_id), []
        want = prompts * g
        return merged.rows([i % len(merged) for i in range(want)])

    def hold_back(self, rollout: Rollout) -> None:
        """Keep a ready rollout for the next step (another DDP rank was not ready, so nobody updates now)."""
        if self.enabled:
            self.pending.insert(0, rollout)
