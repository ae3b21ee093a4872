from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jobcheck.scaffold.testpaths import SuiteLayout, find

TEST = "def test_ok() -> None:\n    assert True\n"

CASES: list[tuple[dict[str, str], SuiteLayout | None]] = [
    (
        {"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests/unit", "tests/e2e"]\n'},
        SuiteLayout(["tests/unit", "tests/e2e"], "", "testpaths in pyproject.toml "
                   "[tool.pytest.ini_options]"),
    ),
    (
        {"pytest.ini": "[pytest]\ntestpaths = checks\n", "setup.cfg": "[tool:pytest]\n"},
        SuiteLayout(["checks"], "", "testpaths in pytest.ini [pytest]"),
    ),
    (
        {"tox.ini": "[tox]\nenvlist = py311\n[pytest]\ntestpaths =\n    t1\n    t2\n"},
        SuiteLayout(["t1", "t2"], "", "testpaths in tox.ini [pytest]"),
    ),
    (
        {"tox.ini": "[tox]\n", "setup.cfg": "[tool:pytest]\ntestpaths = tests\n"},
        SuiteLayout(["tests"], "", "testpaths in setup.cfg [tool:pytest]"),
    ),
    ({"test/test_a.py": TEST}, SuiteLayout(["test"], "", "the test/ folder")),
    (  # nested in a folder that is a project of its own: run from there
        {"project/requirements.txt": "", "project/tests/test_a.py": TEST},
        SuiteLayout(["tests"], "project", "the project/tests/ folder"),
    ),
    (
        {"svc/pytest.ini": "[pytest]\ntestpaths = tests\n", "svc/tests/test_a.py": TEST},
        SuiteLayout(["tests"], "svc", "testpaths in svc/pytest.ini [pytest]"),
    ),
    (  # nested in a plain folder: run from the root
        {"src/app/tests/test_a.py": TEST, "src/app/__init__.py": ""},
        SuiteLayout(["src/app/tests"], "", "the src/app/tests/ folder"),
    ),
    ({"docs/tests/readme.txt": "no tests here"}, None),
    ({".venv/lib/tests/test_x.py": TEST, "node_modules/x/test/test_y.py": TEST}, None),
]  # fmt: skip


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_where_the_tests_are(
    make_project: Callable[[dict[str, str]], Path],
    files: dict[str, str],
    expected: SuiteLayout | None,
) -> None:
    assert find(make_project(files)) == expected
