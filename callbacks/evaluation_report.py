"""Print every evaluation once on the console: In-Score, Out-Score and one line per benchmark.

``main.py`` adds this callback to every run (unless the config lists one), so ``fit`` shows each
validation as it happens and a closing summary, and ``validate`` / ``test`` show their scores.
Example (``fit`` at step 300)::

    Validation at step 300: In-Score 0.412  Out-Score 0.187
      benchmark   role  score
      objects     in    0.523
      chart       out   0.141
"""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.utilities import rank_zero_only

from callbacks.run_record import scores_from_metrics

_TITLES = {"val": "Validation", "test": "Test"}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def evaluation_table(metrics: dict[str, Any], stage: str, roles: dict[str, str], step: int) -> str | None:
    """The report of one evaluation, or None when ``metrics`` hold no ``<stage>/...`` scores.

    Args:
        metrics: logged metrics (``trainer.callback_metrics``).
        stage: ``val`` or ``test``.
        roles: benchmark name -> ``in`` / ``out``; the table lists the in-domain ones first, each group in this
            order, then any benchmark not listed.
        step: the optimiser step the evaluated weights are at.
    """
    scores, in_score, out_score = scores_from_metrics(metrics, stage)
    if not scores and in_score is None and out_score is None:
        return None
    listed = [n for n in roles if n in scores]
    names = [n for n in listed if roles[n] != "out"] + [n for n in listed if roles[n] == "out"]
    names += sorted(n for n in scores if n not in roles)
    width = max([len("benchmark"), *map(len, names)])
    lines = [f"{_TITLES.get(stage, stage)} at step {step}: In-Score {_fmt(in_score)}  Out-Score {_fmt(out_score)}"]
    if names:
        lines.append(f"  {'benchmark':<{width}}  role  score")
        lines += [f"  {n:<{width}}  {roles.get(n, '?'):<4}  {_fmt(scores[n])}" for n in names]
    return "\n".join(lines)


class EvaluationReport(Callback):
    """Prints each evaluation's In-Score, Out-Score and per-benchmark scores, and a summary when fit ends.

    Reads the metrics the evaluation logged (``<stage>/<benchmark>/score``, ``<stage>/in_score``,
    ``<stage>/out_score``) and the benchmarks' roles from ``trainer.datamodule.eval_benchmarks``.
    A run without such metrics (the mixture predictor) prints nothing.
    """

    def __init__(self) -> None:
        self._last: tuple[int, str] | None = None  # (step, report) of the last validation
        self._dir: str | None = None
        self._ckpt_step = 0  # the step of the checkpoint a test or validate loaded (they do not restore the step)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # On every rank: under DDP trainer.log_dir broadcasts, so calling it from rank 0 alone deadlocks.
        self._dir = trainer.log_dir or trainer.default_root_dir

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._ckpt_step = int(checkpoint.get("global_step", 0))

    @staticmethod
    def _roles(trainer: Trainer) -> dict[str, str]:
        try:
            return {b.name: b.role for b in trainer.datamodule.eval_benchmarks}
        except (AttributeError, RuntimeError, TypeError):  # no data module, or one without benchmarks
            return {}

    @staticmethod
    def _print(trainer: Trainer, text: str) -> None:
        bar = trainer.progress_bar_callback
        if bar is not None and bar.is_enabled:
            if isinstance(bar, RichProgressBar):
                from rich.markup import escape

                text = escape(text)  # a benchmark name in [brackets] is text, not Rich markup
            bar.print(text)  # above a live progress bar, not through it
        else:
            print(text, flush=True)

    def _report(self, trainer: Trainer, stage: str) -> str | None:
        step = trainer.global_step or self._ckpt_step
        text = evaluation_table(dict(trainer.callback_metrics), stage, self._roles(trainer), step)
        if text is not None:
            self._print(trainer, text)
        return text

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        text = self._report(trainer, "val")
        if text is not None:
            self._last = (trainer.global_step, text)

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer, "test")

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        lines = [f"Training ended at step {trainer.global_step}; logs, checkpoints and config in {self._dir}"]
        if self._last is None:
            lines.append("No evaluation ran (see trainer.val_check_interval / limit_val_batches).")
        else:
            step, text = self._last
            first = text.splitlines()[0].split(": ", 1)[1]
            note = "" if step == trainer.global_step else f" (weights of step {step}, not the final ones)"
            lines.append(f"Last evaluation: {first}{note}")
        self._print(trainer, "\n".join(lines))
