"""Checks on the code itself: lint, the package imports, the tests pass, the release tag."""

from __future__ import annotations

from typing import Any

from jobcheck.scaffold.draft import Draft, check, lit, note
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.testpaths import DEFAULT_FILES


def code_checks(setting: Setting) -> list[Draft]:
    project = setting.project
    checks = [_lint(setting)]
    if project.module:
        checks.append(_imports(setting))
    if project.tests is not None:
        checks.append(_tests(setting))
    else:
        checks.append(
            note(
                "No tests check: no pytest configuration (pytest.ini, pyproject.toml, tox.ini, "
                "setup.cfg) and no test file (test_*.py, *_test.py) in the repository."
            )
        )
    return checks


def _lint(setting: Setting) -> Draft:
    project = setting.project
    if project.flake8 and not project.ruff_config:
        return _flake8(setting)
    tool = f"ruff ({project.ruff_config})" if project.ruff_config else "ruff (default rules)"
    options: dict[str, Any] = {"paths": ["."]}
    notes = []
    if project.python is not None:
        own_ruff = project.python.tool(project.root, "ruff")
        if own_ruff:
            options["tool"] = lit(own_ruff)
        else:
            notes.append(missing_ruff(project.python.venv) + ".")
    return check(
        "lint", f"Lint is clean: {tool}", "lint", options,
        expect="ruff reports no findings",
        rollback="nothing to roll back: a finding blocks the merge; fix it and push again",
        tags=["code"], notes=notes,
    )  # fmt: skip


def missing_ruff(venv: str) -> str:
    return (
        f"{venv} has no ruff: the lint check runs jobcheck's own ruff (add ruff to the "
        "project's dev dependencies, or set the check's `tool:`)"
    )


def _flake8(setting: Setting) -> Draft:
    """The project lints with flake8 (its configuration says so): the lint kind runs it as
    ``tool``, the project's own when its virtualenv has one."""
    project = setting.project
    own = project.python.tool(project.root, "flake8") if project.python is not None else ""
    options: dict[str, Any] = {"tool": lit(own or "flake8"), "paths": ["."]}
    notes = [f"The project configures flake8 ({project.flake8}) and not ruff: flake8 is run."]
    if not own:
        notes.append("No flake8 in the project's virtualenv: the one on PATH is used.")
    return check(
        "lint", f"Lint is clean: flake8 ({project.flake8})", "lint", options,
        expect="flake8 reports no findings",
        rollback="nothing to roll back: a finding blocks the merge; fix it and push again",
        tags=["code"], notes=notes,
    )  # fmt: skip


def _imports(setting: Setting) -> Draft:
    project = setting.project
    python = project.python.python if project.python is not None else ".venv/bin/python"
    options: dict[str, Any] = {"run": [lit(python), "-c", f"import {project.module}"]}
    if (project.root / "src" / project.module).is_dir():
        options["env"] = {"PYTHONPATH": "src"}
    draft = check(
        "imports", f"The {project.module} package imports", "command", options,
        expect=f"`import {project.module}` succeeds (no missing dependency, no import-time crash)",
        rollback="pin the dependency back to the last released version and redeploy",
        tags=["code"],
    )  # fmt: skip
    if project.python is None:
        draft.commented = True
        draft.notes = [
            "No virtualenv found (.venv/ or venv/ at the root or in the service's folder, or "
            "VIRTUAL_ENV): the system python3 lacks the project's dependencies. Point `run` at "
            "the project's interpreter, then uncomment."
        ]
    return draft


def _tests(setting: Setting) -> Draft:
    project = setting.project
    layout = project.tests
    assert layout is not None
    options: dict[str, Any] = {"args": [lit(p) for p in layout.paths]}
    if layout.cwd:
        options["cwd"] = lit(layout.cwd)
    notes = [f"Tests: {layout.shown()}."]
    if project.python is not None:
        options["python"] = lit(project.python.python)  # the kind reads it from the root
        notes.append(f"The project's interpreter: {project.python.source}.")
    if layout.others:
        notes.append(
            "Other pytest configurations, not run by this check (copy it for each): "
            + ", ".join(layout.others)
            + "."
        )
    options["min_tests"] = 1
    where = " ".join(f"{layout.cwd}/{p}" if layout.cwd else p for p in layout.paths)
    where = where or (f"{layout.cwd}/" if layout.cwd else "the repository")
    draft = check(
        "tests", "The test suite passes", "pytest", options,
        expect=f"every test in {where} passes, and at least one runs",
        rollback="revert the change that broke the tests (`git revert <sha>`)",
        tags=["code"], notes=notes,
    )  # fmt: skip
    if not layout.files:
        draft.commented = True
        folders = ", ".join(layout.conftest_only) or "the test folders"
        draft.notes.append(
            f"{folders} holds only conftest.py: no test file ({', '.join(DEFAULT_FILES)}) to "
            "run, so `min_tests: 1` would fail. Uncomment once there are tests."
        )
    return draft


def release_check(setting: Setting) -> Draft:
    project = setting.project
    version = project.version or "0.1.0"
    options: dict[str, Any] = {"tag": "${RELEASE_TAG:-v" + lit(version) + "}"}
    if not (project.pyproject and project.version):
        options["match_version"] = False
    options["changelog"] = lit(project.changelog) if project.changelog else None
    changelog = f"; {project.changelog} has a section for it" if project.changelog else ""
    matches = "" if options.get("match_version") is False else ", equals the package version"
    return check(
        "release-tag", "The release tag is right", "release", options,
        expect=f"RELEASE_TAG is semver, not taken{matches}{changelog}; the working tree is clean",
        rollback="delete a wrong tag: `git tag -d TAG && git push --delete origin TAG`",
        tags=["release"],
    )  # fmt: skip
