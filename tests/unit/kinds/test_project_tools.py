"""pytest and lint use the project's interpreter and tools, say which, and resolve paths
against the checklist's folder. Real venvs (``python -m venv``) and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds import lint, pytest_kind
from jobcheck.kinds.base import KindContext
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

CONFTEST = "import projdep  # the project's own dependency, installed only in its venv\n"
TEST = "import projdep\n\n\ndef test_dep():\n    assert projdep.VALUE == 42\n"


def make_venv(path: Path, *, with_dep: bool = True) -> Path:
    """A real venv whose Python sees pytest (through a .pth to jobcheck's site-packages) and,
    when asked, the module `projdep` that jobcheck's own Python does not have."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60
    )
    (site,) = path.glob("lib/python*/site-packages")
    (site / "jobcheck-tools.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if with_dep:
        (site / "projdep.py").write_text("VALUE = 42\n")
    return path


def project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_dep.py").write_text(TEST)
    return root


def run_kind(kind: Any, base: Path, options: dict[str, Any], **env: str) -> Outcome:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_"))}
    ctx = KindContext(
        check_id="t", base_dir=base, env={**environ, **env}, timeout_s=90, mask=Masker()
    )
    return attempt(kind.KIND, kind.KIND.options.model_validate(options), ctx)


def test_pytest_uses_the_projects_venv_and_says_so(tmp_path: Path) -> None:
    base = project(tmp_path / "svc")
    make_venv(base / ".venv")
    outcome = run_kind(pytest_kind, base, {"args": ["tests"]})
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message.startswith(
        "pytest using .venv/bin/python (the project's .venv): 1 passed in "
    )
    assert outcome.details["python"] == str(base / ".venv" / "bin" / "python")


def test_a_conftest_import_error_is_told_apart_from_bad_args(tmp_path: Path) -> None:
    base = project(tmp_path / "svc")
    make_venv(base / "venv", with_dep=False)
    outcome = run_kind(pytest_kind, base, {"args": ["tests"]})
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "pytest using venv/bin/python (the project's venv) could not import tests/conftest.py "
        "(exit 4): ModuleNotFoundError: No module named 'projdep'; install the project's "
        "dependencies for that interpreter, or set `python:` to one that has them"
    )
    other = project(tmp_path / "other")
    make_venv(other / "venv")
    bad = run_kind(pytest_kind, other, {"args": ["--no-such-flag"]})
    assert bad.status is Status.ERROR
    assert bad.message.startswith(
        "pytest using venv/bin/python (the project's venv) exited 4 without writing its JUnit "
        "report (it rejected its arguments: check `args`):"
    )


def test_the_active_virtual_env_comes_first(tmp_path: Path) -> None:
    base = project(tmp_path / "svc")
    make_venv(base / ".venv", with_dep=False)
    active = make_venv(tmp_path / "active")
    outcome = run_kind(pytest_kind, base, {"args": ["tests"]}, VIRTUAL_ENV=str(active))
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message.startswith(
        "pytest using ../active/bin/python (the active VIRTUAL_ENV): 1 passed"
    )


def test_the_python_option_is_relative_to_the_checklist_not_to_cwd(tmp_path: Path) -> None:
    base = tmp_path / "svc"
    project(base / "app")
    make_venv(base / "tools")
    options = {"cwd": "app", "python": "tools/bin/python", "args": ["tests"]}
    outcome = run_kind(pytest_kind, base, options)
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message.startswith(
        "pytest using tools/bin/python (the `python` option): 1 passed"
    )
    wrong = run_kind(pytest_kind, base, {**options, "python": "../venv/bin/python"})
    assert wrong.status is Status.ERROR
    assert wrong.message == (
        "`python: ../venv/bin/python` does not exist: resolved against the checklist's folder "
        f"to {base}/../venv/bin/python"
    )


def fake_ruff(path: Path) -> Path:
    """A pinned ruff stand-in: a real executable that answers `ruff check` with no findings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho '[]'\n")
    path.chmod(0o755)
    return path


def test_lint_uses_the_projects_ruff(tmp_path: Path) -> None:
    base = tmp_path / "svc"
    make_venv(base / ".venv", with_dep=False)
    fake_ruff(base / ".venv" / "bin" / "ruff")
    outcome = run_kind(lint, base, {})
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == "ruff check . using .venv/bin/ruff (the project's .venv): no findings"


def test_lint_prefers_a_ruff_on_path_to_jobchecks_own(tmp_path: Path) -> None:
    theirs = fake_ruff(tmp_path / "bin" / "ruff")
    own = str(Path(sys.executable).parent)
    outcome = run_kind(lint, tmp_path, {}, PATH=f"{own}:{theirs.parent}:/usr/bin:/bin")
    assert outcome.message == f"ruff check . using {theirs} (on PATH): no findings"


@pytest.mark.parametrize(
    ("option", "shown"), [("tools/ruff", "tools/ruff"), ("../elsewhere/ruff", "../elsewhere/ruff")]
)
def test_the_ruff_option_is_relative_to_the_checklist(
    option: str, shown: str, tmp_path: Path
) -> None:
    base = tmp_path / "svc"
    base.mkdir()
    fake_ruff((base / option).resolve())
    outcome = run_kind(lint, base, {"ruff": option, "cwd": "."})
    assert outcome.message == f"ruff check . using {shown} (the `ruff` option): no findings"
