"""The checklist text for a detected project: a header saying what was found, the stack, and
the checks, each with an owner placeholder, an expected result, a rollback note to fill in,
and comments where a guess needs a human (a fallback route, a one-shot service, an example to
uncomment)."""

from __future__ import annotations

from typing import Any

from jobcheck.scaffold.codechecks import code_checks, release_check
from jobcheck.scaffold.configchecks import config_checks
from jobcheck.scaffold.detect import Project
from jobcheck.scaffold.draft import OWNER, REF, Draft, comment, dump, lit, render_check
from jobcheck.scaffold.envfiles import EnvFile
from jobcheck.scaffold.jobchecks import job_checks
from jobcheck.scaffold.rollbackdrill import rollback_drills
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.stackchecks import stack_checks

SCHEMA_FILE = "checklist.schema.json"
_STACK_NOTE = [
    "The Docker staging stack: `jobcheck stack up` starts it (or set `up: true` to have every",
    "run start it); checks tagged `integration` talk to it on 127.0.0.1.",
]


def drafts(setting: Setting) -> list[Draft]:
    checks = code_checks(setting) + config_checks(setting)
    if setting.project.compose_files:
        checks += stack_checks(setting) + job_checks(setting)
        checks += rollback_drills(setting, checks)
    return [*checks, release_check(setting)]


def render(setting: Setting) -> str:
    project = setting.project
    checks = drafts(setting)
    parts = [
        _header(setting),
        dump({"version": 1, "name": lit(f"{project.name} release")}, flow=False),
        _env_files(setting, checks),
        dump({"defaults": {"timeout": "5m"}}, flow=False),
    ]
    if project.compose_files:
        parts.append(comment(_STACK_NOTE) + dump({"stack": _stack(setting)}))
    parts.append("checks:\n" + "\n".join(render_check(check) for check in checks))
    return "\n".join(p for p in parts if p)


def _header(setting: Setting) -> str:
    project = setting.project
    lines = [
        f"jobcheck checklist for {project.name}, written by `jobcheck init`. It found:",
        *(f"  - {item}" for item in found(project)),
        f"Fill in every TODO: each check's owner ({OWNER}), expected result and rollback note.",
        f"Editor completion: {SCHEMA_FILE} beside this file (jobcheck schema > {SCHEMA_FILE}).",
        "Everyday: jobcheck run --skip release     Release: jobcheck release vX.Y.Z",
    ]
    return f"# yaml-language-server: $schema=./{SCHEMA_FILE}\n" + comment(lines)


def found(project: Project) -> list[str]:
    items = []
    if project.pyproject:
        version = f", version {project.version}" if project.version else ""
        items.append(f"pyproject.toml (project {project.name}{version})")
    if project.ruff_config:
        items.append(f"ruff config in {project.ruff_config}")
    if project.tests is not None:
        items.append(f"tests: {project.tests.shown()}")
    if project.python is not None:
        items.append(f"interpreter: {project.python.python} ({project.python.source})")
    if project.compose_files:
        roles = "; ".join(f"{role}: {names}" for role, names in _roles(project))
        files = ", ".join(project.compose_files)
        plural = "s" if len(project.compose_files) > 1 else ""
        items.append(f"compose file{plural} {files}: {roles or 'no services'}")
    if project.env_files:
        items.append(f"env files: {', '.join(_env_label(f) for f in project.env_files)}")
    if project.routes.routes:
        resolved = [r for r in project.routes.get() if not r.unresolved]
        shown = ", ".join(sorted({r.path for r in resolved})[:8])
        items.append(f"routes (GET): {shown or 'none'}")
    unresolved = project.routes.unresolved
    if unresolved:
        shown = ", ".join(f"{r.path} ({r.where})" for r in unresolved[:5])
        items.append(f"routes under a prefix init could not resolve (not probed): {shown}")
    if project.job_library:
        items.append(f"job library: {project.job_library}")
    if project.changelog:
        items.append(f"changelog: {project.changelog}")
    return items or ["nothing specific: add your own checks"]


def _roles(project: Project) -> list[tuple[str, str]]:
    order = ("web", "worker", "scheduler", "dashboard", "oneshot", "datastore", "other")
    labels = {"oneshot": "one-shot"}
    return [
        (labels.get(role, role), ", ".join(s.name for s in project.with_role(role)))
        for role in order
        if project.with_role(role)
    ]


def _env_label(env: EnvFile) -> str:
    role = {"compose": " (read by Compose)", "template": " (template)"}.get(env.role, "")
    return f"{env.name}{role}"


def _stack(setting: Setting) -> dict[str, Any]:
    return {
        "compose": [lit(f) for f in setting.project.compose_files],
        "project": setting.stack_project,
    }


def _env_files(setting: Setting, checks: list[Draft]) -> str:
    """``env_files: [.env]`` when the checks refer, with no default, to variables that
    Compose's ``.env`` sets (REDIS_PASSWORD), so a run sees what the stack sees; commented out
    when the file is git-ignored (a fresh clone would not load)."""
    dotenv = next((f for f in setting.project.env_files if f.role == "compose"), None)
    if dotenv is None:
        return ""
    text = "".join(render_check(c) for c in checks if not c.commented)
    unset = {m.group(1) for m in REF.finditer(text) if m.group(1) and not m.group(2)}
    names = sorted(unset & set(dotenv.keys))
    if not names:
        return ""
    entry = dump({"env_files": [lit(dotenv.name)]})
    why = [f"{', '.join(names)}: read from {dotenv.name}, as Compose does."]
    if dotenv.ignored:
        why.append(f"{dotenv.name} is git-ignored: uncomment where it exists.")
        return comment(why) + comment([entry.rstrip("\n")])
    return comment(why) + entry
