from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jobcheck.scaffold.testpaths import SuiteLayout, find

TEST = "def test_ok() -> None:\n    assert True\n"
PYPROJECT = '[tool.pytest.ini_options]\ntestpaths = ["tests/unit", "tests/e2e"]\n'

CASES: list[tuple[dict[str, str], SuiteLayout | None]] = [
    (
        {"pyproject.toml": PYPROJECT, "tests/unit/test_a.py": TEST, "tests/e2e/test_b.py": TEST,
         "tests/other/test_c.py": TEST},
        SuiteLayout(["tests/unit", "tests/e2e"], "", "testpaths in the root's pyproject.toml "
                   "[tool.pytest.ini_options]", 2),
    ),
    (
        {"pytest.ini": "[pytest]\ntestpaths = checks\n", "setup.cfg": "[tool:pytest]\n",
         "checks/test_a.py": TEST},
        SuiteLayout(["checks"], "", "testpaths in the root's pytest.ini [pytest]", 1),
    ),
    (
        {"tox.ini": "[tox]\nenvlist = py311\n[pytest]\ntestpaths =\n    t1\n    t2\n",
         "t1/test_a.py": TEST, "t2/b_test.py": TEST},
        SuiteLayout(["t1", "t2"], "", "testpaths in the root's tox.ini [pytest]", 2),
    ),
    (  # python_files is read: check_*.py
        {"tox.ini": "[tox]\n", "setup.cfg": "[tool:pytest]\npython_files = check_*.py\n",
         "a/check_x.py": TEST, "a/test_y.py": TEST},
        SuiteLayout([], "", "the root's setup.cfg [tool:pytest]", 1),
    ),
    (  # no configuration: plain pytest from the root, never the first folder found
        {"styleguide/api/tests/test_a.py": TEST, "styleguide/users/tests/test_b.py": TEST,
         "styleguide/users/tests/test_c.py": TEST, "test/test_d.py": TEST},
        SuiteLayout([], "", "no pytest configuration", 4),
    ),
    (  # nested in a folder that is a project of its own: run from there
        {"project/requirements.txt": "", "project/tests/test_a.py": TEST},
        SuiteLayout(["tests"], "project", "the project/tests/ folder", 1),
    ),
    (  # a monorepo's service, deeper than 3 levels, with its own configuration
        {"services/backend/pyproject.toml": "[tool.pytest.ini_options]\n",
         "services/backend/app/app/tests/api/test_a.py": TEST,
         "services/backend/app/app/tests/test_b.py": TEST},
        SuiteLayout([], "services/backend", "services/backend/pyproject.toml "
                    "[tool.pytest.ini_options]", 2),
    ),
    (  # no configuration, tests deep in a service that has its own Dockerfile
        {"services/backend/Dockerfile": "", "services/backend/app/tests/test_a.py": TEST},
        SuiteLayout(["app/tests"], "services/backend", "the services/backend/app/tests/ folder",
                    1),
    ),
    (  # only conftest.py: named, not passed over
        {"tests/conftest.py": "import pytest\n"},
        SuiteLayout([], "", "no pytest configuration", 0, ("tests/",)),
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


def test_two_services_the_one_init_ran_in_wins(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "api/pytest.ini": "[pytest]\n", "api/tests/test_a.py": TEST,
            "worker/pytest.ini": "[pytest]\n", "worker/tests/test_b.py": TEST,
            "worker/tests/test_c.py": TEST,
        }
    )  # fmt: skip
    most = find(root)
    assert most is not None and most.cwd == "worker" and most.others == ("api/ (1 test files)",)
    chosen = find(root, prefer="api/src")
    assert chosen is not None and chosen.cwd == "api" and chosen.files == 1
    assert chosen.shown() == (
        "plain `pytest` (its own discovery) (run from api/), from api/pytest.ini [pytest]: "
        "1 test file"
    )
