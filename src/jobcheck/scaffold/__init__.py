"""``jobcheck init``: a starting ``jobcheck.yaml`` read from the project it is run in.

:mod:`~jobcheck.scaffold.detect` reads the project (tests, interpreter, compose services and
their roles, env files, routes, the job library) and :mod:`~jobcheck.scaffold.render` turns
it into a checklist. ``init_checklist`` writes it only after the real loader accepted it, and
writes the JSON Schema its first line points editors at.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jobcheck import kinds
from jobcheck.checklist import SCHEMA_URL
from jobcheck.dotenv_files import literal_secret, secret_key, secret_value_problem
from jobcheck.errors import ChecklistError, JobcheckError, RuntimeFailure
from jobcheck.fsutil import atomic_write_text
from jobcheck.loading import load_checklist
from jobcheck.scaffold import toolchain
from jobcheck.scaffold.codechecks import missing_ruff
from jobcheck.scaffold.detect import Project, detect
from jobcheck.scaffold.draft import OWNER
from jobcheck.scaffold.projectfiles import read_text
from jobcheck.scaffold.render import SCHEMA_FILE, render
from jobcheck.scaffold.setting import Capabilities, Setting
from jobcheck.schema_gen import checklist_schema
from jobcheck.yamlsrc import parse

__all__ = [
    "ChecklistExists", "Project", "Setting", "capabilities", "detect", "find_root",
    "init_checklist", "init_command", "render",
]  # fmt: skip

FILENAME = "jobcheck.yaml"
ROOT_MARKERS = (".git", "pyproject.toml")


class ChecklistExists(JobcheckError):
    exit_code = 1


def find_root(start: Path, home: Path | None = None, *, here: bool = False) -> Path:
    """The repository's root as git finds it: the nearest folder at or above ``start`` with
    ``.git`` (a folder, or a file in a worktree or submodule). With none, or with ``here``, the
    nearest with ``.git`` or ``pyproject.toml``. Never the home folder or above it when
    ``start`` is below it (a dotfiles repository in ``~`` is not the project); ``start``
    itself when nothing is found."""
    start = start.resolve()
    stop = (home or Path.home()).resolve()
    markers = ROOT_MARKERS if here else (".git",)
    for wanted in (markers, ROOT_MARKERS):
        for folder in (start, *start.parents):
            if folder == stop and folder != start:
                break
            if any((folder / marker).exists() for marker in wanted):
                return folder
    return start


def capabilities() -> dict[str, frozenset[str]]:
    """Every kind here and the option names (and aliases) it accepts."""
    found = {}
    for name in kinds.names():
        try:
            fields = kinds.get_kind(name).options.model_fields
        except (ImportError, kinds.UnknownKind):
            continue
        names = set(fields) | {f.alias for f in fields.values() if f.alias}
        found[name] = frozenset(names)
    return found


def init_checklist(
    project_dir: Path,
    *,
    force: bool,
    environ: Mapping[str, str] | None = None,
    compose_cli: toolchain.ComposeProbe | None = None,
    kinds: Capabilities | None = None,
    start: Path | None = None,
) -> Path:
    """Write ``jobcheck.yaml`` (and the schema) in ``project_dir`` exactly; refuse to
    overwrite a checklist unless ``force``. ``start``: the folder init was run from (the
    service of a monorepo, whose tests and virtualenv are preferred). ``compose_cli`` says
    which Compose command the rollback notes use (default: ask this machine).

    The text is loaded by the real loader (kinds' options included) before it replaces
    anything, so what is written always validates.
    """
    target = project_dir / FILENAME
    if target.exists() and not force:
        raise ChecklistExists(
            f"{target} already exists; not overwriting it",
            hint="pass --force to replace it, or edit it",
        )
    project = detect(project_dir, os.environ if environ is None else environ, start)
    cli = (compose_cli or toolchain.compose_cli)() if project.compose_files else "docker compose"
    setting = Setting(project, capabilities() if kinds is None else kinds, cli)
    text = render(setting)
    _refuse_leaks(text, project)
    _write_validated(target, text)
    _write_schema(project_dir / SCHEMA_FILE)
    return target


def _write_validated(target: Path, text: str) -> None:
    atomic_write_text(target, text, check=_validate)


def _validate(path: Path) -> None:
    try:
        load_checklist(path, {})
    except ChecklistError as exc:
        raise RuntimeFailure(
            f"the checklist jobcheck init wrote does not load (a jobcheck bug):\n{exc.render()}"
        ) from None


def _refuse_leaks(text: str, project: Project) -> None:
    """A secret from an env file must never be written (they become ``${NAME}``)."""
    # Only values that look like real secrets: a weak one ("postgres") is also a service name.
    leaked = [
        key
        for env in project.env_files
        for key, value in env.values.items()
        if secret_key(key) and literal_secret(value) and not secret_value_problem(value)
        and value.strip() in text
    ]  # fmt: skip
    if leaked:
        raise RuntimeFailure(
            "jobcheck init would have written the value of "
            f"{', '.join(sorted(set(leaked)))} (a jobcheck bug); nothing was written"
        )


def _write_schema(target: Path) -> bool:
    """The schema the checklist's first line points at; a file of that name that jobcheck did
    not write is left alone."""
    if target.exists():
        try:
            ours = json.loads(read_text(target) or "null").get("$id") == SCHEMA_URL
        except (ValueError, AttributeError, RecursionError):
            ours = False
        if not ours:
            return False
    atomic_write_text(target, json.dumps(checklist_schema(), indent=2) + "\n")
    return True


_EXTRAS = {
    "rq": ("redis", "rq"),
    "celery": ("celery", "redis"),
    "arq": ("arq", "redis"),
    "dramatiq": ("dramatiq", "redis"),
}


def missing_extras(
    checks: list[dict[str, Any]], find: Callable[[str], object] = importlib.util.find_spec
) -> list[str]:
    """A note when the queue checks just written need packages jobcheck's own environment
    lacks (an install without the ``rq``/``celery`` extra): said now, not as three errors in
    the first run."""
    frameworks = {
        next((c["with"][k] for k in ("framework", "via") if c["with"].get(k) in _EXTRAS), "rq")
        for c in checks
        if c.get("kind") in ("queue", "job", "shutdown")
    }
    notes = []
    for framework in sorted(frameworks):
        missing = [name for name in _EXTRAS[framework] if find(name) is None]
        if missing:
            notes.append(
                f"  note: the {framework} checks need {' and '.join(missing)} where jobcheck "
                f"runs, and its environment has none: install `jobcheck[{framework}]` (with "
                f"pipx: `pipx inject jobcheck {' '.join(missing)}`)"
            )
    return notes


def _tool_notes(checks: list[dict[str, Any]], root: Path) -> list[str]:
    """Said now, not found at the first run: the project's virtualenv lacks the linter."""
    lint = next((c for c in checks if c.get("kind") == "lint"), None)
    if lint is None or lint["with"].get("tool"):
        return []
    for venv in toolchain.VENV_DIRS:
        bin_dir = root / venv / "bin"
        if (bin_dir / "python").exists() and not (bin_dir / "ruff").exists():
            return [f"  note: {missing_ruff(venv + '/')}"]
    return []


def init_command(project_dir: Path, *, force: bool, here: bool = False) -> str:
    """``jobcheck init``: write at the repository's root (as git finds it; with ``here``, the
    nearest folder with .git or pyproject.toml) and say where, what, and what to do next."""
    root = find_root(project_dir, here=here)
    path = init_checklist(root, force=force, start=project_dir)
    data = parse(path).data
    ids = ", ".join(check["id"] for check in data["checks"])
    lines = [f"wrote {path} with {len(data['checks'])} checks: {ids}"]
    if root != project_dir.resolve():
        marker = next(m for m in ROOT_MARKERS if (root / m).exists())
        lines.append(f"  at the project root ({marker} is there), above {project_dir}")
    lines += missing_extras(data["checks"])
    lines += _tool_notes(data["checks"], root)
    lines += [
        f"  schema for editors: {root / SCHEMA_FILE}",
        f"next: replace each {OWNER} and TODO note, then `jobcheck validate --strict` and "
        "`jobcheck run --skip release`",
    ]
    return "\n".join(lines) + "\n"
