"""Checks against the running stack: each long-running service is up, and the web app answers
on a route it really has, with the security header and no debug page."""

from __future__ import annotations

from typing import Any

from jobcheck.scaffold import routechoice
from jobcheck.scaffold.draft import REF, Draft, check, lit, slug, soft_refs
from jobcheck.scaffold.securitychecks import security_checks
from jobcheck.scaffold.setting import Setting
from jobcheck.scaffold.topology import Service

LONG_RUNNING = ("web", "worker", "scheduler", "dashboard", "datastore", "other")


def stack_checks(setting: Setting) -> list[Draft]:
    project = setting.project
    checks = []
    if setting.has("service"):
        checks += [_running(setting, s) for s in project.services if s.role in LONG_RUNNING]
    if setting.has("http"):
        probe = routechoice.health_probe(project.routes)
        for service in (s for s in project.services if s.web):
            health = _http(setting, service, probe)
            checks += [health, *security_checks(setting, service, health.options["url"], probe)]
    return checks


def _running(setting: Setting, service: Service) -> Draft:
    options: dict[str, Any] = {"service": lit(service.name), "max_restarts": 0, "wait": "60s"}
    if service.healthcheck:
        options["healthy"] = True
    healthy = " and healthy" if service.healthcheck else ""
    extra: dict[str, Any] = {}
    notes = []
    if service.role == "dashboard":
        extra["severity"] = "warning"
        notes.append(f"{service.name} is a dashboard ({service.why}), not a worker: a warning.")
    elif service.role in ("worker", "scheduler"):
        notes.append(f"{service.name} is a {service.role} ({service.why}).")
    name = service.name
    return check(
        f"{slug(name)}-running", f"The {name} service is up", "service", options,
        expect=f"every {name} container is running{healthy}, never restarted, not OOM-killed",
        rollback=f"roll {name} back to the last release's image "
        f"(`{setting.compose('up', '-d', '--no-deps', name)}`); if it only hung: "
        f"`{setting.compose('restart', name)}`; its logs tell why",
        tags=["integration"], notes=notes, **extra,
    )  # fmt: skip


def host_port(service: Service, values: dict[str, str]) -> str:
    """The published port for the checklist; ``${API_PORT}`` gets the value Compose would use
    (from .env) or the container port as its default."""
    fallback = {
        ref.group(1) or ref.group(3): service.target for ref in REF.finditer(service.published)
    }
    return soft_refs(service.published, {**fallback, **values})


def host_address(service: Service, values: dict[str, str]) -> str:
    """Where the host reaches a service: ``${stack.web.5000}``, the port of this stack's own
    container, read when the check runs (forwarded through the engine when it is not
    published), so a check never answers through another project's service on the same port;
    ``127.0.0.1:PORT`` as Compose would publish it when the container port is not known."""
    if service.target.isdigit():
        return f"${{stack.{service.name}.{service.target}}}"
    return f"127.0.0.1:{host_port(service, values)}"


def _http(setting: Setting, service: Service, probe: routechoice.Probe | None) -> Draft:
    address = host_address(service, setting.project.env_values())
    path = probe.path if probe is not None else "/health"
    url = f"http://{address}{lit(path)}"
    draft = check(
        f"{slug(service.name)}-health", f"{service.name} answers on {path}", "http",
        {"url": url, "status": 200, "wait": "60s"},
        expect=f"GET {path} on {service.name} answers 200 within 60s of the stack starting",
        rollback=f"redeploy the previous image of {service.name} "
        f"(`{setting.compose('up', '-d', '--no-deps', service.name)}` with the last release's tag)",
        tags=["integration"],
    )  # fmt: skip
    if probe is None:
        draft.commented = True
        draft.notes = [
            f"No route found in the code for {service.name} (FastAPI, Flask or Django "
            "declarations): point this at a route it has, then uncomment it."
        ]
    elif not probe.health:
        draft.notes = [f"{probe.why}. A /health that checks Redis and the database would say more."]
    else:
        draft.notes = [f"{probe.why}."]
    unresolved = [r for r in setting.project.routes.unresolved if "GET" in r.methods]
    if unresolved:
        draft.notes.append(
            "Not probed: "
            + ", ".join(f"{r.path} ({r.where})" for r in unresolved[:3])
            + " — under a prefix init could not resolve ({?...}); put the real path in `url` "
            "if one of them is the health route."
        )
    return draft
