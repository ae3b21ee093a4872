"""Checks on the code itself: lint, the package imports, the tests pass, the release tag."""

from __future__ import annotations

from typing import Any

from jobcheck.scaffold.draft import Draft, check, lit
from jobcheck.scaffold.setting import Setting


def code_checks(setting: Setting) -> list[Draft]:
    project = setting.project
    checks = [_lint(setting)]
    if project.module:
        checks.append(_imports(setting))
    if project.tests is not None:
        checks.append(_tests(setting))
    return checks


def _lint(setting: Setting) -> Draft:
    project = setting.project
    tool = f"ruff ({project.ruff_config})" if project.ruff_config else "ruff (default rules)"
    options: dict[str, Any] = {"paths": ["."]}
    notes = []
    if project.python is not None:
        own_ruff = project.python.tool(project.root, "ruff")
        if own_ruff:
            options["tool"] = lit(own_ruff)
        else:
            notes.append(
                f"The lint kind has no `python` option and {project.python.venv} has no ruff: "
                "this runs jobcheck's own ruff (set `tool:` to use another)."
            )
    return check(
        "lint", f"Lint is clean: {tool}", "lint", options,
        expect="ruff reports no findings",
        rollback="nothing to roll back: a finding blocks the merge; fix it and push again",
        tags=["code"], notes=notes,
    )  # fmt: skip


def _imports(setting: Setting) -> Draft:
    project = setting.project
    python = project.python.python if project.python is not None else "python3"
    options: dict[str, Any] = {"run": [lit(python), "-c", f"import {project.module}"]}
    if (project.root / "src" / project.module).is_dir():
        options["env"] = {"PYTHONPATH": "src"}
    return check(
        "imports", f"The {project.module} package imports", "command", options,
        expect=f"`import {project.module}` succeeds (no missing dependency, no import-time crash)",
        rollback="pin the dependency back to the last released version and redeploy",
        tags=["code"],
    )  # fmt: skip


def _tests(setting: Setting) -> Draft:
    project = setting.project
    layout = project.tests
    assert layout is not None
    options: dict[str, Any] = {"args": [lit(p) for p in layout.paths]}
    if layout.cwd:
        options["cwd"] = lit(layout.cwd)
    notes = [f"Tests: {layout.shown()}."]
    if project.python is not None:
        options["python"] = lit(project.python.python_from(layout.cwd))
        notes.append(f"The project's interpreter: {project.python.source}.")
    options["min_tests"] = 1
    where = " ".join(f"{layout.cwd}/{p}" if layout.cwd else p for p in layout.paths)
    return check(
        "tests", "The test suite passes", "pytest", options,
        expect=f"every test in {where} passes, and at least one runs",
        rollback="revert the change that broke the tests (`git revert <sha>`)",
        tags=["code"], notes=notes,
    )  # fmt: skip


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
