"""The JSON report (a contract: see DESIGN.md section 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.fsutil import atomic_write_text, json_text
from jobcheck.results import RunResult

if TYPE_CHECKING:
    from jobcheck.reports.formats import View


def render_json(run: RunResult) -> str:
    """Indented, but one line per check: JSON's C encoder writes only compact text, and
    indenting 10,000 checks in Python cost more than running them. Still one value per key
    at the top, a check per line for grep and diff."""
    parts = []
    for key, value in run.to_dict().items():
        if key == "checks" and value:
            lines = (f"    {json_text(check, ensure_ascii=False)}" for check in value)
            text = "[\n" + ",\n".join(lines) + "\n  ]"
        else:  # JSON text holds no raw line break: each one here is the indentation's
            text = json_text(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def report(run: RunResult, view: View) -> str:
    """The ``json`` report format (``reports.formats``)."""
    return render_json(run)


def write_json(run: RunResult, path: Path) -> Path:
    return atomic_write_text(path, render_json(run))


def read_json(path: Path) -> RunResult:
    """A report this run wrote (tests, tools); reports from elsewhere: ``run_history.read_run``.
    ``NaN``/``Infinity`` are not JSON: a ValueError."""
    return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8"), parse_constant=_no))


def _no(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")
