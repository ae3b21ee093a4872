"""Exact-text report tests: ``golden(name, actual)`` returns the golden text from
tests/fixtures/runs/; with ``pytest --update-golden`` it first rewrites the file with
``actual`` (review the diff like code)."""

from __future__ import annotations

import pytest
from golden_runs import RUNS, Golden


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("--update-golden", default=False))

    def read(name: str, actual: str) -> str:
        path = RUNS / name
        if update:
            path.write_text(actual, encoding="utf-8")
        return path.read_text(encoding="utf-8")

    return read
