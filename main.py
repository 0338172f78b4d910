r"""Command-line entry point: GRPO training, evaluation and the mixture predictor through LightningCLI.

Examples::

    python main.py fit --config configs/mix.yaml                       # GRPO on the embedded default
    python main.py fit --config configs/mix.yaml \
        --data.weights '{objects: 2, spatial: 1, referring: 0, geometry: 1, science: 1}'
    python main.py fit --config configs/mix.yaml --ckpt_path runs/mix/version_0/checkpoints/last.ckpt   # resume
    python main.py test --config configs/mix.yaml --ckpt_path runs/mix/version_0/checkpoints/last.ckpt
    python main.py fit --config configs/predictor.yaml                 # fit the mixture predictor on run records
    python main.py predict --config configs/predictor.yaml             # propose the next mixtures
    python main.py fit --model.help GRPOModule                         # the options of a model (or --data.help ...)

Beyond plain ``LightningCLI``:

- every evaluation is printed once (``callbacks.EvaluationReport``) and training counts steps out of
  ``max_steps`` (``callbacks.StepProgressBar``), unless the config lists its own callback of that kind;
- a bad value is reported in one line, before anything is written (``MODOMODO_DEBUG=1``: the full traceback);
  a run that fails before its first batch leaves no run directory behind;
- ``--ckpt_path`` must exist; resuming, ``validate`` and ``test`` write into the checkpoint's own run directory
  (one TensorBoard run per training run), ``validate`` / ``test`` save their config as ``<subcommand>_config.yaml``;
- ``--print_config`` and the saved ``config.yaml`` list the verifiers of every domain, also where the config
  leaves them to the source's defaults;
- no ``--optimizer`` / ``--lr_scheduler``: the modules configure their own (``--model.help`` lists ``lr``, ...).

Importing the packages registers their classes, so configs may name them briefly (``class_path: GRPOModule``).
The mixture predictor (GPyTorch, BoTorch) is imported only when a config names it (``predictors.GPPredictor``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

# Nothing may be fetched from a hub at run time unless the user opts in (HF_HUB_OFFLINE=0).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEBUG_ENV = "MODOMODO_DEBUG"


def quiet_library_noise() -> None:
    """Silences the libraries' console messages that are harmless here, each by message and category.

    Everything else still shows; warnings raised by this project's code are never filtered.
    """
    for category, message in [
        # GPyTorch (imported for the predictor) still uses torch.jit.script.
        (FutureWarning, r"`torch\.jit\.script` is deprecated"),
        # Lightning's own pytree helper uses a torch class deprecated in torch 2.10.
        (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
        # Lightning warns on every periodic checkpoint of a manually optimised module (GRPO steps its optimiser in
        # training_step) that the weights are those after the step: that is the state a checkpoint of step N holds.
        (UserWarning, r"Using ModelCheckpoint with manual optimization and every_n_train_steps"),
        # The evaluation shards define __len__ and split their samples between DataLoader workers themselves.
        (UserWarning, r"Your `IterableDataset` has `__len__` defined"),
    ]:
        warnings.filterwarnings("ignore", message=message, category=category)

    class _NoAdverts(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.msg).startswith("💡 Tip:")  # Lightning's cloud-service adverts

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdverts())


quiet_library_noise()  # before the imports that warn

from jsonargparse import ArgumentError, Namespace  # noqa: E402
from lightning.fabric.utilities.exceptions import MisconfigurationException  # noqa: E402
from lightning.pytorch import Callback, Trainer  # noqa: E402
from lightning.pytorch.callbacks import ProgressBar  # noqa: E402
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI  # noqa: E402
from lightning.pytorch.utilities.exceptions import SIGTERMException  # noqa: E402

import callbacks  # noqa: E402
import datamodules  # noqa: E402
import lightning_modules  # noqa: E402,F401

_HELP = (
    "The options of --model and --data depend on their class: `--model.help GRPOModule` and "
    "`--data.help MultiDomainDataModule` list the real ones (also SFTModule, predictors.GPPredictor, "
    "predictors.RunRecordDataModule). `--print_config` shows a whole configuration. Errors are printed in one "
    f"line; {DEBUG_ENV}=1 prints the full traceback."
)
_DESCRIPTIONS = {
    "fit": "Train: GRPO on a mixture (configs/mix.yaml), SFT, or the mixture predictor (configs/predictor.yaml).",
    "validate": "Score a model on the validation benchmarks (with --ckpt_path: in that run's directory).",
    "test": "Score a checkpoint on the test benchmarks; the scores are added to its run record.",
    "predict": "Propose mixtures with a fitted predictor (configs/predictor.yaml).",
}
# Lines of jsonargparse's messages that repeat the input rather than name the problem.
_NOISE = (
    "Given value",
    "Subtypes:",
    "Does not validate against any of the Union subtypes",
    "Errors:",
    "- Expected a <class 'NoneType'>",
)
# Errors that name a bad input (not a bug): reported in one line when they happen before any batch ran.
_INPUT_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    ImportError,
    ArgumentError,
    MisconfigurationException,
)
_KEYWORD_CKPTS = ("last", "best", "hpc")


def one_line(message: str, max_part: int = 300) -> str:
    """``message`` without the lines that repeat the input, joined into one line (long lines cut)."""
    parts = [line.strip().removeprefix("- ") for line in message.splitlines()]
    parts = [p if len(p) <= max_part else p[:max_part] + " ..." for p in parts if p and not p.startswith(_NOISE)]
    return " ".join(parts)


def _message(err: BaseException) -> str:
    text = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 else str(err)  # KeyError quotes its text
    text = one_line(str(text))
    return text if type(err) in (ValueError, ArgumentError) else f"{type(err).__name__}: {text}"


def _unwrap(err: BaseException) -> BaseException:
    """The error behind jsonargparse's wrappers (it re-raises a class's own error as a union mismatch)."""
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        frames = traceback.extract_tb(err.__traceback__)
        inner = err.__cause__ or err.__context__
        if inner is None or not frames or f"{os.sep}jsonargparse{os.sep}" not in frames[-1].filename:
            break
        err = inner
    return err


def report_error(err: BaseException) -> bool:
    """Prints ``err`` in one line if it names a bad input found before any batch ran; False for other errors."""
    if getattr(err, "after_first_batch", False):
        return False
    inner = _unwrap(err)
    if inner is err and not isinstance(err, _INPUT_ERRORS):
        return False  # a bug: its traceback matters
    sys.stderr.write(f"error: {_message(inner)}\n  ({DEBUG_ENV}=1 prints the full traceback)\n")
    return True


def _effective_verifiers(domain: Namespace) -> list[dict[str, Any]] | None:
    """The verifiers that apply to a parsed domain that leaves them to its source, or None if unknown."""
    source = domain.get("source")
    if not isinstance(source, Namespace) or not source.get("class_path"):
        return None
    try:
        module, _, name = source.class_path.rpartition(".")
        init = source.get("init_args")
        built = getattr(importlib.import_module(module), name)(
            **(init.as_dict() if isinstance(init, Namespace) else {})
        )
        specs = datamodules.Domain(name=domain.name, source=built).verifier_specs()
    except Exception:  # noqa: BLE001 - a config that cannot be built is reported by the run itself
        return None
    return [{"name": s.name, "weight": float(s.weight), "options": dict(s.options)} for s in specs]


class ModomodoParser(LightningArgumentParser):
    """The CLI's parser: errors in one line; dumped configs show every domain's verifiers."""

    def error(self, message: str, ex: Exception | None = None) -> Any:
        """Prints the problem and a hint instead of the usage text (the full usage with ``MODOMODO_DEBUG=1``)."""
        if not self.exit_on_error or os.environ.get(DEBUG_ENV):
            return super().error(message, ex)
        prog = (getattr(ex, "subcommand_parser", None) or self).prog.replace(" [options]", "")
        sys.stderr.write(
            f"error: {one_line(message)}\n  (`{prog} --help` lists the options; {DEBUG_ENV}=1 prints "
            "the full message)\n"
        )
        self.exit(2)

    def dump(self, cfg: Namespace, *args: Any, **kwargs: Any) -> str:
        """Dumps ``cfg`` with ``verifiers: null`` replaced by the verifiers the domain's source supplies."""
        cfg = cfg.clone()
        sections = [cfg]
        if isinstance(cfg.get("subcommand"), str) and isinstance(cfg.get(cfg.subcommand), Namespace):
            sections.append(cfg[cfg.subcommand])
        for section in sections:
            data = section.get("data")
            init = data.get("init_args") if isinstance(data, Namespace) else None
            for domain in (init.get("domains") if isinstance(init, Namespace) else None) or []:
                if isinstance(domain, Namespace) and isinstance(domain.get("init_args"), Namespace):
                    domain = domain.init_args  # the unvalidated form --print_config sees: class_path + init_args
                if isinstance(domain, Namespace) and "verifiers" in domain and domain.verifiers is None:
                    domain.verifiers = _effective_verifiers(domain)
        if "skip_none" in kwargs:  # Lightning still passes jsonargparse's deprecated name for skip_unset
            kwargs["skip_unset"] = kwargs.pop("skip_none")
        return super().dump(cfg, *args, **kwargs)


