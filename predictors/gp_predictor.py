"""``GPPredictor``: the mixture -> score Gaussian process as a LightningModule.

Run it as::

    python main.py fit --config configs/predictor.yaml       # fit, cross-validate, save
    python main.py predict --config configs/predictor.yaml   # propose and rank mixtures

Fitting is full-batch and exact: the single training batch is the whole
:class:`~predictors.run_table.RunTable`, and ``training_step`` runs :func:`predictors.gp.fit_gp` (the
same fit as the mixture search's) per target, with manual optimisation: one epoch is the whole fit.
Validation computes LOO and k-fold accuracy and whether the GP can rank the runs at all
(:func:`predictors.validation.ranking_verdict`). The fitted predictor, training data included, is saved
to ``checkpoint_path`` so ``predict`` can use it without refitting. Figures, proposal files and the
printed summary are callbacks (``callbacks.PredictorFigures``, ``callbacks.MixtureProposalWriter``,
``callbacks.PredictorSummary``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from predictors.gp import GPOptions, GPSurrogate, fit_gp
from predictors.gp_model import MixtureGP
from predictors.mean_selection import MeanChoice
from predictors.run_table import RunTable
from predictors.strategies.base import ProposalStrategy
from predictors.validation import RankingVerdict, kfold_predictions, ranking_verdict, regression_metrics

#: Proposals closer than this (L1) to a trained mixture are that mixture.
TRAINED_TOLERANCE = 0.02


def _default_strategies() -> list[ProposalStrategy]:
    from predictors.strategies import AlphaCredit, BayesOptBatch, DirichletRandom, ModelArgmax

    return [ModelArgmax(num=4), BayesOptBatch(q=4), AlphaCredit(0.5), DirichletRandom(num=4)]


class GPPredictor(LightningModule):
    """Exact GP surrogate(s) of run outcome as a function of the mixture.

    One independent GP per target of the data module; the first target drives proposals.

    Args:
        gp: the GP's settings (kernel, prior and warp candidates, mean candidates, noise floor as a
            standard deviation in target units), the same object as the mixture search's ``gp``.
        maximize: higher target is better (False for losses).
        cv_folds: folds of the k-fold validation (0 skips it; LOO is always computed).
        strategies: proposal strategies used by ``predict`` (class paths in YAML).
        include_trained: keep proposals that are mixtures already trained (marked as such); by default
            they are left out, since running them again only measures seed noise.
        checkpoint_path: where ``fit`` saves the fitted predictor and ``predict`` loads it when
            no ``--ckpt_path`` is given; relative paths are under ``trainer.default_root_dir``.
    """

    def __init__(
        self,
        gp: GPOptions | None = None,
        maximize: bool = True,
        cv_folds: int = 5,
        strategies: list[ProposalStrategy] | None = None,
        include_trained: bool = False,
        checkpoint_path: str | None = "predictor.ckpt",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["strategies"])
        self.automatic_optimization = False
        if cv_folds < 0 or cv_folds == 1:
            raise ValueError(f"cv_folds must be 0 (off) or >= 2, got {cv_folds}")
        self.options = gp or GPOptions()
        self.strategies = _default_strategies() if strategies is None else list(strategies)
        self.gps = nn.ModuleList()
        self.surrogates: list[GPSurrogate] = []
        self.table: RunTable | None = None
        #: Per target: ``actual``, ``loo_mean``/``loo_std``, ``kfold_mean``/``kfold_std`` and ``metrics``.
        self.validation_results: dict[str, dict[str, Any]] = {}
        #: Whether the first target's held-out predictions rank the runs (after validation).
        self.verdict: RankingVerdict | None = None
        #: The last ``predict`` output, best first, and how many trained mixtures it left out.
        self.proposals: list[dict[str, Any]] = []
        self.left_out_trained = 0

    # -- fitting ---------------------------------------------------------------------------
    def _fit(self, table: RunTable, column: int) -> GPSurrogate:
        return fit_gp(table, self.options, self.hparams.maximize, column=column)

    def _install(self, table: RunTable, surrogates: list[GPSurrogate]) -> None:
        self.table = table
        self.surrogates = surrogates
        self.gps = nn.ModuleList([s.model for s in surrogates])

    @property
    def fitted(self) -> bool:
        """Whether a fitted GP is present."""
        return bool(self.surrogates)

    def forward(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior ``(mean, std)`` at ``m x d`` mixtures, each ``m x t`` in target units."""
        if not self.fitted:
            raise RuntimeError("the predictor is not fitted: run fit first or pass --ckpt_path")
        outs = [s.predict(weights) for s in self.surrogates]
        return torch.stack([m for m, _ in outs], -1), torch.stack([s for _, s in outs], -1)

    def training_step(self, batch: RunTable, batch_idx: int) -> None:
        """Fits one GP per target on the whole table and logs the chosen candidate's held-out error."""
        self._install(batch, [self._fit(batch, j) for j in range(len(batch.targets))])
        for name, s in zip(batch.targets, self.surrogates, strict=False):
            self.log(f"train/{name}/heldout_mse", min(s.selection.values()), batch_size=batch.n)

    def configure_optimizers(self) -> list[Any]:
        """No optimiser: the fit is BoTorch's L-BFGS-B inside ``training_step`` (manual optimisation).

        An empty list, not None, for which Lightning warns that the fit runs without an optimiser.
        """
        return []

    # -- validation ------------------------------------------------------------------------
    def validation_step(self, batch: RunTable, batch_idx: int) -> None:
        """Logs LOO (and k-fold) Spearman, Pearson, MAE and 95% coverage per target; judges the ranking."""
        if not self.fitted:  # sanity check before the fit
            return
        self.validation_results = {}
        for j, (name, s) in enumerate(zip(batch.targets, self.surrogates, strict=False)):
            actual = batch.y[:, j]
            result: dict[str, Any] = {"actual": actual}
            result["loo_mean"], result["loo_std"] = s.loo()
            metrics = {
                f"loo_{k}": v for k, v in regression_metrics(result["loo_mean"], result["loo_std"], actual).items()
            }
            if self.hparams.cv_folds and batch.n >= 4:
                result["kfold_mean"], result["kfold_std"] = kfold_predictions(
                    batch, lambda train, x, j=j: self._fit(train, j).predict(x), self.hparams.cv_folds
                )
                kf = regression_metrics(result["kfold_mean"], result["kfold_std"], actual)
                metrics.update({f"kfold_{k}": v for k, v in kf.items()})
            result["metrics"] = metrics
            self.validation_results[name] = result
            self.log_dict({f"val/{name}/{k}": v for k, v in metrics.items() if math.isfinite(v)}, batch_size=batch.n)
        first = self.validation_results[batch.targets[0]]
        # k-fold refits everything without the held-out runs: the honest test when there is one.
        method = "kfold" if "kfold_mean" in first else "loo"
        self.verdict = ranking_verdict(
            first[f"{method}_mean"], first["actual"], "k-fold" if method == "kfold" else "leave-one-out"
        )

    # -- prediction ------------------------------------------------------------------------
    def on_predict_start(self) -> None:
        """Loads the fitted predictor from ``checkpoint_path`` unless a checkpoint was restored."""
        if self.fitted:
            return
        path = self.resolved_checkpoint_path()
        if path is None or not path.is_file():
            raise FileNotFoundError(f"no fitted predictor at {path}; run `fit` first or pass --ckpt_path")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        # Lightning predicts under inference mode; tensors made there could never enter the autograd the
        # acquisition optimisers need.
        with torch.inference_mode(False):
            self.on_load_checkpoint(checkpoint)
            self.load_state_dict(checkpoint["state_dict"])

    def predict_step(self, batch: RunTable, batch_idx: int) -> list[dict[str, Any]]:
        """Proposes mixtures with every strategy from the history ``batch`` and ranks them.

        Returns:
            One dict per unique proposal, best first: ``strategies`` (names), ``weights`` (domain ->
            weight), ``mean`` and ``std`` (target -> value in target units), ``trained`` (the observed
            first target of the trained mixture it coincides with, else None; such proposals are left
            out unless ``include_trained``).
        """
        table = self.table
        if list(batch.domains) != list(table.domains):
            raise ValueError(f"records cover domains {batch.domains} but the predictor was fitted on {table.domains}")
        primary = self.surrogates[0]
        found: dict[tuple[float, ...], dict[str, Any]] = {}
        for strategy in self.strategies:
            with torch.inference_mode(False), torch.enable_grad():
                mixtures = strategy.propose(batch, primary if strategy.needs_surrogate else None).detach()
            label = strategy.name or type(strategy).__name__
            for row in mixtures:
                key = tuple(round(float(v), 4) for v in row)
                entry = found.setdefault(key, {"strategies": [], "row": row})
                if label not in entry["strategies"]:
                    entry["strategies"].append(label)
        entries = list(found.values())
        rows = torch.stack([e["row"] for e in entries])
        mean, std = self(rows)
        distance = (rows.unsqueeze(1) - batch.weights.unsqueeze(0)).abs().sum(-1)  # proposals x trained
        nearest = distance.min(-1)
        sign = 1.0 if self.hparams.maximize else -1.0
        out = []
        self.left_out_trained = 0
        for i in torch.argsort(sign * mean[:, 0], descending=True).tolist():
            trained = (
                float(batch.y[int(nearest.indices[i]), 0]) if float(nearest.values[i]) < TRAINED_TOLERANCE else None
            )
            if trained is not None and not self.hparams.include_trained:
                self.left_out_trained += 1
                continue
            out.append(
                {
                    "strategies": entries[i]["strategies"],
                    "weights": {d: round(float(w), 4) for d, w in zip(batch.domains, rows[i], strict=False)},
                    "mean": {t: float(mean[i, j]) for j, t in enumerate(table.targets)},
                    "std": {t: float(std[i, j]) for j, t in enumerate(table.targets)},
                    "trained": trained,
                }
            )
        self.proposals = out
        return out

    # -- checkpointing ---------------------------------------------------------------------
    def resolved_checkpoint_path(self) -> Path | None:
        """``checkpoint_path`` resolved against the trainer's ``default_root_dir``."""
        raw = self.hparams.checkpoint_path
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_absolute() and self._trainer is not None:
            path = Path(self.trainer.default_root_dir) / path
        return path

    def on_train_end(self) -> None:
        """Saves the fitted predictor to ``checkpoint_path``."""
        path = self.resolved_checkpoint_path()
        if path is not None and self.fitted:
            os.makedirs(path.parent, exist_ok=True)
            self.trainer.save_checkpoint(path)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Stores the training table and each GP's structure; the state dict holds everything fitted
        (hyperparameters, the target standardisation, a peak mean's parameters)."""
        if self.table is None:
            return
        t = self.table
        checkpoint["predictor"] = {
            "table": {f.name: getattr(t, f.name) for f in fields(t)},  # shallow: asdict would turn `runs` into a dict
            "gps": [
                {
                    "structure": s.model.structure(),
                    "selection": s.selection,
                    "mean_choice": None if s.mean_choice is None else asdict(s.mean_choice),
                }
                for s in self.surrogates
            ],
            "verdict": None if self.verdict is None else asdict(self.verdict),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Rebuilds the GPs (same structure as when saved) so ``load_state_dict`` can fill them."""
        saved = checkpoint.get("predictor")
        if saved is None:
            raise ValueError("checkpoint holds no fitted predictor (was it written by GPPredictor after fit?)")
        table = RunTable(**saved["table"])
        sign = 1.0 if self.hparams.maximize else -1.0
        surrogates = []
        for j, meta in enumerate(saved["gps"]):
            noise = None if table.noise is None else table.noise[:, j]
            model = MixtureGP(table.weights, sign * table.y[:, j], noise, **meta["structure"])
            model.eval()
            choice = None if meta["mean_choice"] is None else MeanChoice(**meta["mean_choice"])
            surrogates.append(GPSurrogate(model, self.hparams.maximize, meta["selection"], choice))
        self._install(table, surrogates)
        self.verdict = None if saved.get("verdict") is None else RankingVerdict(**saved["verdict"])
