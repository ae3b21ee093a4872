from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.lint import KIND
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

RUFF_TOML = 'line-length = 100\n[lint]\nselect = ["E", "F", "I"]\n'
CLEAN = "import os\n\n\ndef main() -> str:\n    return os.getcwd()\n"
# The tests' checklists have no venv: jobcheck's own ruff is used, and said (its bin folder
# is on PATH in a run; a bare test process may only have it as a module).
_BIN = str(Path(sys.executable).parent)
_OWN_RUFF = (
    str(Path(_BIN) / "ruff")
    if _BIN in os.environ.get("PATH", "").split(os.pathsep)
    else f"{sys.executable} -m ruff"
)
OWN = f"using {_OWN_RUFF} (jobcheck's own)"
DIRTY = "import sys\nimport os\n\n\ndef f():\n    unused = 1\n    return undefined_name\n"


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "ruff.toml").write_text(RUFF_TOML)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def check(base_dir: Path, options: dict[str, Any], env: dict[str, str] | None = None) -> Outcome:
    ctx = KindContext(
        check_id="lint", base_dir=base_dir, env=env or dict(os.environ), timeout_s=60, mask=Masker()
    )
    return attempt(KIND, KIND.options.model_validate(options), ctx)


def test_a_clean_project_passes(tmp_path: Path) -> None:
    outcome = check(project(tmp_path, {"src/app.py": CLEAN}), {"paths": ["src"], "format": True})
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.message == f"ruff check + format src {OWN}: no findings"


def test_findings_are_counted_by_rule_and_the_first_five_listed(tmp_path: Path) -> None:
    base = project(tmp_path, {"app.py": DIRTY, "more.py": "import json\n"})
    outcome = check(base, {})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        f"ruff check . (2 files) {OWN}: 6 findings (3 F401, 1 F821, 1 F841, 1 I001), "
        "expected none\n"
        "  app.py:1:1 I001 Import block is un-sorted or un-formatted\n"
        "  app.py:1:8 F401 `sys` imported but unused\n"
        "  app.py:2:8 F401 `os` imported but unused\n"
        "  app.py:6:5 F841 Local variable `unused` is assigned to but never used\n"
        "  app.py:7:12 F821 Undefined name `undefined_name`\n"
        "  ... and 1 more"
    )
    assert outcome.details["by_rule"] == {"F401": 3, "F821": 1, "F841": 1, "I001": 1}
    assert not (base / ".ruff_cache").exists()


def test_max_findings_tolerates_some(tmp_path: Path) -> None:
    base = project(tmp_path, {"app.py": DIRTY})
    outcome = check(base, {"max_findings": 5})
    assert outcome.status is Status.PASS
    assert outcome.message == f"ruff check . {OWN}: no findings (5 findings tolerated)"
    assert check(base, {"max_findings": 4}).message.startswith(
        f"ruff check . (1 file) {OWN}: 5 findings (2 F401, 1 F821, 1 F841, 1 I001), "
        "expected at most 4"
    )


def test_args_reach_ruff_check(tmp_path: Path) -> None:
    base = project(tmp_path, {"app.py": DIRTY})
    outcome = check(base, {"args": ["--select", "F821"]})
    assert outcome.details["by_rule"] == {"F821": 1}


def test_format_lists_files_that_would_be_reformatted(tmp_path: Path) -> None:
    base = project(tmp_path, {"ok.py": CLEAN, "ugly.py": "x=1\ny = {'a':1}\n"})
    outcome = check(base, {"format": True})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        f"ruff check + format . (1 file) {OWN}: 1 finding (1 format), expected none\n"
        "  ugly.py:1:2 would be reformatted by ruff format"
    )
    assert (base / "ugly.py").read_text() == "x=1\ny = {'a':1}\n"  # checked, not rewritten


def test_a_missing_ruff_is_an_error_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = check(tmp_path, {"tool": str(tmp_path / "bin" / "ruff")})
    assert outcome.status is Status.ERROR
    assert outcome.message.endswith(
        "install it with `pip install ruff`, or give its path as `ruff`"
    )
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    outcome = check(tmp_path, {}, env={"PATH": str(tmp_path)})
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "ruff was not found in the project's environment (VIRTUAL_ENV, .venv, venv), on PATH, "
        f"nor importable by {sys.executable}; "
        "install it with `pip install ruff`, or give its path as `ruff`"
    )


def test_ruff_errors_are_errors_not_findings(tmp_path: Path) -> None:
    base = project(tmp_path, {"app.py": CLEAN})
    outcome = check(base, {"args": ["--select", "NOPE999"]})
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("ruff check exited 2 (an error, not findings):")


def test_another_linter_counts_path_line_output(tmp_path: Path) -> None:
    (tmp_path / "typed.py").write_text('x: int = "a"\ny: str = 1\n')
    mypy = [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull]
    outcome = check(tmp_path, {"tool": mypy, "paths": ["typed.py"]})
    assert outcome.status is Status.FAIL
    head, *lines = outcome.message.splitlines()
    assert head.endswith("typed.py: 2 findings (2 assignment), expected none")
    assert lines[0].startswith("  typed.py:1: error: Incompatible types in assignment")
    assert check(tmp_path, {"tool": mypy, "paths": ["typed.py"], "max_findings": 2}).status is (
        Status.PASS
    )


def test_another_linter_failing_silently_is_one_finding(tmp_path: Path) -> None:
    tool = [sys.executable, "-c", "raise SystemExit(3)"]
    outcome = check(tmp_path, {"tool": tool, "paths": []})
    assert outcome.message.splitlines()[1] == "  exited 3 without printing anything"


def test_format_needs_ruff() -> None:
    with pytest.raises(ValidationError, match="`format: true` needs ruff"):
        KIND.options.model_validate({"tool": "flake8", "format": True})
    KIND.options.model_validate({"tool": "/opt/bin/ruff", "format": True})
    KIND.options.model_validate({"tool": "python -m ruff", "format": True})


def test_the_registered_example_is_valid() -> None:
    assert KIND.options.model_validate(KIND.example)
