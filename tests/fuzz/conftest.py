"""The fuzz marker: fuzz tests run by default (bounded); select them with ``-m fuzz``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fuzz: seeded fuzzing; bounded by default, JOBCHECK_FUZZ_CASES=5000 for a long run",
    )
