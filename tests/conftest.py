"""Shared fixtures: write a checklist into tmp_path, build a context for a kind."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_checklist(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) to tmp_path/NAME and return the path."""

    def write(text: str, name: str = "jobcheck.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True, scope="session")
def _own_state_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """jobcheck's per-machine state (the result cache's key) goes to a folder of the test run,
    never to the home folder of whoever runs the tests (subprocesses inherit it)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ.pop("JOBCHECK_CACHE_KEY", None)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment without CI/GitHub variables, so reporters behave as on a laptop."""
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (JOBCHECK_NO_SKIPS=1) a skipped test is a failure: nothing may pass by skipping."""
    if os.environ.get("JOBCHECK_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        names = ", ".join(getattr(r, "nodeid", "?") for r in skipped[:5])
        print(f"\nJOBCHECK_NO_SKIPS=1: {len(skipped)} skipped tests count as failures: {names}")
        session.exitstatus = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite the exact-text report fixtures"
    )


def pytest_configure(config: pytest.Config) -> None:
    """The suite sees no activated virtualenv: when jobcheck's own gate runs it with the
    project's interpreter, the pytest kind activates that venv (VIRTUAL_ENV), and the lint and
    pytest kinds under test would then pick it instead of the tools the tests lay out."""
    os.environ.pop("VIRTUAL_ENV", None)
