"""``jobcheck report RUN.json``: re-render a saved run."""

from __future__ import annotations

import sys
from pathlib import Path

from jobcheck.errors import UsageError
from jobcheck.fsutil import atomic_write_text, not_regular
from jobcheck.reports.formats import View, named
from jobcheck.run_history import read_run


def report(path: Path, fmt: str, output: Path | None) -> int:
    """Re-render a saved JSON report; exit 0 whatever the run's status (it is only shown)."""
    chosen = named(fmt)
    if output is not None:
        _check_output(output, path)
    text = chosen.render(read_run(path), View())
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)
    return 0


def _check_output(output: Path, source: Path) -> None:
    """The re-rendered report goes to a regular file, never over the report it reads."""
    # lazy: the gate's tree, only for a command that runs it
    from jobcheck.pipeline import refuse_inputs_as_targets

    what = not_regular(output)
    if what:
        raise UsageError(
            f"--output {output}: is {what}; a report is written only to a regular file",
            hint="give a file path, or leave out -o to print the report",
        )
    refuse_inputs_as_targets([("--output", output)], [source])
