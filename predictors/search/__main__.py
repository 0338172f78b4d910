"""``python -m predictors.search --config configs/search.yaml``: run or resume a mixture search.

Examples::

    python -m predictors.search --config configs/search.yaml                 # run here, then report
    python -m predictors.search --config configs/search.yaml --launcher slurm   # write a job array and exit
    python -m predictors.search --config configs/search.yaml --rounds 4       # continue with more rounds
    python -m predictors.search --config configs/search.yaml --stop_after seeds   # only the 2m + 1 seed runs
    python -m predictors.search --help                                        # every option, documented

Rerunning the same command resumes: finished runs are read from their records, never repeated.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from jsonargparse import ActionConfigFile, ArgumentParser  # noqa: E402

from predictors.search.config import SearchConfig  # noqa: E402


def build_parser() -> ArgumentParser:
    """The search's command-line parser: a ``--config`` file plus one option per :class:`SearchConfig` field."""
    parser = ArgumentParser(prog="python -m predictors.search", description=SearchConfig.__doc__.split("\n")[0])
    parser.add_argument(
        "--config", action=ActionConfigFile, help="a search config file (YAML), e.g. configs/search.yaml"
    )
    parser.add_class_arguments(SearchConfig, as_group=False)
    return parser


def parse_config(argv: list[str] | None = None) -> SearchConfig:
    """Parses ``argv`` (``sys.argv[1:]`` when None) into a :class:`SearchConfig`."""
    parser = build_parser()
    namespace = parser.parse_args(argv)
    namespace.pop("config", None)
    return SearchConfig(**vars(parser.instantiate(namespace)))


def main(argv: list[str] | None = None) -> int:
    """Runs the search; exit code 0 when done or handed off, 1 on a search error."""
    from predictors.search.driver import MixtureSearch, SearchError

    config = parse_config(argv)
    try:
        outcome = MixtureSearch(config).run()
    except (SearchError, ValueError) as err:
        print(f"mixture search: error: {err}", file=sys.stderr)
        return 1
    if outcome.status == "waiting":
        print(f"{len(outcome.launched)} run(s) handed off: submit {outcome.script}, then rerun this command")
        return 0
    print(f"report: {outcome.report} ({len(outcome.launched)} run(s) launched by this invocation)")
    if config.stop_after is not None:
        records = os.path.join(config.search_dir, "records")
        print(f"records: {records}; fit the mixture predictor on them:")
        print(f"  python main.py fit --config configs/predictor.yaml --data.init_args.record_dir {records}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
