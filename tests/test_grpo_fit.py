"""End-to-end GRPO on the tiny model and a toy verifier: learning, options, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from datamodules.datamodule import MultiDomainDataModule
from datamodules.domain import Domain
from lightning_modules import GenerationSettings, GRPOModule, HFPolicy, LoraSettings
from rewards.composite import VerifierSpec
from toys import ToySource

ROOT = Path(__file__).resolve().parents[1]

try:
    import vllm  # noqa: F401

    HAVE_VLLM = True
except ImportError:
    HAVE_VLLM = False
needs_vllm = pytest.mark.skipif(not HAVE_VLLM,
                                reason='vLLM is not installed (pip install -e ".[vllm]"; on CPU see .ci/run)')
ENGINES = [pytest.param("hf", id="hf-generate"), pytest.param("vllm", id="vllm", marks=needs_vllm)]


def engine(name: str):
    """A fresh rollout engine by name (vLLM's is imported only when asked for)."""
    from lightning_modules import HFGenerate, VLLMEngine

    return VLLMEngine() if name == "vllm" else HFGenerate()


class RewardRecorder(Callback):
    """Mean reward of every rollout that led to an update."""

    def __init__(self) -> None:
        self.rewards: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.last_rollout is not None:
            self.rewards.append(float(pl_module.last_rollout.rewards.mean()))


def toy_data(batch_size: int = 4, seed: int = 0) -> MultiDomainDataModule:
    domain = Domain(name="toy", source=ToySource(train_size=64, eval_size=4),
                    verifiers=[VerifierSpec(name="toys.LetterShare")], format_gate=False)
    return MultiDomainDataModule(domains=[domain], batch_size=batch_size, eval_batch_size=4, stop="cycle", seed=seed)


def toy_module(**overrides) -> GRPOModule:
    kwargs = dict(num_generations=4, generation=GenerationSettings(max_new_tokens=8), beta=0.0, lr=1e-2,
                  warmup_ratio=0.0)
    kwargs.update(overrides)
    return GRPOModule(**kwargs)


def toy_trainer(tmp_path: Path, max_steps: int, callbacks=(), **kw) -> Trainer:
    return Trainer(accelerator="cpu", devices=1, max_steps=max_steps, default_root_dir=tmp_path, logger=False,
                   enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                   limit_val_batches=0, callbacks=list(callbacks), **kw)


def _toy_curve(tmp_path: Path, double: bool = False, steps: int = 10,
               **options) -> tuple[list[float], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``steps`` updates on the toy verifier from seed 0: per-step mean rewards, weights before and after.

    ``double`` runs the policy in float64, so that two computations of the same values do not send sampling down
    different paths: in float32, rounding differences of 1e-7 grow over the steps (lr 3e-2) until one sampled
    token flips, after which the runs are two different, equally valid random trajectories.
    """
    seed_everything(0)
    module, recorder = toy_module(lr=3e-2, **options), RewardRecorder()
    module.configure_model()
    if double:
        module.model.double()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    toy_trainer(tmp_path, max_steps=steps, callbacks=[recorder]).fit(module, datamodule=toy_data())
    return recorder.rewards, before, {n: p.detach().clone() for n, p in module.model.named_parameters()}


@pytest.mark.parametrize("engine_name", ENGINES)
def test_reward_rises_and_parameters_change(tmp_path: Path, engine_name: str) -> None:
    rollout_engine = engine(engine_name)
    rewards, before, after = _toy_curve(tmp_path, rollout_engine=rollout_engine)  # float32, the defaults
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert len(rewards) == 10
    assert last > first + 0.05, rewards
    changed = [n for n in after if not torch.equal(before[n], after[n])]
    frozen_vision = [n for n in changed if ".visual." in n or n.startswith("visual.")]
    assert changed and not frozen_vision  # the language model learned, the frozen vision tower did not move
    if engine_name == "vllm":  # the weights before the first rollout, then once after each of the 9 steps between
        assert rollout_engine.pushes == 10


def test_learning_curve_is_unchanged_by_sharing_the_prompt_prefix(tmp_path: Path) -> None:
    # The shared prompt prefix (generation and log-prob passes) against every row's full prompt: the same
    # completions, so the same rewards at every step, and the same weights up to rounding. Qwen2-VL's RMSNorm and
    # rotary embedding compute in float32 even in a float64 model, and Adam turns those 1e-8 relative gradient
    # differences into weight differences of a few percent of the distance moved at most. Sampling reads float32
    # scores, so once the weights are that far apart a draw landing within rounding of a token boundary can flip
    # a token (seen at step 9 of 10): six steps, where every draw agrees.
    shared, before, shared_after = _toy_curve(tmp_path / "shared", double=True, steps=6, share_prompt_prefix=True)
    plain, _, plain_after = _toy_curve(tmp_path / "plain", double=True, steps=6, share_prompt_prefix=False)
    assert shared == pytest.approx(plain, abs=1e-9), (shared, plain)
    moved = max((plain_after[n] - before[n]).abs().max().item() for n in before)
    apart = max((plain_after[n] - shared_after[n]).abs().max().item() for n in before)
    assert moved > 0.05 and apart < 0.05 * moved, (moved, apart)


@pytest.mark.parametrize(
    "options",
    [
        dict(beta=0.04),  # full fine-tuning: a frozen copy as reference
        dict(beta=0.04, policy=HFPolicy(lora=LoraSettings(r=4))),  # LoRA: the adapter-disabled model is the reference
        dict(beta=0.04, policy=HFPolicy(lora=LoraSettings(r=4), load_in_4bit=True)),  # QLoRA: an nf4 base (CPU too)
        dict(num_iterations=2, minibatch_size=8, epsilon_high=0.28, loss_aggregation="token_mean"),  # mu > 1, DAPO
        dict(dynamic_sampling=True, advantage_scale="none", loss_aggregation="dr_grpo", mask_truncated=True),
    ],
    ids=["full-kl", "lora-kl", "qlora-kl", "mu2-minibatch", "dynamic-drgrpo"],
)
def test_options_train_with_finite_statistics(tmp_path: Path, options: dict) -> None:
    _train_two_steps_with_finite_statistics(tmp_path, options)


@needs_vllm
def test_vllm_rollouts_with_truncated_importance_sampling(tmp_path: Path) -> None:
    # Engine log-probs weigh the clipped objective (TRL's vllm_importance_sampling_correction), over two minibatches.
    last = _train_two_steps_with_finite_statistics(
        tmp_path, dict(rollout_engine=engine("vllm"), importance_sampling="token_truncate", minibatch_size=8))
    assert 0 < last["train/importance_weight"] <= 3.0


def _train_two_steps_with_finite_statistics(tmp_path: Path, options: dict) -> dict[str, float]:
    module = toy_module(**options)
    metrics: list[dict[str, float]] = []

    class Grab(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    toy_trainer(tmp_path, max_steps=2, callbacks=[Grab()]).fit(module, datamodule=toy_data())
    last = metrics[-1]
    for key in ("train/reward", "train/kl", "train/clip_frac", "train/entropy"):
        assert key in last and torch.isfinite(torch.tensor(last[key])), (key, last)
    if options.get("beta"):
        assert module.reference is not None
        if "policy" in options:  # no second copy of the weights with LoRA
            assert module.reference.model is module.model
    else:
        assert module.reference is None
    return last


def test_nonfinite_reward_skips_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lightning_modules.grpo as grpo

    real = grpo.score_completions

    def poisoned(samples, texts, rewards):
        out = real(samples, texts, rewards)
        out.total[0] = float("nan")
        return out

    monkeypatch.setattr(grpo, "score_completions", poisoned)
    module = toy_module()
    module.configure_model()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    with pytest.warns(RuntimeWarning, match="non-finite reward"):
        toy_trainer(tmp_path, max_steps=1, max_epochs=1, limit_train_batches=2).fit(module, datamodule=toy_data())
    assert module.skipped_nonfinite == 2
    assert all(torch.equal(before[n], p.detach()) for n, p in module.model.named_parameters())


def test_resume_from_checkpoint_continues(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=1)
    toy_trainer(tmp_path, max_steps=2, callbacks=[ckpt]).fit(toy_module(), datamodule=toy_data())
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 2
    assert not any(k.startswith("_reference") for k in saved["state_dict"])
    resumed, data = toy_module(), toy_data()
    trainer = toy_trainer(tmp_path, max_steps=3)
    trainer.fit(resumed, datamodule=data, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert trainer.global_step == 3
    # The sampler resumed too: 3 steps x 4 prompts were drawn in total.
    assert sum(data.drawn_counts.values()) == 12


def _main(tmp_path: Path, verb: str, config: Path) -> subprocess.CompletedProcess:
    """``python main.py <verb> --config <config>`` in a fresh process (one thread, tests importable); must succeed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), verb, "--config", str(config)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    config = tmp_path / "toy.yaml"
    config.write_text(f"""
seed_everything: 0
trainer:
  accelerator: cpu
  strategy: ddp
  devices: 2
  max_steps: 2
  log_every_n_steps: 1
  default_root_dir: {tmp_path}
  enable_progress_bar: false
  num_sanity_val_steps: 0
  limit_val_batches: 0
  callbacks:  # both resolve the log directory, which under DDP is a collective call: every rank must make it
    - {{class_path: callbacks.CompletionSamples, init_args: {{every_n_steps: 1}}}}
    - class_path: callbacks.ExportPolicy
model:
  class_path: GRPOModule
  init_args: {{num_generations: 2, generation: {{max_new_tokens: 4}}, beta: 0.04, lr: 0.01, dynamic_sampling: true}}
data:
  class_path: MultiDomainDataModule
  init_args:
    domains: [{{name: toy, source: {{class_path: toys.ToySource}}, verifiers: [{{name: toys.LetterShare}}],
               format_gate: false}}]
    batch_size: 2
    stop: cycle
""")
    proc = _main(tmp_path, "fit", config)
    assert "max_steps=2` reached" in proc.stderr + proc.stdout
    assert list(tmp_path.glob("lightning_logs/version_0/events.out.tfevents.*"))
    assert (tmp_path / "lightning_logs/version_0/samples.jsonl").stat().st_size > 0
    assert (tmp_path / "lightning_logs/version_0/policy/config.json").exists()


def test_samples_are_logged_when_a_batch_takes_several_optimiser_steps(tmp_path: Path) -> None:
    # num_iterations 2 x 2 minibatches: global_step moves 4 per batch (4, 8, 12), never onto a multiple of 5.
    from callbacks import CompletionSamples

    module = toy_module(num_iterations=2, minibatch_size=8)
    toy_trainer(tmp_path, max_steps=12, callbacks=[CompletionSamples(every_n_steps=5, max_samples=1)]).fit(
        module, datamodule=toy_data())
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in rows if r["stage"] == "train"}) == [8, 12]  # past 5, past 10


