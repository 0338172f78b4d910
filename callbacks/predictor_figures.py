"""``PredictorFigures``: the mixture predictor's validation figures, logged to TensorBoard.

After each validation of a :class:`predictors.GPPredictor`: predicted vs actual (LOO and k-fold, with
95% intervals) per target, and a simplex slice of the posterior mean through the best observed mixture
(:mod:`predictors.figures`). matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only


class PredictorFigures(Callback):
    """Logs predicted-vs-actual and simplex-slice figures after each validation of a ``GPPredictor``.

    Args:
        slice_domains: the two domains of the slice; None takes the two largest weights of the best run.
    """

    def __init__(self, slice_domains: list[str] | None = None) -> None:
        if slice_domains is not None and len(slice_domains) != 2:
            raise ValueError(f"slice_domains must name exactly two domains, got {slice_domains}")
        self.slice_domains = slice_domains

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draws and logs the figures (skipped without a fitted model or a figure-capable logger)."""
        results = getattr(pl_module, "validation_results", None)
        experiment = getattr(trainer.logger, "experiment", None) if trainer.logger else None
        if not results or not hasattr(experiment, "add_figure"):
            return
        from predictors.figures import predicted_vs_actual, simplex_slice

        table = pl_module.table
        pair = None
        if self.slice_domains is not None:
            missing = [d for d in self.slice_domains if d not in table.domains]
            if missing:
                raise ValueError(f"slice_domains {missing} are not among {table.domains}")
            pair = (table.domains.index(self.slice_domains[0]), table.domains.index(self.slice_domains[1]))
        for k, (target, result) in enumerate(results.items()):
            experiment.add_figure(
                f"predictor/{target}/predicted_vs_actual", predicted_vs_actual(result, target), trainer.global_step
            )
            if table.d >= 3:
                figure = simplex_slice(pl_module.surrogates[k], table, k, pair)
                experiment.add_figure(f"predictor/{target}/simplex_slice", figure, trainer.global_step)
