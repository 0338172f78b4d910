"""Set up every source of a data config - training and evaluation parts alike - and report each one.

``main.py validate`` builds only the evaluation sets, so a training-only source (COCO) that cannot be read
would first fail on the cluster. This reads every record of every part once, as ``setup`` would (images
decoded, ground truth checked by the domain's verifiers), and prints one line per part: usable samples,
skipped samples, and the first problem found::

    HF_HUB_OFFLINE=0 python -m datamodules.check --config configs/paper/mix.yaml
    python -m datamodules.check --config configs/data/paper.yaml --data.init_args.on_bad_sample=skip
    python -m datamodules.check --config configs/mix.yaml    # the embedded synthetic domains

``--config`` is a run config (its ``data:``, inline or a path) or a data config; ``--data.*`` overrides are
those ``main.py`` takes. The exit status is 1 when a part cannot be loaded, a training domain has no usable
sample, or - with ``on_bad_sample: fail``, where setup would stop - any sample is bad.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log_name = "datamodules.prepared"  # PreparedPart reports each skipped sample on this logger


@dataclass
class PartReport:
    """The outcome of setting up one part of one domain."""

    domain: str
    part: str
    usable: int = 0
    skipped: int = 0
    problem: str = ""
    failed: bool = False

    def line(self) -> str:
        """``<domain> <part> usable N skipped M <status>``."""
        status = ("FAILED: " if self.failed else "first problem: ") + self.problem if self.problem else "ok"
        return f"{self.domain:<14} {self.part:<5} usable {self.usable:>7}  skipped {self.skipped:>6}  {status}"


class _FirstProblem(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            self.first = record.getMessage().removeprefix("skipping bad sample: ")


def data_config(config: str | os.PathLike[str]) -> dict[str, Any]:
    """The data-module config of a run config (inline, or a path relative to it) or of a data config."""
    path = Path(config)
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    if "class_path" in raw:
        return raw
    data = raw.get("data")
    if data is None:
        raise ValueError(f"{path}: no `data:` section (and not a data config with a class_path)")
    if isinstance(data, str):
        return data_config(path.parent / data)
    return data


def build_datamodule(config: str | os.PathLike[str], overrides: list[str]) -> Any:
    """Instantiate the data module of ``config`` with ``--data.*`` overrides applied (as ``main.py`` would)."""
    from jsonargparse import ArgumentParser
    from lightning import LightningDataModule

    import datamodules  # noqa: F401 - registers the short class names configs may use

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data")
    cfg = parser.parse_args(["--data", yaml.safe_dump(data_config(config)), *overrides])
    return parser.instantiate(cfg).data


def check_part(datamodule: Any, domain: Any, part: str) -> PartReport | None:
    """Set up one part (``train`` or ``eval``) of ``domain``; None if the source has no such part."""
    from datamodules.prepared import PreparedPart

    report = PartReport(domain.name, part)
    cap = domain.max_samples if part == "train" else domain.eval_max_samples
    handler = _FirstProblem()
    logger = logging.getLogger(log_name)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # one line per part, not one per bad sample
    try:
        split = domain.source.split(part)
        if split is None:
            return None
        prepared = PreparedPart(domain, part, split, datamodule.rewards[domain.name], cap, "skip")
    except Exception as err:  # noqa: BLE001 - a source that cannot load is what this command reports
        report.failed, report.problem = True, f"{type(err).__name__}: {err}"
        return report
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    report.usable, report.skipped = len(prepared), prepared.skipped
    report.problem = handler.first or ""
    if part == "train" and report.usable == 0:
        report.failed, report.problem = True, report.problem or "no usable training sample"
    elif report.skipped and datamodule.on_bad_sample == "fail":
        report.failed = True  # setup would stop at this sample
    return report


def check(datamodule: Any) -> list[PartReport]:
    """Reports for the training part of every training domain (weighted or not) and every evaluation part."""
    reports = []
    for domain in datamodule.domains:
        parts = ("train", "eval") if domain.role == "train" else ("eval",)
        for part in parts:
            report = check_part(datamodule, domain, part)
            if report is not None:
                reports.append(report)
            elif part == "eval" and domain.role != "train":
                reports.append(PartReport(domain.name, part, failed=True, problem="its source has no eval part"))
    return reports


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit status (0: every part is usable)."""
    parser = argparse.ArgumentParser(prog="python -m datamodules.check", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config (configs/paper/mix.yaml) or data config")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if not o.startswith("--data.")]
    if bad:
        parser.error(f"only --data.* overrides are accepted, got {bad}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # as main.py: fetch from a hub only when asked (HF_HUB_OFFLINE=0)
    datamodule = build_datamodule(args.config, overrides)
    reports = check(datamodule)
    for report in reports:
        print(report.line())
    failed = [r for r in reports if r.failed]
    print(f"{len(reports) - len(failed)} of {len(reports)} parts usable"
          + (f"; failing: {', '.join(f'{r.domain}/{r.part}' for r in failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
