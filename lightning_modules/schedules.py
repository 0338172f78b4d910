"""Learning-rate schedules: linear warm-up, then constant, linear or cosine decay (torch's own schedulers).

Same values step by step as ``transformers``' ``get_{constant,linear,cosine}_schedule_with_warmup`` (a test
compares them), built from ``torch.optim.lr_scheduler`` instead: importing ``transformers.optimization`` pulls
in ``transformers.trainer_utils`` and with it ``peft`` in every training process, LoRA or not (34 MiB of resident
memory on top of Lightning; 9 MiB off the peak in benchmarks/grpo_vs_trl.py, where part of it loads anyway).
"""

from __future__ import annotations

from typing import Literal, get_args

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LambdaLR, LinearLR, LRScheduler, SequentialLR

Decay = Literal["constant", "linear", "cosine"]
DECAYS: tuple[str, ...] = get_args(Decay)


class _Warmup:
    """Factor ``step / warmup_steps``: exactly 0 at the first step, as transformers' warm-up.

    ``LinearLR`` cannot start from 0, and a first step at ``1e-8 * lr`` instead of 0 is enough to change where
    a long run ends up (the shipped tiny base is reproduced bit for bit only with 0). A class, not a lambda, so
    the scheduler pickles with a checkpoint.
    """

    def __init__(self, warmup_steps: int) -> None:
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        return min(step / self.warmup_steps, 1.0)


def warmup_schedule(optimizer: Optimizer, warmup_steps: int, total_steps: int, decay: Decay = "linear") -> LRScheduler:
    """Linear warm-up from 0 over ``warmup_steps``, then ``decay`` until ``total_steps``.

    Args:
        optimizer: the optimiser whose parameter groups' learning rates are scheduled (each from its own ``lr``).
        warmup_steps: optimiser steps of linear warm-up (0: none).
        total_steps: steps at which a linear decay reaches 0 (a cosine one reaches 0 there too); ignored by
            ``"constant"``.
        decay: ``"constant"``, ``"linear"`` or ``"cosine"`` after the warm-up.

    Returns:
        A scheduler to step once per optimiser step.

    Raises:
        ValueError: for an unknown ``decay`` or negative step counts.
    """
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")
    if warmup_steps < 0 or total_steps < 0:
        raise ValueError(f"warmup_steps and total_steps must be >= 0, got {warmup_steps} and {total_steps}")
    rest = max(total_steps - warmup_steps, 1)
    if decay == "linear":
        after: LRScheduler = LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=rest)
    elif decay == "cosine":
        after = CosineAnnealingLR(optimizer, T_max=rest)
    else:
        after = ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warmup_steps == 0:
        return after
    warmup = LambdaLR(optimizer, _Warmup(warmup_steps))
    return SequentialLR(optimizer, [warmup, after], milestones=[warmup_steps])
