"""LightningModules (GRPO, SFT) and the policy they train: loading, the tiny offline model, rollouts, loss."""

from lightning_modules.grpo import GRPOModule
from lightning_modules.policy import HFPolicy, LoraSettings, PolicyBundle
from lightning_modules.policy_utils import AdapterDisabledReference, FrozenReference, find_vision_tower, save_policy
from lightning_modules.rollout import GenerationSettings
from lightning_modules.sft import SFTModule
from lightning_modules.tiny_model import TinyVLMSettings, build_tiny_vlm, ensure_tiny_model

__all__ = [
    "AdapterDisabledReference",
    "FrozenReference",
    "GRPOModule",
    "GenerationSettings",
    "HFPolicy",
    "LoraSettings",
    "PolicyBundle",
    "SFTModule",
    "TinyVLMSettings",
    "build_tiny_vlm",
    "ensure_tiny_model",
    "find_vision_tower",
    "save_policy",
]
