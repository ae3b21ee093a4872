"""The JSON report (a contract: see DESIGN.md section 2)."""

from __future__ import annotations

import json
from pathlib import Path

from jobcheck.fsutil import atomic_write_text
from jobcheck.results import RunResult


def render_json(run: RunResult) -> str:
    return json.dumps(run.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_json(run: RunResult, path: Path) -> Path:
    return atomic_write_text(path, render_json(run))


def read_json(path: Path) -> RunResult:
    return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
