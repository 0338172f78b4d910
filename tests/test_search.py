"""The mixture search end to end: real ``main.py`` runs (tiny model, 2 steps), one crashing on purpose.

One search runs once for the module (3 seed runs on a 2-domain config, one of which crashes, then
1 proposal): about 3 full runs plus one crash, the few subprocesses CI can afford.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from predictors.gp import GPOptions
from predictors.records import read_records
from predictors.search import MixtureSearch, SearchConfig
from predictors.search.config import ProposalOptions
from predictors.search.driver import SearchError

ROOT = Path(__file__).resolve().parents[1]
# The crash: a bad override injected into the geometry-only run makes real main.py fail while parsing.
WRAPPER = f"""
import runpy, sys
sys.path.insert(0, {str(ROOT)!r})
if '"geometry": 1.0' in " ".join(sys.argv):
    sys.argv.append("--trainer.max_steps=not-a-number")
sys.argv[0] = {str(ROOT / "main.py")!r}
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def mini_base_config(path: Path) -> Path:
    """configs/mix.yaml cut to 2 training domains + 1 out-of-domain set with tiny parts."""
    config = yaml.safe_load((ROOT / "configs" / "mix.yaml").read_text())
    domains = [d for d in config["data"]["init_args"]["domains"] if d["name"] in {"geometry", "science", "chart"}]
    for domain in domains:
        args = domain["source"]["init_args"]
        args["eval_size"] = 2
        args["train_size"] = min(args["train_size"], 16)
    data = config["data"]["init_args"]
    data.update(domains=domains, weights={"geometry": 1.0, "science": 1.0}, eval_batch_size=2, batch_size=1)
    model = config["model"]["init_args"]
    model.update(num_generations=2)
    model["generation"]["max_new_tokens"] = 8
    model["eval_generation"]["max_new_tokens"] = 8
    path.write_text(yaml.safe_dump(config))
    return path


def mini_search_config(tmp: Path, **changes: object) -> SearchConfig:
    """A search over the mini config whose runs take ~20 s each (shared with tests/test_search_units.py)."""
    options = dict(
        base_config=str(mini_base_config(tmp / "base.yaml")),
        search_dir=str(tmp / "search"),
        max_steps=2,
        overrides=[
            "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_checkpointing=false",
        ],
        drop_callbacks=[
            "ModelCheckpoint",
            "RunInterruptCheckpoint",
            "ExportPolicy",
            "CompletionSamples",
            "MixtureStats",
        ],
        base_eval=False,
        rounds=1,
        proposal=ProposalOptions(q=1, raw_samples=16, num_restarts=2),
        gp=GPOptions(priors=[0.3], warps=["none"], linear=False),
        max_parallel=1,
    )
    options.update(changes)
    return SearchConfig(**options)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchConfig, object]:
    tmp = tmp_path_factory.mktemp("search")
    wrapper = tmp / "crashing_main.py"
    wrapper.write_text(WRAPPER)
    config = mini_search_config(tmp, main_script=str(wrapper), python=sys.executable)
    cwd = os.getcwd()
    os.chdir(tmp)  # runs write nothing into the repository
    try:
        outcome = MixtureSearch(config).run()
    finally:
        os.chdir(cwd)
    return config, outcome


def test_search_runs_seeds_then_a_proposal_and_reports(finished: tuple[SearchConfig, object]) -> None:
    config, outcome = finished
    search_dir = Path(config.search_dir)
    assert outcome.status == "done" and len(outcome.launched) == 4  # 3 seeds + 1 proposal
    records = read_records(search_dir / "records", warn=False).records
    assert len(records) == 4
    ok = [r for r in records if r.status == "ok"]
    assert len(ok) == 3 and all(r.steps == 2 and r.out_score is not None and r.in_score is not None for r in ok)
    stages = {r.config["search"]["stage"] for r in ok}
    assert stages == {"seeds", "round_1"}, "the search went on past the crash to the proposal round"
    plans = {p.stem: json.loads(p.read_text()) for p in (search_dir / "plan").glob("*.json")}
    assert sorted(plans) == ["round_1", "seeds"] and len(plans["seeds"]) == 3 and len(plans["round_1"]) == 1
    report = (search_dir / "report.md").read_text()
    assert "uniform" in report.split("## Answer")[1].split("\n\n")[1], "the verdict against uniform comes first"
    assert "Recommended mixture" in report and "## Failed runs" in report
    # The command trains exactly the evaluated mixture (not one rounded for display).
    command = report.split("```\n")[1].splitlines()[0]
    written = yaml.safe_load(command.split("--data.init_args.weights '")[1].rstrip("'"))
    assert written in [r.weights for r in ok]
    for name in ("scores", "weights", "comparison", "loo"):
        assert (search_dir / "figures" / f"{name}.png").stat().st_size > 1000
    assert list((search_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_crashing_run_is_recorded_as_failed_with_its_error(finished: tuple[SearchConfig, object]) -> None:
    config, _ = finished
    (failed,) = [
        r for r in read_records(Path(config.search_dir) / "records", warn=False).records if r.status == "failed"
    ]
    assert failed.weights == {"geometry": 1.0, "science": 0.0}
    assert (
        failed.error.startswith("exited with code") and "not-a-number" in failed.error
    )  # the log tail names the cause


def test_second_invocation_launches_nothing(finished: tuple[SearchConfig, object]) -> None:
    config, _ = finished
    before = sorted(p.name for p in (Path(config.search_dir) / "records").iterdir())
    again = MixtureSearch(config).run()
    assert again.status == "done" and again.launched == []
    assert sorted(p.name for p in (Path(config.search_dir) / "records").iterdir()) == before


def test_rerun_with_another_design_is_refused_before_any_run(finished: tuple[SearchConfig, object]) -> None:
    """A search folder keeps its plans: a changed seed design there would silently run the old one."""
    config, _ = finished
    stored = (Path(config.search_dir) / "search_config.json").read_text()
    changed = dataclasses.replace(config, extra_mixtures=[{"geometry": 0.3, "science": 0.7}], run_seed=7)
    with pytest.raises(SearchError, match=r"extra_mixtures: \[\] there.*run_seed: 42 there, 7 now.*--search_dir"):
        MixtureSearch(changed).run()
    assert (Path(config.search_dir) / "search_config.json").read_text() == stored
    resumed = MixtureSearch(dataclasses.replace(config, max_parallel=2)).run()  # how it runs may change
    assert resumed.status == "done" and resumed.launched == []
