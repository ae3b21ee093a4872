"""Checks on the staging configuration: the env files, and the compose file's rules."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from jobcheck.scaffold.draft import Draft, check, lit, slug
from jobcheck.scaffold.envfiles import EnvFile
from jobcheck.scaffold.setting import Setting

MAX_REQUIRED = 20
DEBUG_ON = ["1", "true", "yes", "on"]


def config_checks(setting: Setting) -> list[Draft]:
    files = setting.project.env_files
    checks = [_env_check(env, i) for env, i in zip(files, env_ids(files), strict=True)]
    if setting.project.compose_files:
        checks.append(_compose_check(setting))
    return checks


def env_ids(files: list[EnvFile]) -> list[str]:
    """``.env`` -> ``env-dotenv``, ``staging.env`` -> ``env-staging``, ``.env.example`` ->
    ``env-example``; unique."""
    ids: list[str] = []
    for env in files:
        stem = re.sub(r"(^|[.])env([.]|$)", "-", PurePosixPath(env.name).name).strip("-.")
        base = f"env-{slug(stem)}" if stem else "env-dotenv"
        check_id, n = base, 2
        while check_id in ids:
            check_id, n = f"{base}-{n}", n + 1
        ids.append(check_id)
    return ids


def _env_check(env: EnvFile, check_id: str) -> Draft:
    shapes = {"compose": _compose_env, "dotenv": _compose_env, "template": _template_env}
    shape = shapes.get(env.role, _real_env)
    options, promises, notes = shape(env)
    if env.template:
        options["same_keys_as"] = lit(env.template)
        promises.append(f"the same keys as {env.template}")
    if env.ignored:
        notes.append(
            f"{env.name} is git-ignored: this check needs it where jobcheck runs "
            "(the staging host), or drop the check."
        )
    return check(
        check_id, f"{env.name} is complete and safe", "env", {"file": lit(env.name), **options},
        expect=f"{env.name}: " + ", ".join(promises),
        rollback=f"restore the previous {env.name} and redeploy",
        tags=["config"], notes=notes,
    )  # fmt: skip


Shape = tuple[dict[str, Any], list[str], list[str]]  # options, promises, notes


def _compose_env(env: EnvFile) -> Shape:
    """A ``.env`` (the one Compose reads, or local settings): secrets checked, empty values
    allowed."""
    options: dict[str, Any] = {}
    if env.keys:
        options["allow_empty"] = [lit(k) for k in env.keys]
    what = "the file Compose reads for ${...}" if env.role == "compose" else "local settings"
    notes = [
        f"{env.name} is {what}: its secrets must not be placeholders or short literals; "
        "empty values are allowed."
    ]
    return options, ["no placeholder or short literal secrets"], notes


def _template_env(env: EnvFile) -> Shape:
    """``.env.example``: empty values and placeholders are what a template holds."""
    options: dict[str, Any] = {"secrets": False}
    if env.keys:
        options["allow_empty"] = [lit(k) for k in env.keys]
    notes = [f"{env.name} is a template: empty values and placeholders are expected."]
    return options, [f"parses ({len(env.keys)} keys; empty values allowed)"], notes


def _real_env(env: EnvFile) -> Shape:
    options: dict[str, Any] = {}
    promises = [f"defines its {len(env.keys)} keys"]
    if env.keys:
        options["required"] = [lit(k) for k in env.keys[:MAX_REQUIRED]]
    if "DEBUG" in env.keys:
        options["forbidden"] = {"DEBUG": DEBUG_ON}
        promises.append("DEBUG is off")
    promises.append("no placeholder or short literal secrets")
    return options, promises, []


def _compose_check(setting: Setting) -> Draft:
    project = setting.project
    options: dict[str, Any] = {"file": [lit(f) for f in project.compose_files]}
    workers = [s.name for s in project.with_role("worker")]
    if workers:
        options["worker_services"] = [lit(w) for w in workers]
    notes = []
    ignore = {}
    for service in project.with_role("oneshot"):
        notes.append(f"{service.name} is a one-shot ({service.why}): no running check for it.")
        if service.restart != "no" and not service.oneshot_marked:
            ignore[lit(service.name)] = ["healthcheck", "restart"]
    if ignore:
        options["ignore"] = ignore
    first = " and ".join(project.compose_files)
    return check(
        "compose-config", "The compose file is production-shaped", "compose", options,
        expect="healthchecks, restart policies, worker stop grace periods, pinned images, "
        "non-root users, memory limits, ports on 127.0.0.1, no literal secrets, log rotation",
        rollback=f"revert {first} to the last release and `{setting.compose('up', '-d')}`",
        tags=["config"], notes=notes,
    )  # fmt: skip
