"""Supervised fine-tuning (SFT) on the training domains' ground-truth answers: a base model for GRPO.

GRPO learns only from reward differences inside a group, so a policy that never answers correctly gets
no signal. ``SFTModule`` teaches a (tiny, randomly initialised) policy the answer format and part of
the tasks from the maximum-reward completions of :meth:`rewards.composite.DomainReward.reference_completion`::

    python main.py fit --config configs/tiny_base.yaml

Loss: mean negative log-likelihood of the completion tokens (target and end-of-turn token) given the
chat-template prompt with its images; prompt and image positions carry no loss. Validation is the GRPO
module's: greedy decoding scored by each benchmark's primary verifier, logged as ``val/<benchmark>/score``,
``val/in_score`` and ``val/out_score``, so the checkpoint can be chosen on the numbers GRPO will start from.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

from datamodules.sample import Sample
from lightning_modules.base import VLMTask
from lightning_modules.logprobs import completion_logprobs
from lightning_modules.policy import HFPolicy, PolicyBundle
from lightning_modules.policy_utils import find_vision_tower
from lightning_modules.rollout import GenerationSettings, process_prompts
from lightning_modules.schedules import DECAYS, Decay, warmup_schedule
from lightning_modules.sft_targets import reference_targets, tokenize_targets
from lightning_modules.tiny_model import TinyVLMSettings, ensure_tiny_model


class SFTModule(VLMTask):
    """Supervised fine-tuning of an image-text-to-text policy on reference completions.

    Args:
        policy: how to load the policy; ``freeze_vision`` should be False when the vision tower is untrained.
        init_tiny: build a fresh tiny Qwen2-VL-architecture model with these settings (seeded, cached under
            ``~/.cache/modomodo``) and train it instead of ``policy.model_name_or_path``; None loads the policy as is.
        think: domain -> text of the ``<think>`` block of its targets; other domains get ``default_think``.
            ``{option}`` in a text is replaced by the correct option's text of multiple-choice samples.
        default_think: think text of domains not in ``think`` (empty gives ``<think>\\n\\n</think>``).
        answer: domain -> answer written instead of the canonical one; ``"{option}"`` writes a multiple-choice
            option's text instead of its letter. Checked to score the maximum reward.
        end_token: token appended to every target so the policy learns to stop.
        lr: peak learning rate of AdamW for the language model.
        vision_lr: peak learning rate of the vision tower; None uses ``lr``.
        weight_decay: AdamW weight decay (not applied to biases and norms).
        warmup_steps: optimiser steps of linear warm-up.
        decay: learning-rate shape after warm-up, over ``trainer.max_steps``: ``constant``, ``linear`` or ``cosine``.
        eval_generation: decoding settings of validation / test (greedy).
    """

    def __init__(
        self,
        policy: HFPolicy | None = None,
        init_tiny: TinyVLMSettings | None = None,
        think: dict[str, str] | None = None,
        default_think: str = "",
        answer: dict[str, str] | None = None,
        end_token: str = "<|im_end|>",
        lr: float = 1e-3,
        vision_lr: float | None = None,
        weight_decay: float = 0.0,
        warmup_steps: int = 50,
        decay: Decay = "cosine",
        eval_generation: GenerationSettings | None = None,
    ) -> None:
        super().__init__()
        given = {"lr": lr, "vision_lr": vision_lr, "weight_decay": weight_decay, "warmup_steps": warmup_steps,
                 "decay": decay}
        checks = {"lr": lr > 0, "vision_lr": vision_lr is None or vision_lr >= 0, "weight_decay": weight_decay >= 0,
                  "warmup_steps": warmup_steps >= 0, "decay": decay in DECAYS}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid SFTModule option(s) {bad}: got " + ", ".join(f"{k}={given[k]!r}" for k in bad))
        if isinstance(init_tiny, dict):  # plain dicts from Python callers; jsonargparse gives the dataclass
            init_tiny = TinyVLMSettings(**init_tiny)
        self.save_hyperparameters(ignore=["policy", "init_tiny", "eval_generation"])
        self.policy = policy or HFPolicy(freeze_vision=False)
        self.init_tiny = init_tiny
        self.think = dict(think or {})
        self.answer = dict(answer or {})
        self.eval_generation = eval_generation or GenerationSettings(do_sample=False, max_new_tokens=80)
        # Plain dicts keep checkpoints loadable with torch.load(weights_only=True).
        self.hparams.update(eval_generation=dataclasses.asdict(self.eval_generation),
                            init_tiny=dataclasses.asdict(init_tiny) if init_tiny else None)

    def build_policy(self) -> PolicyBundle:
        """Build the init model if asked, then load the policy."""
        if self.init_tiny is not None:
            self.policy.model_name_or_path = str(ensure_tiny_model(**dataclasses.asdict(self.init_tiny)))
        return self.policy.build(need_reference=False)

    def token_nll(self, batch: list[Sample], rewards: dict[str, Any] | None = None) -> tuple[Tensor, Tensor]:
        """Per-token negative log-likelihood of the reference completions.

        Args:
            batch: ``N`` samples.
            rewards: domain -> ``DomainReward`` building the targets; default the DataModule's.

        Returns:
            ``(nll, mask)``, both ``N x C``: NLL of each completion token, 1 on real tokens.
        """
        hp = self.hparams
        rewards = rewards if rewards is not None else self.rewards
        targets = reference_targets(batch, rewards, self.think, hp.default_think, self.answer)
        ids, mask = tokenize_targets(self.processor.tokenizer, targets, hp.end_token)
        prompts = self.to_device(process_prompts(self.processor, batch))
        logp, _ = completion_logprobs(self.model, prompts, ids.to(self.device), mask.to(self.device))
        return -logp, mask.to(self.device)

    def training_step(self, batch: list[Sample], batch_idx: int) -> Tensor:
        nll, mask = self.token_nll(batch)
        per_sample = (nll * mask).sum(1) / mask.sum(1)
        loss = (nll * mask).sum() / mask.sum()
        domains = [s.domain for s in batch]
        for domain in sorted(set(domains)):
            rows = torch.as_tensor([d == domain for d in domains], device=per_sample.device)
            self.log(f"train/loss/{domain}", per_sample[rows].mean().detach(), on_step=True, batch_size=int(rows.sum()))
        self.log("train/loss", loss.detach(), on_step=True, prog_bar=True, batch_size=len(batch))
        return loss

    # ------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        tower = find_vision_tower(self.model)
        vision_ids = {id(p) for p in tower.parameters()} if tower is not None else set()
        groups: dict[tuple[bool, bool], list[Tensor]] = {}
        for p in self.model.parameters():
            if p.requires_grad:
                # Biases and norm gains (1-D) are not decayed, as usual for transformers.
                groups.setdefault((id(p) in vision_ids, p.ndim >= 2), []).append(p)
        if not groups:
            raise ValueError("the policy has no trainable parameters (everything frozen?)")
        vision_lr = hp.lr if hp.vision_lr is None else hp.vision_lr
        opt = torch.optim.AdamW([
            {"params": ps, "lr": vision_lr if is_vision else hp.lr, "weight_decay": hp.weight_decay if decayed else 0.0}
            for (is_vision, decayed), ps in groups.items()
        ])
        if hp.decay == "constant":
            # The step-N checkpoint of a long run equals a run with max_steps=N: calibrate by step count.
            sched = warmup_schedule(opt, hp.warmup_steps, hp.warmup_steps, decay="constant")
        else:
            max_steps = self.trainer.max_steps
            total = max_steps if max_steps and max_steps > 0 else self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ValueError(f"decay={hp.decay!r} needs trainer.max_steps (the mixture stream has no length)")
            sched = warmup_schedule(opt, hp.warmup_steps, max(int(total), hp.warmup_steps + 1), decay=hp.decay)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
