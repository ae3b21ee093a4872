"""The fixed runs of the exact-text report tests, in tests/fixtures/runs/ beside their golden
files (see the ``golden`` fixture in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from jobcheck.results import RunResult

RUNS = Path(__file__).resolve().parents[2] / "fixtures" / "runs"

Golden = Callable[[str, str], str]


def fixture_run(name: str) -> RunResult:
    return RunResult.from_dict(json.loads((RUNS / name).read_text(encoding="utf-8")))