def _batches_run(trainer: Trainer) -> bool:
    """Whether any training or evaluation batch started (restored progress counts) in ``trainer``."""
    try:
        epoch = trainer.fit_loop.epoch_loop
        loops = [epoch, epoch.val_loop, trainer.validate_loop, trainer.test_loop, trainer.predict_loop]
        return any(loop.batch_progress.total.started > 0 for loop in loops)
    except AttributeError:  # another Lightning version: assume work was done, keep everything
        return True


def _only_setup_files(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds nothing but what Lightning writes before the first batch."""
    for path in run_dir.rglob("*"):
        name = path.name
        if path.is_file() and not (
            name.endswith("config.yaml") or name == "hparams.yaml" or name.startswith("events.out.tfevents")
        ):
            return False
    return True


class ModomodoCLI(LightningCLI):
    """``LightningCLI`` with the project's defaults (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs = {
            "subclass_mode_model": True,
            "subclass_mode_data": True,
            "seed_everything_default": 42,
            "save_config_kwargs": {"overwrite": True},
            "parser_class": ModomodoParser,
            "auto_configure_optimizers": False,  # the modules configure their own optimisers
            "parser_kwargs": {
                sub: {"description": f"{text} {_HELP}", "epilog": _HELP} for sub, text in _DESCRIPTIONS.items()
            },
            **kwargs,
        }
        self._existing_runs: set[str] | None = None
        super().__init__(**kwargs)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if "verbose" in self._subcommand_method_arguments[subcommand]:
            # Lightning's results table repeats every metric once per benchmark loader; EvaluationReport prints one.
            parser.set_defaults(verbose=False)
        return parser

    # --------------------------------------------------------------- checkpoint and run directory
    def _logger_args(self) -> Namespace | None:
        logger = self.config[self.subcommand].trainer.get("logger")
        init = logger.get("init_args") if isinstance(logger, Namespace) else None
        return init if isinstance(init, Namespace) and "version" in init and init.get("save_dir") else None

    def before_instantiate_classes(self) -> None:
        """Checks ``--ckpt_path`` and points the logger at the checkpoint's run directory, before anything is built."""
        if self.subcommand is None:
            return
        config = self.config[self.subcommand]
        if self.subcommand != "fit":  # the training config of the run directory stays as it was
            self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": f"{self.subcommand}_config.yaml"}
        logger = self._logger_args()
        base = Path(logger.save_dir, logger.get("name") or "") if logger is not None else None
        ckpt = config.get("ckpt_path")
        if ckpt and str(ckpt) not in _KEYWORD_CKPTS and "://" not in str(ckpt) and not str(ckpt).startswith("registry"):
            path = Path(ckpt)
            if not path.is_file():
                found = sorted(map(str, base.glob("*/checkpoints/*.ckpt")))[-4:] if base is not None else []
                raise FileNotFoundError(
                    f"--ckpt_path {ckpt}: no such checkpoint file"
                    + (f"; found e.g. {', '.join(found)}" if found else "")
                )
            run_dir = path.resolve().parent.parent
            if (
                logger is not None
                and logger.get("version") is None
                and path.parent.name == "checkpoints"
                and run_dir.parent == base.resolve()
            ):
                logger.version = run_dir.name  # resume / evaluate in the run's own directory
                # ... which holds the checkpoints it resumes from: Lightning's warning about that is expected.
                warnings.filterwarnings(
                    "ignore", message=r"Checkpoint directory .* exists and is not empty", category=UserWarning
                )
        if base is not None and logger.get("version") is None:
            self._existing_runs = {p.name for p in base.iterdir()} if base.is_dir() else set()

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer, with an ``EvaluationReport`` and a ``StepProgressBar`` unless the config has its own."""
        config = self._get(self.config_init, "trainer", default={})
        listed = config.get("callbacks") or []
        listed = listed if isinstance(listed, list) else [listed]
        extra: list[Callback] = []
        if not any(isinstance(c, callbacks.EvaluationReport) for c in listed):
            extra.append(callbacks.EvaluationReport())
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in listed):
            if importlib.util.find_spec("rich") is not None:  # Lightning's default bar is Rich's when installed
                extra.append(callbacks.StepProgressBar())
        if extra:
            kwargs["callbacks"] = [*listed, *extra]
        return super().instantiate_trainer(**kwargs)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException as err:
            if _batches_run(self.trainer):
                if isinstance(err, Exception):
                    err.after_first_batch = True  # a crash mid-run: its traceback is shown
            elif self.trainer.is_global_zero:
                self._remove_fresh_run_dir()
            raise

    def _remove_fresh_run_dir(self) -> None:
        """Removes the run directory this attempt created, if it holds only what setup wrote."""
        logger = self.trainer.logger
        if self._existing_runs is None or logger is None or not getattr(logger, "log_dir", None):
            return
        run_dir = Path(logger.log_dir)
        if run_dir.name not in self._existing_runs and run_dir.is_dir() and _only_setup_files(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
            if not self._existing_runs and run_dir.parent.is_dir() and not any(run_dir.parent.iterdir()):
                run_dir.parent.rmdir()  # the logger's directory was new too


def main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI.

    Args:
        args: command-line arguments; ``sys.argv`` when None.
        run: run the subcommand; False only parses and instantiates (``args`` then has no subcommand).

    Returns:
        The CLI, with ``model``, ``datamodule`` and ``trainer`` instantiated.
    """
    return ModomodoCLI(args=args, run=run)


def cli(args: list[str] | None = None) -> int:
    """Run the CLI as a command; an error that names a bad input is printed in one line.

    Args:
        args: command-line arguments; ``sys.argv`` when None.

    Returns:
        0 on success, 1 after a reported error, 143 after SIGTERM; other errors propagate with their traceback.
    """
    try:
        main(args)
    except SIGTERMException:  # Lightning stops after the current batch and exits as if the run had succeeded
        return 128 + signal.SIGTERM  # the shell's status for a process ended by SIGTERM: schedulers see the stop
    except Exception as err:
        if os.environ.get(DEBUG_ENV) or not report_error(err):
            raise
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
