"""``GPPredictor``: the mixture -> score Gaussian process as a LightningModule.

Run it as::

    python main.py fit --config configs/predictor.yaml       # fit, cross-validate, save
    python main.py predict --config configs/predictor.yaml   # propose and rank mixtures

Fitting is full-batch and exact: the single training batch is the whole
:class:`~predictors.table.RunTable`, and ``training_step`` runs BoTorch's L-BFGS-B fit of
the marginal likelihood for every (warp, prior) candidate, keeping the best by
leave-one-out evidence (manual optimisation; one epoch is the whole fit). Validation logs
LOO and k-fold accuracy. The fitted predictor, training data included, is saved to
``checkpoint_path`` so ``predict`` can use it without refitting.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from predictors.gp import DEFAULT_PRIORS, DEFAULT_WARPS, GPSurrogate, KernelName, MeanName, MIN_NOISE, MixtureGP, PriorSpec, WarpName, make_likelihood
from predictors.strategies.base import ProposalStrategy
from predictors.table import RunTable
from predictors.validation import kfold_predictions, regression_metrics


def _default_strategies() -> list[ProposalStrategy]:
    from predictors.strategies import AlphaCredit, BayesOptBatch, DirichletRandom, ModelArgmax

    return [ModelArgmax(num=4), BayesOptBatch(q=4), AlphaCredit(0.5), DirichletRandom(num=4)]


class GPPredictor(LightningModule):
    """Exact GP surrogate(s) of run outcome as a function of the mixture.

    One independent GP per target of the data module; the first target drives proposals.

    Args:
        kernel: covariance, ``rbf`` or ``matern12/32/52``, always with one lengthscale per domain (ARD).
        priors: lengthscale-prior candidates: LogNormal medians in simplex units, ``dim_scaled``
            (BoTorch's default) or ``none``; chosen by LOO log predictive density.
        warps: input-warp candidates (``none``, ``sqrt``, ``log``), chosen jointly with the prior.
        mean: GP mean function, ``constant``, ``linear`` (in the warped weights) or ``peak``
            (:mod:`predictors.means`), or a list of them to choose from by leave-one-out.
        noise_floor: smallest observation-noise variance in target units, or None
            (see :class:`predictors.gp.GPSurrogate`).
        maximize: higher target is better (False for losses).
        cv_folds: folds of the k-fold validation (0 skips it; LOO is always logged).
        strategies: proposal strategies used by ``predict`` (class paths in YAML).
        checkpoint_path: where ``fit`` saves the fitted predictor and ``predict`` loads it when
            no ``--ckpt_path`` is given; relative paths are under ``trainer.default_root_dir``.
    """

    def __init__(
        self,
        kernel: KernelName = "matern52",
        priors: list[PriorSpec] = list(DEFAULT_PRIORS),
        warps: list[WarpName] = list(DEFAULT_WARPS),
        mean: MeanName | list[MeanName] = "constant",
        noise_floor: float | None = None,
        maximize: bool = True,
        cv_folds: int = 5,
        strategies: list[ProposalStrategy] | None = None,
        checkpoint_path: str | None = "predictor.ckpt",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["strategies"])
        self.automatic_optimization = False
        if cv_folds < 0 or cv_folds == 1:
            raise ValueError(f"cv_folds must be 0 (off) or >= 2, got {cv_folds}")
        self.strategies = _default_strategies() if strategies is None else list(strategies)
        self.gps = nn.ModuleList()
        self.surrogates: list[GPSurrogate] = []
        self.table: RunTable | None = None
        self.validation_results: dict[str, dict[str, Tensor]] = {}

    # -- fitting ---------------------------------------------------------------------------
    def _fit_one(self, x: Tensor, y: Tensor, noise: Tensor | None) -> GPSurrogate:
        hp = self.hparams
        # Validation and predict run under inference mode; the MAP fit and acquisition
        # optimisation need autograd.
        with torch.inference_mode(False), torch.enable_grad():
            return GPSurrogate.fit(x, y, noise, kernel=hp.kernel, priors=hp.priors, warps=hp.warps, mean=hp.mean, maximize=hp.maximize, noise_floor=hp.noise_floor)

    def _install(self, table: RunTable, surrogates: list[GPSurrogate]) -> None:
        self.table = table
        self.surrogates = surrogates
        self.gps = nn.ModuleList([s.model for s in surrogates])

    @property
    def fitted(self) -> bool:
        """Whether a fitted GP is present."""
        return bool(self.surrogates)

    def forward(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior ``(mean, std)`` at ``m x d`` mixtures, each ``m x t`` in original units."""
        if not self.fitted:
            raise RuntimeError("the predictor is not fitted: run fit first or pass --ckpt_path")
        outs = [s.predict(weights) for s in self.surrogates]
        return torch.stack([m for m, _ in outs], -1), torch.stack([s for _, s in outs], -1)

    def training_step(self, batch: RunTable, batch_idx: int) -> None:
        """Fits one GP per target on the whole table and logs the selection."""
        noise = batch.noise
        surrogates = [self._fit_one(batch.weights, batch.y[:, j], None if noise is None else noise[:, j]) for j in range(len(batch.targets))]
        self._install(batch, surrogates)
        for name, s in zip(batch.targets, surrogates):
            self.log(f"train/{name}/loo_log_density", max(s.selection.values()), batch_size=batch.n)

    def configure_optimizers(self) -> None:
        """None: the fit is BoTorch's L-BFGS-B inside ``training_step`` (manual optimisation)."""
        return None

    # -- validation ------------------------------------------------------------------------
    def validation_step(self, batch: RunTable, batch_idx: int) -> None:
        """Logs LOO (and k-fold) Spearman, Pearson, MAE and 95% coverage per target."""
        if not self.fitted:  # sanity check before the fit
            return
        self.validation_results = {}
        for j, (name, s) in enumerate(zip(batch.targets, self.surrogates)):
            actual = batch.y[:, j]
            result: dict[str, Tensor] = {"actual": actual}
            result["loo_mean"], result["loo_std"] = s.loo()
            metrics = {f"loo_{k}": v for k, v in regression_metrics(result["loo_mean"], result["loo_std"], actual).items()}
            if self.hparams.cv_folds and batch.n >= 4:
                noise = None if batch.noise is None else batch.noise[:, j]

                def fit_predict(xt: Tensor, yt: Tensor, nt: Tensor | None, xs: Tensor) -> tuple[Tensor, Tensor]:
                    return self._fit_one(xt, yt, nt).predict(xs)

                result["kfold_mean"], result["kfold_std"] = kfold_predictions(batch.weights, actual, noise, fit_predict, self.hparams.cv_folds)
                kf = regression_metrics(result["kfold_mean"], result["kfold_std"], actual)
                metrics.update({f"kfold_{k}": v for k, v in kf.items()})
            self.validation_results[name] = result
            self.log_dict({f"val/{name}/{k}": v for k, v in metrics.items() if math.isfinite(v)}, batch_size=batch.n)

    # -- prediction ------------------------------------------------------------------------
    def on_predict_start(self) -> None:
        """Loads the fitted predictor from ``checkpoint_path`` unless a checkpoint was restored."""
        if self.fitted:
            return
        path = self.resolved_checkpoint_path()
        if path is None or not path.is_file():
            raise FileNotFoundError(f"no fitted predictor at {path}; run `fit` first or pass --ckpt_path")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.on_load_checkpoint(checkpoint)
        self.load_state_dict(checkpoint["state_dict"])

    def predict_step(self, batch: RunTable, batch_idx: int) -> list[dict[str, Any]]:
        """Proposes mixtures with every strategy from the history ``batch`` and ranks them.

        Returns:
            One dict per unique proposal, best first: ``strategies`` (names), ``weights``
            (domain -> weight), ``mean`` and ``std`` (target -> value in original units).
        """
        if list(batch.domains) != list(self.table.domains):
            raise ValueError(f"records cover domains {batch.domains} but the predictor was fitted on {self.table.domains}")
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
        rows = torch.stack([e["row"] for e in found.values()])
        mean, std = self(rows)
        sign = 1.0 if self.hparams.maximize else -1.0
        order = torch.argsort(sign * mean[:, 0], descending=True)
        out = []
        for i in order.tolist():
            entry = list(found.values())[i]
            out.append(
                {
                    "strategies": entry["strategies"],
                    "weights": {d: round(float(w), 4) for d, w in zip(batch.domains, rows[i])},
                    "mean": {t: float(mean[i, j]) for j, t in enumerate(self.table.targets)},
                    "std": {t: float(std[i, j]) for j, t in enumerate(self.table.targets)},
                }
            )
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
        """Stores the training table and each GP's structure; the state dict holds the hyperparameters."""
        if self.table is None:
            return
        t = self.table
        checkpoint["predictor"] = {
            "table": {k: getattr(t, k) for k in ("domains", "targets", "weights", "y", "counts", "noise", "in_score", "out_score")},
            "gps": [
                {"loc": s.loc, "scale": s.scale, "warp": s.warp, "prior": s.prior, "mean": s.mean, "selection": s.selection} for s in self.surrogates
            ],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Rebuilds the GPs (same structure as when saved) so ``load_state_dict`` can fill them."""
        saved = checkpoint.get("predictor")
        if saved is None:
            raise ValueError("checkpoint holds no fitted predictor (was it written by GPPredictor after fit?)")
        table = RunTable(**saved["table"])
        hp = self.hparams
        sign = 1.0 if hp.maximize else -1.0
        surrogates = []
        for j, meta in enumerate(saved["gps"]):
            y = sign * (table.y[:, j] - meta["loc"]) / meta["scale"]
            noise = None if table.noise is None else table.noise[:, j] / meta["scale"] ** 2
            floor = MIN_NOISE if hp.noise_floor is None else max(hp.noise_floor / meta["scale"] ** 2, MIN_NOISE)
            mean = meta.get("mean", hp.mean)  # checkpoints before mean selection: the single configured mean
            model = MixtureGP(table.weights, y, make_likelihood(noise, floor), kernel=hp.kernel, prior=meta["prior"], warp=meta["warp"], mean=mean)
            model.eval()
            surrogates.append(
                GPSurrogate(model, meta["loc"], meta["scale"], hp.maximize, meta["selection"], meta["warp"], meta["prior"], mean, hp.noise_floor)
            )
        self._install(table, surrogates)
