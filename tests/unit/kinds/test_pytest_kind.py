from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext
from jobcheck.kinds.pytest_kind import KIND
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

PASSING = """
import pytest

def test_adds():
    assert 1 + 1 == 2

@pytest.mark.skip(reason="not today")
def test_later():
    pass

class TestGroup:
    def test_member(self):
        assert True
"""
FAILING = """
import pytest

def test_ok():
    assert True

def test_math():
    assert 1 + 1 == 3, "arithmetic is broken"

class TestGroup:
    def test_raises(self):
        raise ValueError("boom\\nsecond line")

@pytest.fixture
def db():
    raise RuntimeError("no database")

def test_needs_db(db):
    pass
"""


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


# No venv in the tests' projects: jobcheck's own interpreter runs them, and the message says so.
OWN = re.escape(f"pytest using {sys.executable} (jobcheck's own)")
OWN_TEXT = f"pytest using {sys.executable} (jobcheck's own)"


def check(base_dir: Path, options: dict[str, Any]) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    ctx = KindContext(check_id="t", base_dir=base_dir, env=env, timeout_s=60, mask=Masker())
    return attempt(KIND, KIND.options.model_validate(options), ctx)


def test_a_passing_suite_passes(tmp_path: Path) -> None:
    outcome = check(project(tmp_path, {"tests/test_ok.py": PASSING}), {"args": ["tests"]})
    assert outcome.status is Status.PASS, outcome.message
    assert re.fullmatch(OWN + r": 2 passed, 1 skipped in \d+\.\d\ds", outcome.message)
    assert outcome.details["passed"] == 2 and outcome.details["skipped"] == 1
    assert not (tmp_path / ".pytest_cache").exists()


def test_failing_tests_are_named_with_their_reason(tmp_path: Path) -> None:
    outcome = check(project(tmp_path, {"tests/test_bad.py": FAILING}), {})
    assert outcome.status is Status.FAIL
    head, *lines = outcome.message.splitlines()
    assert re.fullmatch(
        OWN + r": 1 passed, 2 failed, 1 error in \d+\.\d\ds, expected every test to pass", head
    )
    assert lines == [
        "  tests/test_bad.py::test_math failed: AssertionError: arithmetic is broken",
        "  tests/test_bad.py::TestGroup::test_raises failed: ValueError: boom",
        "  tests/test_bad.py::test_needs_db error: failed on setup with "
        '"RuntimeError: no database"',
    ]
    assert "def test_math" in outcome.output  # pytest's own output, for the details


def test_a_suite_that_collects_nothing_fails(tmp_path: Path) -> None:
    outcome = check(project(tmp_path, {"tests/helpers.py": "X = 1\n"}), {"args": ["tests"]})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        f"{OWN_TEXT} collected no tests (exit 5) in {tmp_path}, expected at least 1 test; "
        "check the paths and -k/-m args"
    )


def test_min_tests_guards_a_thin_suite(tmp_path: Path) -> None:
    base = project(tmp_path, {"test_ok.py": PASSING})
    outcome = check(base, {"min_tests": 3})
    assert outcome.status is Status.FAIL
    assert outcome.message == f"{OWN_TEXT}: ran 2 tests (2 passed, 1 skipped), expected at least 3"
    deselected = {"args": ["-k", "nothing_matches"]}
    assert check(base, deselected).message.startswith(f"{OWN_TEXT} collected no tests (exit 5)")
    assert check(base, {**deselected, "min_tests": 0}).message == (
        f"{OWN_TEXT} collected no tests (min_tests is 0)"
    )


def test_a_collection_error_names_the_module(tmp_path: Path) -> None:
    base = project(tmp_path, {"tests/test_imports.py": "import not_installed_anywhere\n"})
    outcome = check(base, {})
    assert outcome.status is Status.FAIL
    assert outcome.message.splitlines()[1] == (
        "  tests/test_imports.py error: ModuleNotFoundError: No module named "
        "'not_installed_anywhere'"
    )


def test_cwd_and_env_reach_pytest(tmp_path: Path) -> None:
    test = "import os\n\ndef test_env():\n    assert os.environ['STAGE'] == 'ci'\n"
    project(tmp_path, {"sub/test_env.py": test})
    outcome = check(tmp_path, {"cwd": "sub", "env": {"STAGE": "ci"}})
    assert outcome.status is Status.PASS, outcome.message


def test_pytest_that_cannot_run_is_an_error(tmp_path: Path) -> None:
    outcome = check(project(tmp_path, {"test_ok.py": PASSING}), {"args": ["--no-such-flag"]})
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith(
        f"{OWN_TEXT} exited 4 without writing its JUnit report (it rejected its arguments: "
        "check `args`):"
    )
    assert "unrecognized arguments: --no-such-flag" in outcome.message
    missing = check(tmp_path, {"python": str(tmp_path / "no-python")})
    assert missing.status is Status.ERROR
    assert missing.message == (
        f"`python: {tmp_path / 'no-python'}` does not exist: resolved against the checklist's "
        f"folder to {tmp_path / 'no-python'}"
    )


@pytest.mark.parametrize("bad", [{"min_tests": -1}, {"args": "tests"}, {"pyhton": "x"}])
def test_bad_options_are_load_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        KIND.options.model_validate(bad)


def test_the_registered_example_is_valid() -> None:
    assert KIND.options.model_validate(KIND.example)