def test_ddp_validation_counts_every_sample_once(tmp_path: Path) -> None:
    """3 eval samples on 2 ranks: a DistributedSampler would pad to 4 and count one sample twice."""
    counts = tmp_path / "counts.json"
    config = tmp_path / "validate.yaml"
    config.write_text(f"""
seed_everything: 0
trainer:
  accelerator: cpu
  strategy: ddp
  devices: 2
  logger: false
  enable_progress_bar: false
  default_root_dir: {tmp_path}
  callbacks: [{{class_path: toys.EvalCountProbe, init_args: {{path: {counts}}}}}]
model:
  class_path: GRPOModule
  init_args: {{num_generations: 2, generation: {{max_new_tokens: 4}}, beta: 0.0}}
data:
  class_path: MultiDomainDataModule
  init_args:
    domains: [{{name: toy, source: {{class_path: toys.ToySource, init_args: {{eval_size: 3}}}},
                verifiers: [{{name: toys.LetterShare}}], format_gate: false}}]
    batch_size: 2
    eval_batch_size: 1
    stop: cycle
""")
    _main(tmp_path, "validate", config)
    assert json.loads(counts.read_text()) == [3.0]


def test_a_run_without_max_steps_is_refused_before_training(tmp_path: Path) -> None:
    # Lightning's estimate counts batches (-1 for the endless stream); one batch can take several optimiser steps,
    # so the linear decay would end early (at one step, from -1): the length must be given in optimiser steps.
    with pytest.raises(ValueError, match="trainer.max_steps"):
        toy_trainer(tmp_path, max_steps=-1, max_epochs=1).fit(toy_module(), datamodule=toy_data())


