"""``${stack.SERVICE.PORT}``: the host address of a stack service's container port, read from
the running containers when the check runs.

A check that says ``http://127.0.0.1:8000`` asks whatever listens on port 8000 — maybe another
project's stack. A check that says ``http://${stack.api.8000}`` asks the container of service
`api` in this checklist's compose project, through the port Docker published for its port 8000
on 127.0.0.1; when there is no such container, or the port is not published there, the check
ends `error` at once, saying so, instead of answering through someone else's port.

Resolved right before each attempt (the stack may come up during the run), in the runner, for
every kind alike: the kinds see plain addresses. The Docker SDK is imported only then.
"""

from __future__ import annotations

import re
from typing import Any

from jobcheck.interpolate import STACK_REF, walk
from jobcheck.kinds.base import KindContext
from jobcheck.outcomes import CheckError
from jobcheck.probes import engine

LOOPBACK = "127.0.0.1"


def resolve(data: Any, ctx: KindContext) -> Any:
    """``data`` with every ``${stack.SERVICE.PORT}`` replaced by ``127.0.0.1:HOSTPORT``; a
    CheckError (one line: which reference, what was found) when one cannot be."""
    found: dict[tuple[str, str], str] = {}

    def address(match: re.Match[str]) -> str:
        key = (match["service"], match["port"])
        if key not in found:
            found[key] = host_address(ctx, match["service"], int(match["port"]), match.group(0))
        return found[key]

    return walk(data, lambda text, _: STACK_REF.sub(address, text))


def host_address(ctx: KindContext, service: str, port: int, ref: str = "") -> str:
    ref = ref or f"${{stack.{service}.{port}}}"
    sdk = engine.shared_client(ctx)  # EngineUnreachable is a CheckError: one line
    project = engine.project_for(ctx, None)
    try:
        containers = engine.containers(sdk, project, service)
        return _published(containers, project, service, port, ref)
    except engine.api_errors() as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CheckError(f"`{ref}`: Docker engine error: {reason}") from None


def _published(containers: list[Any], project: str, service: str, port: int, ref: str) -> str:
    if not containers:
        raise CheckError(
            f"`{ref}`: the stack {project!r} has no container for service {service!r}: it is "
            "not up (`jobcheck stack up`, or `stack.up: true`); not asking whatever else "
            f"listens on a port"
        )
    running = [c for c in containers if c.status == "running"]
    if not running:
        states = ", ".join(f"{c.name} is {c.status}" for c in containers)
        raise CheckError(
            f"`{ref}`: service {service!r} of the stack {project!r} has no running container "
            f"({states})"
        )
    container = running[0]
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") == LOOPBACK and binding.get("HostPort"):
            return f"{LOOPBACK}:{binding['HostPort']}"
    if not bindings:
        raise CheckError(
            f"`{ref}`: port {port} of {container.name} is not published; publish it on the "
            f'loopback interface in the compose file (`ports: ["{LOOPBACK}:HOSTPORT:{port}"]`)'
        )
    shown = ", ".join(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in bindings)
    raise CheckError(
        f"`{ref}`: port {port} of {container.name} is published on {shown}, not on "
        f"{LOOPBACK}; bind it to {LOOPBACK} in the compose file (`{LOOPBACK}:HOSTPORT:{port}`)"
    )


def describe(ref_service: str, port: str, project: str) -> str:
    """How `explain` says what a reference will become."""
    return (
        f"the host port Docker publishes on {LOOPBACK} for port {port} of service "
        f"`{ref_service}` in project `{project}`, read when the check runs"
    )
