"""Shared fixtures: offline mode, the tiny model, a fast data module for end-to-end tests."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    """The tiny offline Qwen2-VL-architecture model, built once into the user cache."""
    from lightning_modules.tiny_model import ensure_tiny_model

    return str(ensure_tiny_model())
