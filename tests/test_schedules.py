"""Learning-rate schedules: the same values as transformers' warm-up schedules, without importing peft."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

from lightning_modules.schedules import warmup_schedule

ROOT = Path(__file__).resolve().parents[1]


def _lrs(make_scheduler, steps: int = 14) -> list[float]:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("warmup", [0, 1, 4])
@pytest.mark.parametrize("decay,reference", [
    ("linear", lambda o, w, t: get_linear_schedule_with_warmup(o, w, t)),
    ("cosine", lambda o, w, t: get_cosine_schedule_with_warmup(o, w, t)),
    ("constant", lambda o, w, t: get_constant_schedule_with_warmup(o, w)),
])
def test_matches_transformers_step_by_step(decay, reference, warmup) -> None:
    ours = _lrs(lambda o: warmup_schedule(o, warmup, 10, decay=decay))
    theirs = _lrs(lambda o: reference(o, warmup, 10))
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert ours[0] == theirs[0]  # exactly 0 under a warm-up: a first step at 1e-8 * lr already changes a long run


def test_rejects_unknown_decay_and_negative_steps() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="decay"):
        warmup_schedule(opt, 0, 10, decay="exponential")
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_schedule(opt, -1, 10)


def test_training_entry_point_does_not_load_peft() -> None:
    """peft (tens of MiB resident) is loaded only when a LoRA policy asks for it."""
    code = "import sys, main; print('peft' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
