"""LightningModules (GRPO, SFT) and the policy they train: loading, the tiny offline model, rollout engines, loss."""

from lightning_modules.grpo import GRPOModule
from lightning_modules.policy import HFPolicy, LoraSettings, PolicyBundle
from lightning_modules.policy_utils import AdapterDisabledReference, FrozenReference, find_vision_tower, save_policy
from lightning_modules.rollout import GenerationSettings
from lightning_modules.rollout_engines import HFGenerate, RolloutEngine
from lightning_modules.sft import SFTModule
from lightning_modules.tiny_model import TinyVLMSettings, build_tiny_vlm, ensure_tiny_model
from lightning_modules.vllm_engine import VLLMEngine

__all__ = [
    "AdapterDisabledReference",
    "FrozenReference",
    "GRPOModule",
    "GenerationSettings",
    "HFGenerate",
    "HFPolicy",
    "LoraSettings",
    "PolicyBundle",
    "RolloutEngine",
    "SFTModule",
    "TinyVLMSettings",
    "VLLMEngine",
    "build_tiny_vlm",
    "ensure_tiny_model",
    "find_vision_tower",
    "save_policy",
]
