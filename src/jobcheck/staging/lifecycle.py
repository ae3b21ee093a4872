"""`jobcheck stack up|down|status|logs [SERVICE]`: a StackInfo in, an exit code out.

Output goes to a rich Console (never markup: container output and paths are printed as they
are). An unreachable engine or a missing Compose CLI is one line and exit code 1.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from jobcheck.durations import format_duration
from jobcheck.probes import engine
from jobcheck.staging import compose_cli

if TYPE_CHECKING:
    from rich.console import Console

    from jobcheck.kinds.base import StackInfo

OK, FAILED = 0, 1
# The checklist's masker (``SecretSources.masker``): its secrets and the stack's env files'.
Mask = Callable[[str], str]


def _say(console: Console, text: str, mask: Mask, style: str | None = None) -> None:
    console.print(mask(text), markup=False, highlight=False, style=style, soft_wrap=True)


def _connect(
    stack: StackInfo, environ: Mapping[str, str], cancel: threading.Event | None = None
) -> tuple[compose_cli.Compose, engine.DockerClient]:
    """Compose CLI and engine, or EngineUnreachable / ComposeError (each one line)."""
    sdk = engine.client(environ, context=stack.context)
    return compose_cli.Compose.for_stack(stack, environ, cancel), sdk


def _guard(console: Console, mask: Mask, body: Callable[[], int]) -> int:
    try:
        return body()
    except engine.EngineUnreachable as exc:
        _say(console, f"error: {exc}", mask, "red")
    except compose_cli.ComposeError as exc:
        _say(console, f"error: {exc}", mask, "red")
        if exc.output.strip():
            _say(console, exc.output.rstrip(), mask, "dim")
    except engine.api_errors() as exc:
        _say(
            console, f"error: Docker engine error: {' '.join(str(exc).split())[:200]}", mask, "red"
        )
    return FAILED


def bring_up(
    stack: StackInfo,
    environ: Mapping[str, str],
    progress: compose_cli.Progress,
    *,
    build: bool | None = None,
    cancel: threading.Event | None = None,
) -> compose_cli.UpResult:
    """For a run whose checklist says `stack.up: true`: build, start, wait. Never raises for
    an expected failure: the result carries ok=False and a one-line message."""
    try:
        runner, sdk = _connect(stack, environ, cancel)
    except (engine.EngineUnreachable, compose_cli.ComposeError) as exc:
        return compose_cli.UpResult(False, str(exc), output=getattr(exc, "output", ""))
    try:
        return compose_cli.up(runner, sdk, progress, build=build)
    except engine.api_errors() as exc:
        return compose_cli.UpResult(
            False, f"Docker engine error: {' '.join(str(exc).split())[:200]}"
        )
    finally:
        sdk.close()


def up(
    stack: StackInfo,
    console: Console,
    environ: Mapping[str, str] | None = None,
    *,
    mask: Mask,
    build: bool | None = None,
) -> int:
    """Build (unless ``build`` is False or the stack says so), start, wait for healthchecks."""
    environ = os.environ if environ is None else environ
    start = time.monotonic()

    def progress(line: str) -> None:
        _say(console, f"  {line}", mask, "dim")

    def body() -> int:
        runner, sdk = _connect(stack, environ)
        _say(console, f"stack {stack.project}: up (deadline {format_duration(stack.wait_s)})", mask)
        try:
            result = compose_cli.up(runner, sdk, progress, build=build)
        finally:
            sdk.close()
        took = format_duration(time.monotonic() - start)
        if not result.ok:
            _say(
                console,
                f"error: stack {stack.project} is not up after {took}: {result.message}",
                mask,
                "red",
            )
            if result.output.strip():
                _say(console, result.output.rstrip(), mask, "dim")
            return FAILED
        phases = ", ".join(f"{k[:-2]} {format_duration(v)}" for k, v in result.timings.items())
        _say(
            console,
            f"stack {stack.project} is up: {result.message} in {took} ({phases})",
            mask,
            "green",
        )
        _table(console, result.states, mask)
        return OK

    return _guard(console, mask, body)


def down(
    stack: StackInfo,
    console: Console,
    environ: Mapping[str, str] | None = None,
    *,
    mask: Mask,
    volumes: bool = False,
) -> int:
    environ = os.environ if environ is None else environ

    def body() -> int:
        runner, sdk = _connect(stack, environ)
        before = len(engine.containers(sdk, stack.project))
        start = time.monotonic()
        runner.down(volumes=volumes)
        took = format_duration(time.monotonic() - start)
        gone = "and its volumes " if volumes else ""
        _say(
            console,
            f"stack {stack.project} is down: {before} containers {gone}removed in {took}",
            mask,
        )
        return OK

    return _guard(console, mask, body)


def status(
    stack: StackInfo, console: Console, environ: Mapping[str, str] | None = None, *, mask: Mask
) -> int:
    """The table; exit 0 when every service runs and is healthy, else 1."""
    environ = os.environ if environ is None else environ

    def body() -> int:
        runner, sdk = _connect(stack, environ)
        services = runner.services()
        states = [engine.state_of(c) for c in engine.containers(sdk, stack.project)]
        _table(console, states, mask, services)
        if not states:
            _say(
                console,
                f"stack {stack.project} is not up (no containers): `jobcheck stack up`",
                mask,
                "red",
            )
            return FAILED
        missing = [s for s in services if not any(st.service == s for st in states)]
        not_ready = sorted({st.service for st in states if not st.ready} | set(missing))
        if not_ready:
            _say(console, f"stack {stack.project}: not ready: {', '.join(not_ready)}", mask, "red")
            return FAILED
        _say(console, f"stack {stack.project}: {len(services)} services ready", mask, "green")
        return OK

    return _guard(console, mask, body)


def logs(
    stack: StackInfo,
    console: Console,
    environ: Mapping[str, str] | None = None,
    service: str | None = None,
    *,
    mask: Mask,
    tail: int = 200,
) -> int:
    environ = os.environ if environ is None else environ

    def body() -> int:
        runner, sdk = _connect(stack, environ)
        if service is not None and service not in (services := runner.services()):
            _say(
                console,
                f"error: no service {service!r} in {stack.project} "
                f"(services: {', '.join(services)})",
                mask,
                "red",
            )
            return FAILED
        if not engine.containers(sdk, stack.project, service):
            whose = f"service {service!r} of stack" if service else "stack"
            _say(
                console,
                f"error: {whose} {stack.project} has no containers: no logs to show "
                "(`jobcheck stack up` starts it)",
                mask,
                "red",
            )
            return FAILED
        _say(console, runner.logs(service, tail=tail).rstrip(), mask)
        return OK

    return _guard(console, mask, body)


def _table(
    console: Console,
    states: list[engine.ContainerState],
    mask: Mask,
    services: list[str] | None = None,
) -> None:
    from rich.table import Table  # lazy: rich, only on a terminal

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("service", "container", "state", "health", "restarts", "ports"):
        table.add_column(column, no_wrap=column != "ports")
    for s in states:
        style = "green" if s.ready else "red"
        health = s.health or "-"
        table.add_row(
            s.service,
            s.name,
            s.state,
            health,
            str(s.restarts),
            mask(", ".join(s.ports)) or "-",
            style=style,
        )
    for service in services or []:
        if not any(s.service == service for s in states):
            table.add_row(service, "-", "not created", "-", "-", "-", style="red")
    console.print(table)
