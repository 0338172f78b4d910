"""The typed configuration of a mixture search (what ``python -m predictors.search --help`` prints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from predictors.gp import GPOptions

SeedKind = Literal["single", "exclude_one", "uniform"]


@dataclass
class StrategySpec:
    """A heuristic proposal strategy from the ``predictors`` registry.

    Args:
        name: registered name (``alpha_credit``, ``inclusion_ridge``, ``exclude_one``) or class path.
        options: keyword arguments of the strategy, e.g. ``{alpha: 0.5}``.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProposalOptions:
    """Batch Bayesian optimisation (``predictors.BayesOptBatch``) that proposes each round's runs.

    Args:
        q: mixtures proposed (and run) per round.
        acquisition: ``log_nei`` (noisy expected improvement) or ``ucb``.
        beta: UCB exploration weight.
        num_restarts: SLSQP starts of the acquisition optimiser.
        raw_samples: random q-batches scored to pick the starts.
        pool_size: optimise over this many Dirichlet candidates instead of continuously (faster).
        seed: base seed of the acquisition; round ``r`` uses ``seed + r``.
    """

    q: int = 4
    acquisition: Literal["log_nei", "ucb"] = "log_nei"
    beta: float = 2.0
    num_restarts: int = 8
    raw_samples: int = 256
    pool_size: int | None = None
    seed: int = 0


@dataclass
class ConfirmOptions:
    """Replicates of the leading mixtures, run before one is recommended.

    The best of many single runs is partly the luckiest seed: its score regresses when rerun. This
    stage reruns the ``top`` mixtures with the best mean target so far (and uniform, the yardstick)
    until each has ``runs`` runs with different seeds; the recommendation is then the best mean among
    those, and the report states its lead over uniform in replicate standard deviations.

    Args:
        top: mixtures to replicate; 0 skips the stage and recommends the best mixture as it stands.
        runs: successful runs each replicated mixture has afterwards, counting those it already has.
        uniform: bring the uniform mixture to ``runs`` runs too, so both sides of the comparison have as many seeds.
    """

    top: int = 0
    runs: int = 3
    uniform: bool = True


@dataclass
class SlurmOptions:
    """The job-array script written by ``launcher: slurm``.

    Args:
        header: ``#SBATCH`` options, one per item, e.g. ``--time=04:00:00`` or ``--gres=gpu:1``.
        job_name: the array job's name.
        python: the Python interpreter on the compute nodes.
    """

    header: list[str] = field(default_factory=lambda: ["--time=04:00:00", "--cpus-per-task=4"])
    job_name: str = "mixture-search"
    python: str = "python"


