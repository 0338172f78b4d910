"""Base class of the tasks that train a vision-language policy (GRPO, SFT): loading and evaluation.

Both tasks evaluate the same way, so a base model chosen on SFT's numbers is measured exactly as
GRPO will measure it: greedy decoding (configurable) scored per benchmark by its domain's primary
verifier (mean IoU for boxes, exact match otherwise), logged as ``<stage>/<benchmark>/score``,
``<stage>/in_score`` and ``<stage>/out_score`` (../shared/PAPER.md §4).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning import LightningModule
from torch import Tensor

from datamodules.sample import Sample
from lightning_modules.completion_scores import eval_scores
from lightning_modules.evaluation import BenchmarkAccumulator
from lightning_modules.policy import HFPolicy, PolicyBundle
from lightning_modules.rollout import GenerationSettings, generate, process_prompts


class VLMTask(LightningModule):
    """A LightningModule around an image-text-to-text policy, with the shared evaluation loop.

    Subclasses set :attr:`policy` and :attr:`eval_generation` in ``__init__`` and may override
    :meth:`build_policy` (e.g. to ask for a reference model).
    """

    policy: HFPolicy
    eval_generation: GenerationSettings

    def __init__(self) -> None:
        super().__init__()
        self.model: torch.nn.Module | None = None
        self.processor: Any = None
        self.last_eval: dict[str, list[tuple[Sample, str, float]]] = {}
        self._evaluator: BenchmarkAccumulator | None = None

    # ----------------------------------------------------------------- model
    def build_policy(self) -> PolicyBundle:
        """Load the policy; the default asks for no reference model."""
        return self.policy.build(need_reference=False)

    def configure_model(self) -> None:
        """Load the policy once (Lightning calls this before sharding strategies wrap it)."""
        if self.model is not None:
            return
        bundle = self.build_policy()
        self.model, self.processor = bundle.model, bundle.processor
        self.model.train()  # from_pretrained returns eval mode; training-time layers (dropout) must be live
        self.on_policy_built(bundle)

    def on_policy_built(self, bundle: PolicyBundle) -> None:
        """Hook for subclasses that keep more of the bundle (e.g. the reference)."""

    @property
    def rewards(self) -> dict[str, Any]:
        """Domain name -> ``DomainReward``, from the DataModule."""
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is None or not hasattr(dm, "rewards"):
            raise RuntimeError(f"{type(self).__name__} needs a DataModule with a `rewards` mapping "
                               "(domain -> DomainReward)")
        return dm.rewards

    def to_device(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Move the tensors of processed inputs to the module's device."""
        return {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in inputs.items()}

    # ------------------------------------------------------------ evaluation
    def _eval_start(self) -> None:
        benches = self.trainer.datamodule.eval_benchmarks
        self._evaluator = BenchmarkAccumulator([b.name for b in benches], [b.role for b in benches])
        self.last_eval = {}

    def _eval_step(self, batch: list[Sample], dataloader_idx: int) -> None:
        inputs = self.to_device(process_prompts(self.processor, batch))
        texts = generate(self.model, self.processor, inputs, self.eval_generation).texts
        scores = eval_scores(batch, texts, self.rewards)
        self._evaluator.update(dataloader_idx, scores)
        self.last_eval.setdefault(self._evaluator.names[dataloader_idx], list(zip(batch, texts, scores, strict=False)))

    def _eval_end(self, stage: str) -> None:
        reduce = None
        if self.trainer.world_size > 1:
            reduce = lambda t: self.trainer.strategy.reduce(t.to(self.device), reduce_op="sum").cpu()  # noqa: E731
        results = self._evaluator.compute(reduce)
        self.log_dict({f"{stage}/{k}": v for k, v in results.items()}, sync_dist=False, rank_zero_only=False)

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: list[Sample], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: list[Sample], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")
