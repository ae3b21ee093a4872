"""``jobcheck init``: a starting ``jobcheck.yaml`` for the project it is run in.

``detect`` (in :mod:`jobcheck.init_detect`) reads what the project has, and ``render`` turns
it into a checklist whose every check has an owner placeholder, an expected result and a
rollback note to fill in. ``init_checklist`` writes it only after the real loader accepted it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from jobcheck.errors import JobcheckError, RuntimeFailure
from jobcheck.scaffold.detect import Project, Service, detect, env_keys, is_template, template_for

__all__ = ["ChecklistExists", "Project", "detect", "init_checklist", "init_command", "render"]

FILENAME = "jobcheck.yaml"
OWNER = "@TODO-owner"


class ChecklistExists(JobcheckError):
    exit_code = 1


# -- rendering -------------------------------------------------------------------------------


def render(project: Project, *, available: Iterable[str] = ()) -> str:
    """The checklist text. ``available``: kinds that can be used (integration kinds are written
    only when present)."""
    kinds = set(available)
    checks = [
        *_code_checks(project),
        *_config_checks(project),
        *_integration_checks(project, kinds),
        _release_check(project),
    ]
    top: dict[str, Any] = {"version": 1, "name": _lit(f"{project.name} release")}
    parts = [
        _header(project),
        _dump(top, flow=False),
        _dump({"defaults": {"timeout": "5m"}}, flow=False),
    ]
    if project.compose_files:
        parts.append(_STACK_NOTE + _dump({"stack": _stack(project)}))
    parts.append("checks:\n" + "\n".join(_dump_check(check) for check in checks))
    return "\n".join(parts)


_STACK_NOTE = (
    "# The Docker staging stack: `jobcheck stack up` starts it (or set `up: true` to have every\n"
    "# run start it); checks tagged `integration` talk to it on 127.0.0.1.\n"
)


def _header(project: Project) -> str:
    found = _found(project)
    lines = [
        "# yaml-language-server: $schema=./checklist.schema.json",
        f"# jobcheck checklist for {project.name}, written by `jobcheck init`. It found:",
        *(f"#   - {item}" for item in found),
        f"# Fill in every TODO: each check's owner ({OWNER}), expected result and rollback note.",
        "# Editor completion: jobcheck schema > checklist.schema.json",
        "# Everyday: jobcheck run --skip release     Release: jobcheck release vX.Y.Z",
    ]
    return "\n".join(lines) + "\n"


def _found(project: Project) -> list[str]:
    found = []
    if project.pyproject:
        version = f", version {project.version}" if project.version else ""
        found.append(f"pyproject.toml (project {project.name}{version})")
    if project.ruff_config:
        found.append(f"ruff config in {project.ruff_config}")
    if project.tests_dir:
        found.append(f"tests in {project.tests_dir}/")
    for compose in project.compose_files:
        names = ", ".join(s.name for s in project.services) or "no services"
        found.append(f"compose file {compose} (services: {names})")
    if project.env_files:
        found.append(f"env files: {', '.join(project.env_files)}")
    if project.job_library:
        found.append(f"job library: {project.job_library}")
    if project.changelog:
        found.append(f"changelog: {project.changelog}")
    return found or ["nothing specific: add your own checks"]


def _check(
    check_id: str, title: str, kind: str, options: dict[str, Any], *, expect: str,
    rollback: str, tags: list[str],
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": check_id,
        "title": title,
        "kind": kind,
        "with": options,
        "owner": OWNER,
        "expect": expect,
        "rollback": f"TODO: {rollback}",
        "tags": tags,
    }


def _code_checks(project: Project) -> list[dict[str, Any]]:
    tool = f"ruff ({project.ruff_config})" if project.ruff_config else "ruff (default rules)"
    checks = [
        _check(
            "lint", f"Lint is clean: {tool}", "lint", {"paths": ["."]},
            expect="ruff reports no findings",
            rollback="nothing to roll back: a finding blocks the merge; fix it and push again",
            tags=["code"],
        )
    ]  # fmt: skip
    if project.module:
        checks.append(_import_check(project))
    if project.tests_dir:
        options: dict[str, Any] = {"args": [_lit(project.tests_dir)], "min_tests": 1}
        if project.python:
            options["python"] = project.python
        checks.append(
            _check(
                "tests", "The test suite passes", "pytest", options,
                expect=f"every test in {project.tests_dir}/ passes, and at least one runs",
                rollback="revert the change that broke the tests (`git revert <sha>`)",
                tags=["code"],
            )
        )  # fmt: skip
    return checks


def _import_check(project: Project) -> dict[str, Any]:
    python = project.python or "python3"
    options: dict[str, Any] = {"run": [python, "-c", f"import {project.module}"]}
    if (project.root / "src" / project.module).is_dir():
        options["env"] = {"PYTHONPATH": "src"}
    return _check(
        "imports", f"The {project.module} package imports", "command", options,
        expect=f"`import {project.module}` succeeds (no missing dependency, no import-time crash)",
        rollback="pin the dependency back to the last released version and redeploy",
        tags=["code"],
    )  # fmt: skip


def _config_checks(project: Project) -> list[dict[str, Any]]:
    ids = _env_ids(project.env_files)
    checks = [_env_check(project, n, i) for n, i in zip(project.env_files, ids, strict=True)]
    if project.compose_files:
        checks.append(_compose_check(project))
    return checks


def _env_check(project: Project, name: str, check_id: str) -> dict[str, Any]:
    keys = env_keys(project.root / name)
    template = template_for(name, project.env_files)
    options: dict[str, Any] = {"file": _lit(name)}
    promises = [f"defines its {len(keys)} keys"]
    if keys:
        options["required"] = [_lit(k) for k in keys[:20]]
    if "DEBUG" in keys and not is_template(name):
        options["forbidden"] = {"DEBUG": ["1", "true", "yes", "on"]}
        promises.append("DEBUG is off")
    if template:
        options["same_keys_as"] = _lit(template)
        promises.append(f"the same keys as {template}")
    if is_template(name):
        options["secrets"] = False  # placeholders are what a template holds
    else:
        promises.append("no plaintext or placeholder secrets")
    return _check(
        check_id, f"{name} is complete and safe", "env", options,
        expect=f"{name}: " + ", ".join(promises),
        rollback=f"restore the previous {name} from git and redeploy",
        tags=["config"],
    )  # fmt: skip


def _env_ids(names: list[str]) -> list[str]:
    """``staging.env`` -> ``env-staging``, ``.env.example`` -> ``env-example``; unique."""
    ids: list[str] = []
    for name in names:
        base = f"env-{_slug(re.sub(r'(^|[.])env([.]|$)', '-', Path(name).name))}"
        check_id, n = base, 2
        while check_id in ids:
            check_id, n = f"{base}-{n}", n + 1
        ids.append(check_id)
    return ids


def _compose_check(project: Project) -> dict[str, Any]:
    options: dict[str, Any] = {"file": [_lit(f) for f in project.compose_files]}
    workers = [s.name for s in project.services if s.worker]
    if workers:
        options["worker_services"] = [_lit(w) for w in workers]
    return _check(
        "compose-config", "The compose file is production-shaped", "compose", options,
        expect="healthchecks, restart policies, worker stop grace periods, pinned images, "
        "non-root users, memory limits, ports on 127.0.0.1, no literal secrets, log rotation",
        rollback=f"revert {project.compose_files[0]} to the last release and "
        "`docker compose up -d` again",
        tags=["config"],
    )  # fmt: skip


def _stack(project: Project) -> dict[str, Any]:
    return {
        "compose": [_lit(f) for f in project.compose_files],
        "project": f"{_slug(project.name)}-staging",
    }


def _integration_checks(project: Project, kinds: set[str]) -> list[dict[str, Any]]:
    """Checks against the running stack, for the kinds this jobcheck has."""
    if not project.compose_files:
        return []
    checks = []
    if "service" in kinds:
        checks += [_service_check(s) for s in project.services]
    if "http" in kinds:
        checks += [_http_check(s) for s in project.services if s.web]
    redis = next((s for s in project.services if "redis" in f"{s.name} {s.image}".lower()), None)
    if project.job_library == "rq" and redis is not None and redis.published:
        url = _redis_url(project, redis)
        if "queue" in kinds:
            checks.append(_queue_check(url))
        if "job" in kinds and any(s.worker for s in project.services):
            checks.append(_job_check(url))
    return checks


def _service_check(service: Service) -> dict[str, Any]:
    options: dict[str, Any] = {"service": _lit(service.name), "max_restarts": 0, "wait": "60s"}
    if service.healthcheck:
        options["healthy"] = True
    healthy = " and healthy" if service.healthcheck else ""
    return _check(
        f"{_slug(service.name)}-running", f"The {service.name} service is up", "service", options,
        expect=f"every {service.name} container is running{healthy}, never restarted, "
        "not OOM-killed",
        rollback=f"roll {service.name} back to the last release's image and "
        f"`docker compose up -d {service.name}`; check its logs for the cause",
        tags=["integration"],
    )  # fmt: skip


def _redis_url(project: Project, redis: Service) -> str:
    """``${REDIS_PASSWORD:-}`` when an env file names one: the value comes from the
    environment of the run, never from this file."""
    keys = {k for name in project.env_files for k in env_keys(project.root / name)}
    auth = ":${REDIS_PASSWORD:-}@" if "REDIS_PASSWORD" in keys else ""
    return f"redis://{auth}127.0.0.1:{redis.published}/0"


def _queue_check(url: str) -> dict[str, Any]:
    options = {
        "redis_url": url,
        "queue": "default",
        "min_workers": 1,
        "failed_not_grown": True,
        "maxmemory_policy": "noeviction",
    }
    return _check(
        "queue-health", "The RQ queue is served", "queue", options,
        expect="at least one live worker on `default`, the failed-job registry does not grow, "
        "Redis never evicts queued jobs (maxmemory-policy noeviction)",
        rollback="scale the workers back up (`docker compose up -d --scale worker=N`) and "
        "requeue failed jobs with `rq requeue --all`",
        tags=["integration"],
    )  # fmt: skip


def _job_check(url: str) -> dict[str, Any]:
    options = {
        "via": "rq",
        "redis_url": url,
        "queue": "default",
        "function": "os.getpid",  # importable by any worker; swap in your own no-op job
        "deadline": "30s",
    }
    return _check(
        "canary-job", "A canary job round-trips through RQ", "job", options,
        expect="a job enqueued on `default` is finished by a worker within 30s",
        rollback="redeploy the previous worker image; jobs enqueued meanwhile stay in Redis",
        tags=["integration"],
    )  # fmt: skip


def _http_check(service: Service) -> dict[str, Any]:
    url = f"http://127.0.0.1:{service.published}/health"
    return _check(
        f"{_slug(service.name)}-health", f"{service.name} answers its health check", "http",
        {"url": url, "status": 200, "wait": "60s"},
        expect=f"GET {url} answers 200 within 60s of the stack starting",
        rollback=f"redeploy the previous image of {service.name} "
        f"(`docker compose up -d {service.name}` with the last release's tag)",
        tags=["integration"],
    )  # fmt: skip


def _release_check(project: Project) -> dict[str, Any]:
    version = project.version or "0.1.0"
    options: dict[str, Any] = {"tag": "${RELEASE_TAG:-v" + _lit(version) + "}"}
    if not (project.pyproject and project.version):
        options["match_version"] = False
    options["changelog"] = _lit(project.changelog) if project.changelog else None
    changelog = f"; {project.changelog} has a section for it" if project.changelog else ""
    return _check(
        "release-tag", "The release tag is right", "release", options,
        expect=f"RELEASE_TAG is semver, not taken, equals the package version{changelog}; "
        "the working tree is clean",
        rollback="delete a wrong tag: `git tag -d TAG && git push --delete origin TAG`",
        tags=["release"],
    )  # fmt: skip


def _dump(data: dict[str, Any], *, flow: bool | None = None) -> str:
    """YAML in block style; with ``flow=None`` short lists and mappings of scalars stay on
    one line. Long text is never folded (a folded scalar is hard to edit)."""
    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=flow, allow_unicode=True, width=1_000_000
    )


def _dump_check(check: dict[str, Any]) -> str:
    text = _dump({"checks": [check]}).split("\n", 1)[1]
    return "\n".join(f"  {line}" if line else line for line in text.split("\n"))


def _lit(text: str) -> str:
    """Text taken from the project, protected from ``${...}`` interpolation."""
    return text.replace("$", "$$")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return slug or "project"


# -- writing ---------------------------------------------------------------------------------


def init_checklist(project_dir: Path, *, force: bool) -> Path:
    """Write ``jobcheck.yaml`` in ``project_dir``; refuse to overwrite one unless ``force``.

    The text is loaded by the real loader (kinds' options included) before it replaces
    anything, so what is written always validates.
    """
    from jobcheck import kinds

    target = project_dir / FILENAME
    if target.exists() and not force:
        raise ChecklistExists(
            f"{target} already exists; not overwriting it",
            hint="pass --force to replace it, or edit it",
        )
    text = render(detect(project_dir), available=kinds.names())
    fd, tmp = tempfile.mkstemp(dir=project_dir, prefix=f".{FILENAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        _validate(Path(tmp))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _validate(path: Path) -> None:
    from jobcheck.errors import ChecklistError
    from jobcheck.loading import load_checklist

    try:
        load_checklist(path, {})
    except ChecklistError as exc:
        raise RuntimeFailure(
            f"the checklist jobcheck init wrote does not load (a jobcheck bug):\n{exc.render()}"
        ) from None


def init_command(project_dir: Path, *, force: bool) -> str:
    """``jobcheck init``: write the file and say what is in it and what to do next."""
    path = init_checklist(project_dir, force=force)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ids = ", ".join(check["id"] for check in data["checks"])
    return (
        f"wrote {path} with {len(data['checks'])} checks: {ids}\n"
        f"next: replace each {OWNER} and TODO note, then `jobcheck validate --strict` and "
        "`jobcheck run --skip release`\n"
    )
