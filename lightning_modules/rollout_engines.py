"""Rollout engines: what samples a GRPO rollout's completions, chosen in YAML by class path.

``GRPOModule(rollout_engine=...)`` takes any :class:`RolloutEngine`::

    model:
      init_args:
        rollout_engine: {class_path: lightning_modules.HFGenerate}   # the default
        # rollout_engine: {class_path: lightning_modules.VLLMEngine, init_args: {gpu_memory_utilization: 0.3}}

Every engine samples with the module's :class:`~lightning_modules.rollout.GenerationSettings` and returns
:class:`~lightning_modules.rollout.Completions` aligned with the processed prompts the log-prob passes score. An
engine that keeps its own copy of the weights (vLLM) is told after every optimiser step and refreshes that copy
before its next rollout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from datamodules.sample import Sample
from lightning_modules.policy import PolicyBundle
from lightning_modules.rollout import Completions, GenerationSettings, generate


class RolloutEngine:
    """Interface of a rollout engine; subclasses implement :meth:`generate`.

    Attributes:
        reports_logprobs: whether :attr:`Completions.logprobs` is filled (needed by an importance-sampling
            correction of the engine/trainer mismatch).
    """

    reports_logprobs: bool = False

    def bind(self, bundle: PolicyBundle) -> None:
        """Called once the policy is loaded (before any rollout) with the loaded bundle."""

    def generate(self, model: nn.Module, processor: Any, samples: Sequence[Sample], inputs: dict[str, Tensor],
                 settings: GenerationSettings, group_size: int,
                 images_per_row: Sequence[int] | None = None) -> Completions:
        """Sample ``group_size`` completions for each prompt.

        Args:
            model: the policy (its current weights).
            processor: its processor.
            samples: the ``P`` prompts.
            inputs: their processed prompts repeated per group (``P x G`` rows, left-padded, on the device).
            settings: sampling settings.
            group_size: G.
            images_per_row: images of each of the ``P x G`` rows when the prompt prefix may be shared, else None.

        Returns:
            Completions for the ``P x G`` rows, in the order of ``inputs``.
        """
        raise NotImplementedError

    def policy_updated(self) -> None:
        """Called after every optimiser step: the policy's weights changed."""


class HFGenerate(RolloutEngine):
    """Hugging Face ``generate`` on the training model itself (KV cache; shared prompt prefill when allowed)."""

    def generate(self, model: nn.Module, processor: Any, samples: Sequence[Sample], inputs: dict[str, Tensor],
                 settings: GenerationSettings, group_size: int,
                 images_per_row: Sequence[int] | None = None) -> Completions:
        return generate(model, processor, inputs, settings, images_per_row=images_per_row)
