"""GRPO post-training of a vision-language policy on a mixture of verifiable domains.

Run it through the CLI::

    python main.py fit --config configs/mix.yaml

One training batch of ``P`` prompts becomes one rollout of ``P x G`` completions (generation,
scoring, advantages); the rollout is then consumed by ``num_iterations x ceil(P*G / minibatch_size)``
optimiser steps (manual optimisation), so ``trainer.max_steps`` counts optimiser steps as usual.

Where this departs from textbook GRPO (and from the paper's reference code):

- Loss aggregation is selectable: ``grpo`` (per-sequence mean, the paper), ``token_mean`` (DAPO)
  or ``dr_grpo`` (constant normaliser); advantages may be scaled per group (paper), per batch, or
  not at all (Dr. GRPO).
- Clipping is asymmetric when ``epsilon_high > epsilon_low`` (DAPO's clip-higher).
- With ``dynamic_sampling``, groups whose rewards all tie are dropped and their places filled from
  the next batches (up to ``max_refill_batches``; if still short, the kept groups are reused so every
  update has P x G rows); the partial buffer is not checkpointed.
- Under DDP every rank steps or skips together (a skip on one rank would deadlock the gradient
  all-reduce), so a rank that is ready waits for the others.
- Minibatches are drawn from the shuffled rollout (seeded by the run's seed and the step), and ``token_mean``
  divides every minibatch by the rollout's token count over all ranks per minibatch, as TRL's DAPO, so a
  minibatch of short completions does not weigh more. ``advantage_scale: batch`` takes the std over all ranks.
- Completions come from a :class:`~lightning_modules.rollout_engines.RolloutEngine`: Hugging Face ``generate``
  (default) or vLLM (:class:`~lightning_modules.vllm_engine.VLLMEngine`), whose weights follow every optimiser step.
- With ``num_iterations == 1`` and one minibatch, the old log-probs are the current ones detached
  (ratio 1), so no extra forward pass is spent on them; with ``beta == 0`` no reference exists.
- Generation's prefill and each log-prob pass (policy, reference) encode a group's shared prompt
  once and run only the completions per row on its KV cache (``share_prompt_prefix``), instead of
  the prompt G times.
- A step whose rewards or loss are not finite is skipped with a warning and counted in
  ``train/skipped_nonfinite`` instead of corrupting the weights.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from datamodules.sample import Sample
from lightning_modules.base import VLMTask
from lightning_modules.completion_scores import score_completions
from lightning_modules.dynamic_sampling import DynamicSamplingBuffer
from lightning_modules.grpo_loss import (
    AdvantageScale,
    GRPOLossSettings,
    ImportanceSampling,
    LossAggregation,
    engine_importance_weights,
    group_advantages,
    token_mean_normaliser,
    zero_spread_groups,
)
from lightning_modules.logprobs import completion_logprobs
from lightning_modules.policy import HFPolicy, PolicyBundle
from lightning_modules.rollout import GenerationSettings, process_prompts, repeat_inputs
from lightning_modules.rollout_batch import Rollout
from lightning_modules.rollout_engines import HFGenerate, RolloutEngine
from lightning_modules.schedules import warmup_schedule


class GRPOModule(VLMTask):
    """Group Relative Policy Optimisation of an image-text-to-text model.

    Args:
        policy: how to load the policy (model, processor, reference); the default is the tiny
            offline Qwen2-VL-architecture model.
        num_generations: completions sampled per prompt (G).
        generation: sampling settings for training rollouts.
        eval_generation: decoding settings for validation / test (greedy by default).
        rollout_engine: what samples the rollouts: :class:`~lightning_modules.rollout_engines.HFGenerate`
            (default) or :class:`~lightning_modules.vllm_engine.VLLMEngine`.
        beta: KL coefficient to the frozen reference (k3 estimator); 0 builds no reference.
        epsilon_low: lower clip range of the policy ratio.
        epsilon_high: upper clip range of the policy ratio.
        num_iterations: optimisation passes over each rollout (mu).
        minibatch_size: completions per optimiser step; None uses the whole rollout.
        advantage_scale: ``group`` (GRPO), ``batch`` (std over the whole batch, all ranks) or ``none`` (Dr. GRPO).
        loss_aggregation: ``grpo``, ``token_mean`` (DAPO) or ``dr_grpo``.
        mask_truncated: exclude completions that hit ``max_new_tokens`` from the loss.
        importance_sampling: correct for the engine sampling from slightly other probabilities than the trainer
            computes (``token_truncate``: TRL's truncated importance sampling; ``token_mask``); needs an engine
            that reports log-probs (vLLM).
        importance_sampling_cap: the largest importance ratio kept (TRL's default 3).
        dynamic_sampling: drop groups whose rewards all tie and refill from the next batches.
        max_refill_batches: extra batches dynamic sampling may draw before updating anyway.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_ratio: share of optimiser steps of linear warm-up, followed by linear decay to 0.
        max_grad_norm: gradient clipping norm; 0 disables clipping.
        logprob_chunk_size: completion tokens per LM-head chunk of the log-prob passes (bounds the float32 logits
            held at once to ``chunk x vocabulary``).
        share_prompt_prefix: encode each distinct prompt once per pass and share its KV cache among the
            group's completions (same values up to float rounding; Qwen2-VL-family models, else ignored).
    """

    def __init__(
        self,
        policy: HFPolicy | None = None,
        num_generations: int = 6,
        generation: GenerationSettings | None = None,
        eval_generation: GenerationSettings | None = None,
        rollout_engine: RolloutEngine | None = None,
        beta: float = 0.04,
        epsilon_low: float = 0.2,
        epsilon_high: float = 0.2,
        num_iterations: int = 1,
        minibatch_size: int | None = None,
        advantage_scale: AdvantageScale = "group",
        loss_aggregation: LossAggregation = "grpo",
        mask_truncated: bool = False,
        importance_sampling: ImportanceSampling = "none",
        importance_sampling_cap: float = 3.0,
        dynamic_sampling: bool = False,
        max_refill_batches: int = 4,
        lr: float = 1e-6,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        max_grad_norm: float = 1.0,
        logprob_chunk_size: int = 256,
        share_prompt_prefix: bool = True,
    ) -> None:
        super().__init__()
        checks = {  # name -> (value, valid?)
            "num_generations": (num_generations, num_generations >= 2),
            "num_iterations": (num_iterations, num_iterations >= 1),
            "minibatch_size": (minibatch_size, minibatch_size is None or minibatch_size >= 1),
            "lr": (lr, lr > 0),
            "warmup_ratio": (warmup_ratio, 0 <= warmup_ratio < 1),
            "max_refill_batches": (max_refill_batches, max_refill_batches >= 0),
            "logprob_chunk_size": (logprob_chunk_size, logprob_chunk_size >= 1),
        }
        bad = {k: v for k, (v, ok) in checks.items() if not ok}
        if bad:
            raise ValueError("invalid GRPOModule option(s): " + ", ".join(f"{k}={v!r}" for k, v in bad.items()))
        self.loss_settings = GRPOLossSettings(
            beta=beta, epsilon_low=epsilon_low, epsilon_high=epsilon_high, aggregation=loss_aggregation,
            advantage_scale=advantage_scale, mask_truncated=mask_truncated, importance_sampling=importance_sampling,
            importance_sampling_cap=importance_sampling_cap)
        self.engine = rollout_engine or HFGenerate()
        if importance_sampling != "none" and not self.engine.reports_logprobs:
            raise ValueError(f"importance_sampling={importance_sampling!r} needs a rollout engine that reports "
                             f"log-probs (VLLMEngine); {type(self.engine).__name__} does not")
        self.save_hyperparameters(ignore=["policy", "generation", "eval_generation", "rollout_engine"])
        self.policy = policy or HFPolicy()
        self.generation = generation or GenerationSettings()
        self.eval_generation = eval_generation or GenerationSettings(do_sample=False,
                                                                     max_new_tokens=self.generation.max_new_tokens)
        # Plain dicts keep checkpoints loadable with torch.load(weights_only=True).
        self.hparams.update(generation=asdict(self.generation), eval_generation=asdict(self.eval_generation),
                            rollout_engine=type(self.engine).__name__)
        self.automatic_optimization = False
        self._reference: tuple[Any, ...] = ()  # kept out of the state dict on purpose
        # needs the tokenizer's pad id: built with the policy
        self.dynamic_sampling: DynamicSamplingBuffer | None = None
        self.skipped_nonfinite = 0
        self.last_rollout: Rollout | None = None

    # ----------------------------------------------------------------- model
    def build_policy(self) -> PolicyBundle:
        return self.policy.build(need_reference=self.loss_settings.beta != 0)

    def on_policy_built(self, bundle: PolicyBundle) -> None:
        self._reference = (bundle.reference,) if bundle.reference is not None else ()
        self.dynamic_sampling = DynamicSamplingBuffer(self.hparams.dynamic_sampling, self.hparams.max_refill_batches,
                                                      bundle.processor.tokenizer.pad_token_id)
        self._bundle = bundle

    @property
    def reference(self) -> Any:
        """The frozen reference (a callable like the model) or None when beta is 0."""
        return self._reference[0] if self._reference else None

    def on_fit_start(self) -> None:
        check_strategy(self.trainer.strategy)
        ref_model = getattr(self.reference, "model", None)
        if ref_model is not None and ref_model is not self.model:
            ref_model.to(self.device)
        self.engine.bind(self._bundle)

    # -------------------------------------------------------------- training
    def training_step(self, batch: list[Sample], batch_idx: int) -> None:
        rollout = self._collect(batch)
        if rollout is None:
            return
        rollout.advantages = self._advantages(rollout.rewards, rollout.group_size)
        self.last_rollout = rollout
        self._update(rollout)

    def _collect(self, batch: list[Sample]) -> Rollout | None:
        """A scored rollout every rank can train on now, or None when any rank is not ready."""
        rollout = self._rollout(batch)
        if not torch.isfinite(rollout.rewards).all():
            self._skip("non-finite reward")
            rollout = None
        else:
            tied = zero_spread_groups(rollout.rewards, rollout.group_size)
            self.log("train/zero_std_frac", tied.float().mean(), on_step=True, batch_size=len(batch))
            rollout = self.dynamic_sampling.offer(rollout, len(batch))
        # Under DDP all ranks must step (or skip) together, or the gradient all-reduce deadlocks.
        if not self._all_ranks(rollout is not None):
            if rollout is not None:
                self.dynamic_sampling.hold_back(rollout)
            return None
        return rollout

    def _rollout(self, batch: list[Sample]) -> Rollout:
        """Generate G completions per prompt and score them."""
        g = self.hparams.num_generations
        inputs = self.to_device(repeat_inputs(process_prompts(self.processor, batch), batch, g))
        shared = [len(s.images) for s in batch for _ in range(g)] if self.hparams.share_prompt_prefix else None
        completions = self.engine.generate(self.model, self.processor, batch, inputs, self.generation, g,
                                           images_per_row=shared)
        samples = [s for s in batch for _ in range(g)]
        scored = score_completions(samples, completions.texts, self.rewards)
        self.log_dict(scored.log_dict("train"), on_step=True, batch_size=len(samples))
        return Rollout(samples=samples, inputs=inputs, completions=completions, rewards=scored.total, group_size=g)

    def _advantages(self, rewards: Tensor, group_size: int) -> Tensor:
        """Group-relative advantages; ``batch`` scaling uses the rewards of every rank, as TRL does."""
        gather = self.all_gather if self.trainer.world_size > 1 else None
        return rollout_advantages(rewards, group_size, self.loss_settings.advantage_scale, gather,
                                  self.global_rank).to(self.device)

    def _update(self, rollout: Rollout) -> None:
        """``num_iterations`` passes of clipped-ratio updates over shuffled minibatches of the rollout."""
        hp, loss = self.hparams, self.loss_settings
        comp = rollout.completions
        mask = loss.loss_mask(comp.mask, comp.truncated).to(self.device)
        generator = torch.Generator().manual_seed(torch.initial_seed() + self.global_step)
        slices = rollout.minibatches(hp.minibatch_size, generator)
        reuse_old = hp.num_iterations == 1 and len(slices) == 1
        with torch.no_grad():
            old_logp = None if reuse_old else self._logprobs(self.model, rollout)[0]
            ref_logp = self._logprobs(self.reference, rollout)[0] if loss.beta != 0 else None
        # token_mean: every minibatch divides by the rollout's tokens (all ranks) per minibatch and rank (TRL's DAPO).
        normaliser = token_mean_normaliser(self._all_ranks_sum(mask.sum()), len(slices), self.trainer.world_size)
        opt, sched = self.optimizers(), self.lr_schedulers()
        self.log_dict({"train/completion_len": comp.mask.sum(1).float().mean(),
                       "train/truncated_frac": comp.truncated.float().mean()}, on_step=True, batch_size=len(rollout))
        for it in range(hp.num_iterations):
            for rows in slices:
                part = rollout.rows(rows) if len(slices) > 1 else rollout
                idx = torch.as_tensor(rows, device=self.device)
                logp, entropy = self._logprobs(self.model, part, with_entropy=it == 0)
                old = logp.detach() if reuse_old else old_logp[idx]
                weights = None
                if loss.importance_sampling != "none":
                    weights = engine_importance_weights(old, part.completions.logprobs.to(self.device), mask[idx],
                                                        loss.importance_sampling, loss.importance_sampling_cap)
                out = loss.objective(logp, old, part.advantages.to(self.device), mask[idx],
                                     None if ref_logp is None else ref_logp[idx], self.generation.max_new_tokens,
                                     token_normaliser=normaliser, sampling_weights=weights)
                if not self._all_ranks(bool(torch.isfinite(out.loss))):
                    self._skip("non-finite loss")
                    continue
                self.manual_backward(out.loss)
                if hp.max_grad_norm > 0:
                    self.clip_gradients(opt, gradient_clip_val=hp.max_grad_norm, gradient_clip_algorithm="norm")
                opt.step()
                # Freed now, not before the next backward: the gradients (a copy of every trainable weight) would
                # otherwise stay alive through the next rollout and log-prob passes.
                opt.zero_grad(set_to_none=True)
                sched.step()
                self.engine.policy_updated()
                stats = {"train/loss": out.loss.detach(), "train/kl": out.kl, "train/clip_frac": out.clip_frac,
                         "train/clip_low_frac": out.clip_low_frac, "train/clip_high_frac": out.clip_high_frac}
                if entropy is not None:
                    stats["train/entropy"] = (entropy * mask[idx]).sum() / mask[idx].sum().clamp(min=1)
                if weights is not None:
                    stats["train/importance_weight"] = (weights * mask[idx]).sum() / mask[idx].sum().clamp(min=1)
                self.log_dict(stats, on_step=True, prog_bar=False, batch_size=len(rows))
        self.log("train/reward", rollout.rewards.mean(), on_step=True, prog_bar=True, batch_size=len(rollout))

    def _logprobs(self, model: Any, rollout: Rollout, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
        comp = rollout.completions
        return completion_logprobs(
            model, rollout.inputs, comp.ids.to(self.device), comp.mask.to(self.device),
            temperature=self.generation.temperature if self.generation.do_sample else 1.0,
            with_entropy=with_entropy, chunk_size=self.hparams.logprob_chunk_size,
            images_per_row=rollout.images_per_row if self.hparams.share_prompt_prefix else None,
        )

    # -------------------------------------------------------------- ranks
    def _all_ranks(self, flag: bool) -> bool:
        """True only if ``flag`` holds on every rank: under DDP all ranks must step (or skip) together."""
        return bool(self.trainer.strategy.reduce_boolean_decision(flag, all=True))

    def _all_ranks_sum(self, value: Tensor) -> Tensor:
        if self.trainer.world_size == 1:
            return value.float()
        return self.trainer.strategy.reduce(value.float(), reduce_op="sum")

    def _skip(self, why: str) -> None:
        self.skipped_nonfinite += 1
        warnings.warn(f"GRPO step skipped: {why} (skipped so far: {self.skipped_nonfinite})", RuntimeWarning,
                      stacklevel=2)
        self.log("train/skipped_nonfinite", float(self.skipped_nonfinite), on_step=True, batch_size=1)

    # ------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the policy has no trainable parameters (everything frozen?)")
        opt = torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = self.trainer.max_steps
        if not total or total < 1:
            # Lightning's estimate counts batches (-1 for the endless mixture stream), while one batch can take several
            # optimiser steps (num_iterations x minibatches): a wrong length ends the linear decay early.
            raise ValueError("GRPOModule's warm-up and linear decay need trainer.max_steps (optimiser steps), e.g. "
                             "--trainer.max_steps 300")
        sched = warmup_schedule(opt, int(self.hparams.warmup_ratio * total), total, decay="linear")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def check_strategy(strategy: Any) -> None:
    """Refuse strategies that shard the parameters: rollouts call the policy's ``generate`` outside the wrapped
    forward, where a sharded policy holds only its shard (DDP, tested on CPU, keeps full weights on every rank)."""
    name = type(strategy).__name__
    if name.startswith("FSDP") or (name.startswith("DeepSpeed") and getattr(strategy, "zero_stage_3", False)):
        raise ValueError(f"GRPOModule does not run under {name}: it shards the parameters, and rollouts generate "
                         "with the full policy outside its forward; use strategy ddp")


def rollout_advantages(rewards: Tensor, group_size: int, scale: AdvantageScale, gather: Any = None,
                       rank: int = 0) -> Tensor:
    """This rank's advantages; with ``batch`` scaling and ``gather`` the std is over every rank's rewards.

    Args:
        rewards: this rank's ``N`` rewards (every rank has ``N``: updates are ``P x G`` rows everywhere).
        group_size: G.
        scale: ``group``, ``batch`` or ``none``.
        gather: all-gathers a tensor over ranks (``LightningModule.all_gather``: ``W x N``); None for one process.
        rank: this process's rank (its rows of the gathered batch).
    """
    if scale != "batch" or gather is None:
        return group_advantages(rewards, group_size, scale)
    everyone = gather(rewards.float())
    return group_advantages(everyone.reshape(-1).cpu(), group_size, scale).view(everyone.shape[0], -1)[rank]
