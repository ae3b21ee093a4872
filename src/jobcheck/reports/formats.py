"""The report formats, once: name → renderer module, file suffix, CLI option, help.

Every command that writes a report reads this table: ``run`` and ``release`` (one
``--NAME PATH`` option per format that has one), ``report --format NAME`` (every format),
``report merge`` and ``release --from-reports`` (through ``write_reports``). A renderer module
has one entry point, ``report(run, view) -> str``, imported only when its format is asked for.
Adding a format is a row here, its module and its doc page (docs/development.md).
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobcheck.errors import UsageError
from jobcheck.fsutil import atomic_write_text
from jobcheck.results import RunResult

STDOUT = Path("-")


@dataclass(frozen=True)
class View:
    """What every renderer is given beside the run."""

    today: dt.date = field(default_factory=dt.date.today)  # waivers' days left
    root: Path = field(default_factory=Path.cwd)  # checklist paths inside it are shown relative


@dataclass(frozen=True)
class ReportFormat:
    name: str  # `report --format NAME`, and the file option `--NAME PATH`
    module: str  # jobcheck.reports.MODULE, whose `report(run, view)` renders the run
    suffix: str  # a file of this format ends so (`--from-reports` reads `*.json`)
    what: str  # in help texts: "Write the {what} here"
    option: bool = True  # a `--NAME PATH` option on `run`, `release` and `report merge`

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    def render(self, run: RunResult, view: View) -> str:
        renderer: Callable[[RunResult, View], str] = importlib.import_module(
            f"jobcheck.reports.{self.module}"
        ).report
        return renderer(run, view)


FORMATS = (
    ReportFormat("json", "json_report", ".json", "JSON report"),
    ReportFormat("junit", "junit", ".xml", "JUnit XML"),
    ReportFormat("markdown", "markdown", ".md", "Markdown readiness report"),
    ReportFormat("html", "html", ".html", "HTML report (with a timeline)"),
    ReportFormat("text", "text", ".txt", "plain-text report", option=False),
)
BY_NAME = {f.name: f for f in FORMATS}
FILE_OPTIONS = tuple(f for f in FORMATS if f.option)
JSON = BY_NAME["json"]


def named(name: str) -> ReportFormat:
    """The format called ``name`` (``report --format NAME``), else a usage error."""
    found = BY_NAME.get(name)
    if found is None:
        raise UsageError(f"--format {name}: expected one of {', '.join(BY_NAME)}")
    return found


def targets(reports: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """The (flag, path) of each report asked for, in the table's order."""
    return [(f.flag, reports[f.name]) for f in FORMATS if f.name in reports]


def write_reports(
    run: RunResult,
    reports: Mapping[str, Path],
    *,
    mask: Callable[[str], str] | None = None,
    view: View | None = None,
    warn: Callable[[str], Any] | None = None,
) -> bool:
    """Every report asked for (format name → path), each written atomically, or to stdout for
    ``-``; False when one could not be. ``mask`` runs on each rendered report: the results are
    masked already, but a renderer escapes text (JSON, HTML, XML) and the masker knows those
    forms too. ``warn``: where a failed write is said (default stderr)."""
    view = view or View()
    written = True
    for fmt in FORMATS:
        path = reports.get(fmt.name)
        if path is None:
            continue
        try:
            text = fmt.render(run, view)
            text = text if mask is None else mask(text)
            if path == STDOUT:
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                atomic_write_text(path, text)
        except OSError as exc:
            (warn or sys.stderr.write)(f"error: could not write {path}: {exc.strerror or exc}\n")
            written = False
    return written
