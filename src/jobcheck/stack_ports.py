"""``${stack.SERVICE.PORT}``: the host address of a stack service's container port, read from
the running containers when the check runs.

A check that says ``http://127.0.0.1:8000`` asks whatever listens on port 8000 — maybe another
project's stack. A check that says ``http://${stack.api.8000}`` asks the container of service
`api` in this checklist's compose project, through the port Docker published for its port 8000
on 127.0.0.1; when there is no such container, or the port is not published there, the check
ends `error` at once, saying so, instead of answering through someone else's port.

Resolved right before each attempt (the stack may come up during the run), in the runner, for
every kind alike: the kinds see plain addresses. The Docker SDK is imported only then.

A port that is not published on 127.0.0.1 — or any port of a remote engine, whose published
ports are on another machine's loopback — is reached through the engine instead
(``probes.reach``): a listener on 127.0.0.1 for the rest of the run, relayed by `docker exec`
inside the stack's network. The check's message says so (``redis via the engine (not
published)``), and the run closes every forward when it ends (``close_forwards``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from jobcheck.interpolate import STACK_REF, walk
from jobcheck.kinds.base import KindContext
from jobcheck.outcomes import CheckError
from jobcheck.probes import engine, reach
from jobcheck.probes.reach import Limits
from jobcheck.results import Outcome, Status

LOOPBACK = "127.0.0.1"
REACH_KEY = "stack_ports.reach"  # the run's forwards, in the runner's shared dict
VIA_KEY = "stack_ports.via:"  # + check id: the forwards an attempt's options named


def resolve(data: Any, ctx: KindContext) -> Any:
    """``data`` with every ``${stack.SERVICE.PORT}`` replaced by ``127.0.0.1:HOSTPORT``; a
    CheckError (one line: which reference, what was found) when one cannot be."""
    found: dict[tuple[str, str], str] = {}
    via: list[Any] = []

    def address(match: re.Match[str]) -> str:
        key = (match["service"], match["port"])
        if key not in found:
            ref, service, port = match.group(0), match["service"], int(match["port"])
            found[key] = host_address(ctx, service, port, ref, via)
        return found[key]

    resolved = walk(data, lambda text, _: STACK_REF.sub(address, text))
    with ctx.shared_lock:
        ctx.shared[VIA_KEY + ctx.check_id] = via
    return resolved


def host_address(
    ctx: KindContext, service: str, port: int, ref: str = "", via: list[Any] | None = None
) -> str:
    """The published loopback port of a local engine, else a forward through the engine
    (appended to ``via``)."""
    ref = ref or f"${{stack.{service}.{port}}}"
    sdk = engine.shared_client(ctx)  # EngineUnreachable is a CheckError: one line
    project = engine.project_for(ctx, None)
    try:
        container = _running(engine.containers(sdk, project, service), project, service, ref)
        published = _published(container, port)
        if published and not engine.shared_endpoint(ctx).remote:
            return published
        forward = _forward(ctx, sdk, project, container, service, port, ref)
    except engine.api_errors() as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CheckError(f"`{ref}`: Docker engine error: {reason}") from None
    if via is not None:
        why = f"published on {published} of the engine's host" if published else ""
        via.append((forward, why, forward.problem_count))
    return str(forward.address)


def _forward(
    ctx: KindContext, sdk: Any, project: str, container: Any, service: str, port: int, ref: str
) -> Any:
    forwards: reach.Reach = ctx.cached(REACH_KEY, lambda: reach.Reach(sdk))
    try:
        return forwards.forward(project, container, service, port)
    except reach.ReachError as exc:
        raise CheckError(
            f"`{ref}`: port {port} of {container.name} is not published on {LOOPBACK} and "
            f"cannot be reached through the engine: {exc}"
        ) from None


def noted(outcome: Outcome, ctx: KindContext) -> Outcome:
    """``outcome`` with the forwards its attempt went through named at the end of its message
    (and, unless it passed, what the relay itself saw: a refused connection, an idle close)."""
    with ctx.shared_lock:
        via = ctx.shared.pop(VIA_KEY + ctx.check_id, [])
    if not via:
        return outcome
    notes = []
    for forward, why, problems_before in via:
        label = forward.label.replace("not published", why) if why else forward.label
        seen = forward.problem_count > problems_before and forward.problems
        if seen and outcome.status not in (Status.PASS, Status.WAIVED):
            label += f": {forward.problems[-1]}"  # what the relay saw during this attempt
        notes.append(label)
    return dataclasses.replace(outcome, message=f"{outcome.message}; {'; '.join(notes)}")


def close_forwards(shared: dict[str, Any]) -> None:
    """End the run's forwards: listeners closed, lease containers removed."""
    forwards = shared.pop(REACH_KEY, None)
    if forwards is not None:
        forwards.close()


def _running(containers: list[Any], project: str, service: str, ref: str) -> Any:
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
    return running[0]


def _published(container: Any, port: int) -> str:
    """``127.0.0.1:HOSTPORT`` when Docker publishes ``port`` on the loopback, else ''."""
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{port}/tcp") or []:
        if binding.get("HostIp") == LOOPBACK and binding.get("HostPort"):
            return f"{LOOPBACK}:{binding['HostPort']}"
    return ""


def describe(ref_service: str, port: str, project: str) -> str:
    """How `explain` says what a reference will become."""
    return (
        f"the host port Docker publishes on {LOOPBACK} for port {port} of service "
        f"`{ref_service}` in project `{project}`, read when the check runs; when it is not "
        f"published there (or the engine is remote), a forward through the engine for the run "
        f"(`{ref_service} via the engine (not published)`: {Limits().describe()})"
    )