def test_parameter_sharding_strategies_are_refused_with_the_reason() -> None:
    # Generation runs outside the wrapped forward, where FSDP leaves each rank only its shard of the weights.
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    from lightning_modules.grpo import check_strategy

    with pytest.raises(ValueError, match="FSDPStrategy.*ddp"):
        check_strategy(FSDPStrategy())
    check_strategy(DDPStrategy())  # full weights on every rank: allowed (and tested above over gloo)


def test_the_rollout_engine_is_chosen_by_class_path_in_yaml() -> None:
    # What `--model.init_args.rollout_engine ...` does in main.py; VLLMEngine imports vLLM only when it starts.
    from jsonargparse import ArgumentParser

    from lightning_modules import HFGenerate, VLLMEngine

    parser = ArgumentParser()
    parser.add_class_arguments(GRPOModule, "model")
    cfg = parser.parse_args(["--model.rollout_engine=lightning_modules.VLLMEngine",
                             "--model.rollout_engine.init_args.kv_cache_memory_bytes=67108864",
                             "--model.importance_sampling=token_truncate"])
    module = parser.instantiate_classes(cfg).model
    assert isinstance(module.engine, VLLMEngine) and module.engine.kv_cache_memory_bytes == 2**26
    assert isinstance(GRPOModule().engine, HFGenerate)  # the default
    with pytest.raises(ValueError, match="importance_sampling.*log-probs"):
        GRPOModule(importance_sampling="token_truncate")  # HF generate reports no sampling log-probs
