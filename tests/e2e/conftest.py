"""Fixtures shared by the end-to-end modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from clean_install import build_wheel


@pytest.fixture(scope="session")
def jobcheck_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, once per session (its sdist lies beside it)."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
