"""``jobcheck report merge A.json B.json ...``: the shards' reports as one report, one exit code.

``jobcheck report`` takes either one saved run to re-render (``commands/report.py``) or
``merge`` and the reports of ``run --shard K/N``; this module tells the two apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from jobcheck.errors import UsageError
from jobcheck.pipeline import (
    GateRequest,
    check_report_inputs,
    prepare_report_paths,
    report_paths,
    write_reports,
)


def report_or_merge(
    args: Sequence[Path], fmt: str, output: Path | None, targets: GateRequest, out: IO[str]
) -> int:
    if args and str(args[0]) == "merge":
        if output is not None:
            raise UsageError(
                "report merge: -o/--output re-renders one report; the merge writes "
                "--json, --junit, --markdown or --html"
            )
        return merge(args[1:], targets, out)
    flags = [flag for flag, _ in report_paths(targets)]
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
    from jobcheck.commands.report import report

    return report(args[0], fmt, output)


def merge(paths: Sequence[Path], targets: GateRequest, out: IO[str]) -> int:
    """Merge, write the reports asked for, print the plain report; exit as a run would
    (0 every blocker passed or was waived, 1 not, or a shard missing; 2 refused)."""
    from jobcheck.reports.text import render_text
    from jobcheck.run_history import read_run
    from jobcheck.shards import merge_runs

    prepare_report_paths(targets)
    check_report_inputs(targets, paths)
    merged, problems = merge_runs([(path, read_run(path, strict=True)) for path in paths])
    out.write(render_text(merged, root=Path.cwd()))
    out.flush()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    written = write_reports(merged, targets, lambda text: print(text, end="", file=sys.stderr))
    return merged.exit_code or (0 if written else 1)
