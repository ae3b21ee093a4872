"""``jobcheck report merge A.json B.json ...``: the shards' reports as one report, one exit code.

``jobcheck report`` takes either one saved run to re-render (``commands/report.py``) or
``merge`` and the reports of ``run --shard K/N``; this module tells the two apart. The merge
and its showing (``read_merged``, ``show_merged``) serve ``release --from-reports`` too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from jobcheck.commands.report import report
from jobcheck.errors import UsageError
from jobcheck.pipeline import GateRequest, check_report_inputs, prepare_report_paths
from jobcheck.reports.formats import BY_NAME, FILE_OPTIONS, View, targets, write_reports
from jobcheck.results import RunResult
from jobcheck.run_history import read_run
from jobcheck.shards import merge_runs


def report_or_merge(
    args: Sequence[Path],
    fmt: str,
    output: Path | None,
    reports: Mapping[str, Path],
    out: IO[str],
) -> int:
    if args and str(args[0]) == "merge":
        if output is not None:
            *others, last = (f.flag for f in FILE_OPTIONS)
            writes = f"{', '.join(others)} or {last}"
            raise UsageError(
                f"report merge: -o/--output re-renders one report; the merge writes {writes}"
            )
        return merge(args[1:], reports, out)
    flags = [flag for flag, _ in targets(reports)]
    if flags:
        raise UsageError(
            f"report {' '.join(flags)}: these go with `report merge`",
            hint="re-render one report with --format FORMAT -o PATH",
        )
    if len(args) != 1:
        raise UsageError(
            "report: give one RUN.json to re-render",
            hint="to merge the reports of `run --shard K/N`: jobcheck report merge A.json B.json",
        )
    return report(args[0], fmt, output)


def merge(paths: Sequence[Path], reports: Mapping[str, Path], out: IO[str]) -> int:
    """Merge, write the reports asked for, print the plain report; exit as a run would
    (0 every blocker passed or was waived, 1 not, or a shard missing; 2 refused)."""
    targets_only = GateRequest(reports=dict(reports))
    prepare_report_paths(targets_only)
    check_report_inputs(targets_only, paths)
    merged, problems = read_merged(paths)
    written = show_merged(merged, reports, out)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return merged.exit_code or (0 if written else 1)


def read_merged(paths: Sequence[Path]) -> tuple[RunResult, list[str]]:
    """The shards' reports as one run, and why they do not make one whole gate."""
    return merge_runs([(path, read_run(path, strict=True)) for path in paths])


def show_merged(
    merged: RunResult,
    reports: Mapping[str, Path],
    out: IO[str],
    mask: Callable[[str], str] | None = None,
) -> bool:
    """The merged run as the end of a run reads (the text format) on ``out``, and the reports
    asked for written; False when one could not be."""
    text = BY_NAME["text"].render(merged, View())
    out.write(text if mask is None else mask(text))
    out.flush()
    return write_reports(merged, reports, mask=mask)