@dataclass
class SearchConfig:
    """A mixture search: seed runs, optional heuristics, then rounds of GP + batch Bayesian optimisation.

    Every run is an ordinary ``python main.py fit --config <base_config> --data.init_args.weights {...}``
    in a subprocess. All state lives on disk under ``search_dir``: run records (``records/``), the
    plan of every stage (``plan/``), logs (``logs/``), the base model's scores (``base/``) and the
    report (``report.md``, ``figures/``, ``tensorboard/``). Rerunning the same command continues
    where a killed or waiting search stopped; runs with a record are never repeated.

    Args:
        base_config: the ``main.py`` config every run starts from (its training domains define the simplex).
        search_dir: directory holding the whole state of this search.
        target: the score the search maximises.
        domains: the training domains; None reads them from ``base_config`` (``data.init_args.domains``,
            those with role ``train``).
        seed_design: seed mixtures of the first stage: ``single`` (one domain each), ``exclude_one``
            (equal weights on all but one), ``uniform``; all three give the paper's ``2m + 1`` runs.
        extra_mixtures: further mixtures to run in the first stage (e.g. the one you use today), each a
            mapping domain -> weight on the simplex (weights sum to 1).
        heuristics: heuristic strategies run once after the seeds, e.g. ``[{name: alpha_credit, options:
            {alpha: 0.5}}, {name: inclusion_ridge}, {name: exclude_one}]``.
        rounds: rounds of GP fit + batch proposal after the seeds (and heuristics).
        confirm: a last stage that replicates the leading mixtures before recommending one
            (:class:`ConfirmOptions`; ``top: 0``, the default, skips it).
        stop_after: stop after this stage: ``seeds`` runs only the seed mixtures (and the base model),
            the records ``main.py fit --config configs/predictor.yaml`` needs; ``heuristics`` adds those.
            The report covers the runs so far; rerun without it to continue.
        proposal: the batch Bayesian optimisation of each round.
        gp: the GP surrogate (:class:`predictors.GPOptions`, the same settings as ``GPPredictor``'s).
        repeats: runs (different seeds) of every seed mixture; replicates give the GP its noise level.
        run_seed: ``seed_everything`` of repeat 0; repeat ``k`` uses ``run_seed + k``.
        max_steps: if set, every run trains this many steps and evaluates once at the end
            (``--trainer.max_steps`` and ``--trainer.val_check_interval``).
        overrides: further ``main.py`` arguments for every run, e.g. ``--trainer.limit_val_batches=4``.
        drop_callbacks: callbacks of the base config to leave out of search runs, by class name
            (e.g. ``ExportPolicy``); the base config's ``RunRecordCallback`` is always replaced by one
            writing to ``search_dir/records``.
        base_eval: evaluate the base model once (``main.py validate``, no training) for the report.
        launcher: ``local``: run here, ``max_parallel`` at a time, and wait; ``slurm``: write a job-array
            script of the pending runs and exit (rerun the command when the jobs have finished).
        max_parallel: runs at once (local processes, or the ``%`` limit of the Slurm array).
        threads_per_run: if set, ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of each run.
        run_timeout_s: a local run still going after this many seconds is killed and recorded as failed.
        retry_failed: run again the mixtures whose record says ``failed``.
        slurm: the Slurm script's options.
        python: interpreter for local runs; None is the driver's own.
        main_script: path of ``main.py``.
        decimals: mixtures are rounded to this many decimals (4 to 8) before running; the run id derives from
            the rounded mixture and the repeat index.
    """

    base_config: str
    search_dir: str = "runs/search"
    target: Literal["out_score", "in_score"] = "out_score"
    domains: list[str] | None = None
    seed_design: list[SeedKind] = field(default_factory=lambda: ["single", "exclude_one", "uniform"])
    extra_mixtures: list[dict[str, float]] = field(default_factory=list)
    heuristics: list[StrategySpec] = field(default_factory=list)
    rounds: int = 2
    confirm: ConfirmOptions = field(default_factory=ConfirmOptions)
    stop_after: Literal["seeds", "heuristics"] | None = None
    proposal: ProposalOptions = field(default_factory=ProposalOptions)
    gp: GPOptions = field(default_factory=GPOptions)
    repeats: int = 1
    run_seed: int = 42
    max_steps: int | None = None
    overrides: list[str] = field(default_factory=list)
    drop_callbacks: list[str] = field(default_factory=list)
    base_eval: bool = True
    launcher: Literal["local", "slurm"] = "local"
    max_parallel: int = 1
    threads_per_run: int | None = None
    run_timeout_s: float | None = None
    retry_failed: bool = False
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    python: str | None = None
    main_script: str = "main.py"
    decimals: int = 4

    def __post_init__(self) -> None:
        checks = [
            (self.rounds >= 0, f"rounds must be >= 0, got {self.rounds}"),
            (self.repeats >= 1, f"repeats must be >= 1, got {self.repeats}"),
            (self.max_parallel >= 1, f"max_parallel must be >= 1, got {self.max_parallel}"),
            (self.confirm.top >= 0, f"confirm.top must be >= 0, got {self.confirm.top}"),
            (self.confirm.runs >= 2, f"confirm.runs must be >= 2 (one run confirms nothing), got {self.confirm.runs}"),
            (self.proposal.q >= 1, f"proposal.q must be >= 1, got {self.proposal.q}"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (
                self.run_timeout_s is None or self.run_timeout_s > 0,
                f"run_timeout_s must be > 0, got {self.run_timeout_s}",
            ),
            # Fewer than 4 decimals would round 1/3 further than the 1e-4 within which the strategies and the report
            # recognise the uniform and exclude-one seed runs.
            (4 <= self.decimals <= 8, f"decimals must be in [4, 8], got {self.decimals}"),
            (bool(self.seed_design) or bool(self.extra_mixtures), "seed_design and extra_mixtures are both empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
