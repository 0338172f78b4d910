"""Planning a search's stages: which mixtures each stage runs, from the records of the stages before it.

Stages in order: ``seeds`` (the seed design and any extra mixtures, with the base model's evaluation),
``heuristics`` (one proposal each), ``round_1`` ... ``round_<rounds>`` (a batch of GP proposals each) and
``confirm`` (the leading mixtures and uniform rerun to ``confirm.runs`` seeds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from predictors.search.commands import fit_command, validate_command
from predictors.search.config import SearchConfig, StrategySpec
from predictors.search.plan import PlannedRun, check_simplex, make_run_id, round_mixture
from predictors.search.state import SearchError, SearchState
from predictors.search.summary import find_uniform, group_by_mixture
from predictors.strategies import BayesOptBatch, ProposalStrategy, build_strategy, seed_mixtures


def build_heuristics(specs: Sequence[StrategySpec]) -> list[tuple[StrategySpec, ProposalStrategy]]:
    """The heuristic strategies, built up front so that a misspelt name or option stops the search before any run.

    Raises:
        SearchError: an unknown heuristic, a bad option, or one that needs a surrogate.
    """
    built = []
    for spec in specs:
        try:
            strategy = build_strategy(spec.name, **spec.options)
        except (KeyError, ValueError, TypeError) as err:
            raise SearchError(f"heuristic {spec.name!r}: {err}") from err
        if strategy.needs_surrogate:
            raise SearchError(f"heuristic {spec.name!r} needs a surrogate; heuristics run before the GP (use rounds)")
        built.append((spec, strategy))
    return built


class StagePlanner:
    """Plans each stage of one search.

    Args:
        state: the search's directory and records.
    """

    def __init__(self, state: SearchState) -> None:
        self.state = state
        self.heuristics = build_heuristics(state.config.heuristics)

    @property
    def config(self) -> SearchConfig:
        """The search configuration (the state's)."""
        return self.state.config

    @property
    def domains(self) -> list[str]:
        """The training domains, in the search's column order (the state's)."""
        return self.state.domains

    def stage_names(self) -> list[str]:
        """The stages in order: ``seeds``, ``heuristics`` (if any), ``round_1`` ... ``round_<rounds>``, ``confirm``
        (if ``confirm.top`` > 0).

        The list ends at ``stop_after`` when that is set.
        """
        names = [
            "seeds",
            *(["heuristics"] if self.config.heuristics else []),
            *(f"round_{r}" for r in range(1, self.config.rounds + 1)),
            *(["confirm"] if self.config.confirm.top > 0 else []),
        ]
        stop = self.config.stop_after
        return names[: names.index(stop) + 1] if stop in names else names

    def min_runs(self) -> int:
        """Runs a mixture needs to be recommended: ``confirm.runs`` once the confirm stage is planned, else 1."""
        confirmed = "confirm" in self.stage_names() and self.state.plans.load("confirm") is not None
        return self.config.confirm.runs if confirmed else 1

    def plan_stage(self, stage: str) -> list[PlannedRun]:
        """Plans ``stage`` from the records so far."""
        taken = {r.run_id for r in self.state.plans.all_runs()}
        if stage == "seeds":
            return self._plan_seeds(taken)
        if stage == "heuristics":
            return self._plan_heuristics(taken)
        if stage == "confirm":
            return self._plan_confirm(taken)
        return self._plan_round(int(stage.split("_")[1]), taken)

    def proposals_to_runs(
        self, rows: Tensor | Sequence[dict[str, float]], stage: str, origin: str, taken: set[str]
    ) -> list[PlannedRun]:
        """Turns proposed mixtures into runs; a mixture already planned gets the next repeat index.

        Args:
            rows: ``k x d`` mixtures (columns in the search's domain order) or mappings domain -> weight.
            stage: the planning stage.
            origin: the proposer's name (kept in the record).
            taken: run ids already planned; updated.

        Raises:
            SimplexError: a proposal is not on the simplex (the message names the proposer).
        """
        c, runs = self.config, []
        for row in rows:
            values = row if isinstance(row, dict) else torch.as_tensor(row).tolist()  # check_simplex names a bad row
            mixture = values if isinstance(values, dict) else dict(zip(self.domains, values, strict=False))
            weights = round_mixture(
                check_simplex(mixture, self.domains, f"mixture proposed by {origin}"), self.domains, c.decimals
            )
            repeat = 0
            while (run_id := make_run_id(weights, self.domains, repeat, c.decimals)) in taken:
                repeat += 1
            run = PlannedRun(
                run_id,
                weights,
                repeat,
                stage,
                origin,
                record_dir=str(self.state.records_dir),
                log_path=str(self.state.dir / "logs" / f"{run_id}.log"),
            )
            run.command = fit_command(c, run)
            taken.add(run_id)
            runs.append(run)
        return runs

    def _plan_seeds(self, taken: set[str]) -> list[PlannedRun]:
        c, runs = self.config, []
        if c.base_eval:
            base = self.state.base_run()
            base.command = validate_command(c, base)
            runs.append(base)
        kinds = set(c.seed_design)
        d = len(self.domains)
        designs = []
        for kind in ("single", "exclude_one", "uniform"):
            if kind in kinds and not (kind == "exclude_one" and d < 3):  # with 2 domains exclude-one = single
                designs += [
                    (kind, row) for row in seed_mixtures(d, kind == "single", kind == "exclude_one", kind == "uniform")
                ]
        designs += [("extra", m) for m in c.extra_mixtures]
        for _ in range(c.repeats):  # each pass plans one more repeat of every seed mixture
            for origin, row in designs:
                runs += self.proposals_to_runs([row], "seeds", origin, taken)
        return runs

    def _plan_heuristics(self, taken: set[str]) -> list[PlannedRun]:
        table, runs = self.state.table(), []
        for spec, strategy in self.heuristics:
            try:
                rows = strategy.propose(table)
            except ValueError as err:  # e.g. the uniform run failed: skip this heuristic, say why
                warnings.warn(f"heuristic {spec.name!r} proposes nothing: {err}", stacklevel=2)
                continue
            label = spec.name + "".join(f",{k}={v}" for k, v in sorted(spec.options.items()))
            runs += self.proposals_to_runs(rows, "heuristics", label, taken)
        return runs

    def _plan_round(self, round_index: int, taken: set[str]) -> list[PlannedRun]:
        table = self.state.table()
        surrogate = self.state.fit_surrogate(table)
        p = self.config.proposal
        strategy = BayesOptBatch(
            p.q, p.acquisition, p.beta, p.pool_size, p.num_restarts, p.raw_samples, seed=p.seed + round_index
        )
        origin = "bayes_opt" if len(self.config.gp.means) == 1 else f"bayes_opt (mean {surrogate.mean})"
        return self.proposals_to_runs(strategy.propose(table, surrogate), f"round_{round_index}", origin, taken)

    def _plan_confirm(self, taken: set[str]) -> list[PlannedRun]:
        # Ranked by observed mean, not by the GP: at a dozen runs the GP rarely ranks better than the runs
        # themselves, and replicating what was observed is what removes a lucky seed.
        c = self.config.confirm
        results = group_by_mixture(self.state.records(), self.domains, self.config.target)
        chosen = [(m, "confirm") for m in results[: c.top]]
        uniform = find_uniform(results)
        if c.uniform and uniform is not None and all(m is not uniform for m, _ in chosen):
            chosen.append((uniform, "confirm (uniform)"))
        runs = []
        for m, label in chosen:
            runs += self.proposals_to_runs([m.weights] * max(0, c.runs - m.runs), "confirm", label, taken)
        return runs
