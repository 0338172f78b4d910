"""Measurements shared by both benchmark workers: step clock, generation clock, resident and CUDA memory.

The same instrument is attached to both trainers: ``model.generate`` is wrapped on the instance (both trainers
call the policy's own ``generate``), and step times are the intervals between consecutive ends of optimiser
steps, so data loading, logging and everything else a trainer does per step is included on both sides.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
from typing import Any

import psutil
import torch

RESULT_TAG = "GRPO_BENCH_RESULT "  # the worker's one line of JSON on stdout starts with this


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Collects per-step wall times, per-call generation times and generated lengths."""

    def __init__(self) -> None:
        self.step_ends: list[float] = []
        self.step_cpu_ends: list[float] = []
        self.generate_seconds: list[float] = []
        self.generated_lengths: list[int] = []
        self.generated_tokens: list[int] = []  # completion tokens per rollout (engines only)
        self.start_rss_mb = rss_mb()
        self.model_rss_mb = 0.0
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def _wrap(self, owner: Any, record: Any) -> None:
        """Replace ``owner.generate`` (on the instance) by a timed call that also ``record(out, args, kwargs)``."""
        inner = owner.generate

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.generate_seconds.append(time.perf_counter() - start)
            record(out, args, kwargs)
            return out

        owner.generate = timed

    def wrap_generate(self, model: torch.nn.Module) -> None:
        """Time every ``model.generate`` call (instance attribute, so the class is untouched)."""

        def record(out: Any, args: Any, kwargs: Any) -> None:
            prompt = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
            self.generated_lengths.append(int(out.shape[1] - prompt.shape[1]))

        self._wrap(model, record)

    def wrap_engine(self, engine: Any) -> None:
        """Time every rollout of a :class:`~lightning_modules.rollout_engines.RolloutEngine` (any engine)."""

        def record(out: Any, args: Any, kwargs: Any) -> None:
            self.generated_lengths.append(int(out.ids.shape[1]))
            self.generated_tokens.append(int(out.mask.sum()))

        self._wrap(engine, record)

    def step_end(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.step_ends.append(time.perf_counter())
        self.step_cpu_ends.append(time.process_time())

    def report(self, side: str, settings: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Print the result line: per-step seconds and generation seconds of the timed (non-warm-up) steps."""
        steps = [b - a for a, b in zip(self.step_ends, self.step_ends[1:], strict=False)]
        result = {
            "side": side,
            "settings": settings,
            "step_seconds": steps,
            # CPU seconds of this process per step: far less sensitive than wall time to other jobs' load.
            "step_cpu_seconds": [b - a for a, b in zip(self.step_cpu_ends, self.step_cpu_ends[1:], strict=False)],
            "generate_seconds": self.generate_seconds[1 : 1 + len(steps)],
            "generated_lengths": sorted(set(self.generated_lengths)),
            "generated_tokens": self.generated_tokens[1 : 1 + len(steps)],
            "start_rss_mb": self.start_rss_mb,
            "model_rss_mb": self.model_rss_mb,
            "peak_rss_mb": peak_rss_mb(),
            "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
            **(extra or {}),
        }
        sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
        sys.stdout.flush()
