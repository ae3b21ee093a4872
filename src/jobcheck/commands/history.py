"""``jobcheck history``: per check over the saved runs of one checklist."""

from __future__ import annotations

import sys
from pathlib import Path

from jobcheck.loading import find_checklist
from jobcheck.run_history import history_table, load_runs, render_history


def history(checklist: Path | None, *, cwd: Path | None = None) -> int:
    sys.stdout.write(history_text(checklist, cwd=cwd))
    return 0


def history_text(checklist: Path | None, *, cwd: Path | None = None) -> str:
    """The table for the runs of one checklist (found as ``run`` finds it), saved beside it
    in ``.jobcheck/runs/``."""
    path = find_checklist(checklist, cwd).resolve()
    runs = load_runs(path.parent, checklist=path)
    return render_history(history_table(runs), runs)
