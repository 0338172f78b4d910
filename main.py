"""Command-line entry point: GRPO training, evaluation and the mixture predictor through LightningCLI.

Examples::

    python main.py fit --config configs/mix.yaml                       # GRPO on the embedded default
    python main.py fit --config configs/mix.yaml --data.weights '{objects: 2, spatial: 1, referring: 0, geometry: 1, science: 1}'
    python main.py test --config configs/mix.yaml --ckpt_path runs/mix/version_0/checkpoints/last.ckpt
    python main.py fit --config configs/predictor.yaml                 # fit the mixture predictor on run records
    python main.py predict --config configs/predictor.yaml             # propose the next mixtures

Importing the packages registers their classes, so configs may name them briefly
(``class_path: GRPOModule``) as well as by full path.
"""

from __future__ import annotations

import os

# Nothing may be fetched from a hub at run time unless the user opts in (HF_HUB_OFFLINE=0).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lightning.pytorch.cli import LightningCLI  # noqa: E402

import callbacks  # noqa: E402,F401
import datamodules  # noqa: E402,F401
import lightning_modules  # noqa: E402,F401
import predictors  # noqa: E402,F401


def main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI.

    Args:
        args: command-line arguments; ``sys.argv`` when None.
        run: run the subcommand; False only parses and instantiates (``args`` then has no subcommand).

    Returns:
        The CLI, with ``model``, ``datamodule`` and ``trainer`` instantiated.
    """
    return LightningCLI(
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


if __name__ == "__main__":
    main()
