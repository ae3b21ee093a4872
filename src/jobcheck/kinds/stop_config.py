"""``stop_config``: will `docker stop` give the worker its warm shutdown? Read from the running
containers (what compose made of the file): the stop signal is the one the framework's warm
shutdown expects, the stop grace period covers the longest task, and the worker is PID 1 or
the direct child of an init, never behind a shell that swallows the signal.

Nothing is stopped: this is the cheap, static half of the ``shutdown`` drill.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._findings import Finding, findings_outcome, plural
from jobcheck.kinds.base import Footprint, Kind, KindContext, KindOptions
from jobcheck.probes import containers, engine
from jobcheck.results import Outcome

DockerClient = engine.DockerClient
Container = engine.Container


class Options(KindOptions):
    service: str = Field("worker", description="The compose service running the workers")
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    stop_signal: str = Field(
        "SIGTERM", description="The signal the worker's warm shutdown expects (RQ, Celery: SIGTERM)"
    )
    max_task_duration: Duration | None = Field(
        None,
        description="The longest task; stop_grace_period must be at least this "
        "(unset: the grace is reported, not judged)",
    )
    pid1: bool = Field(
        True, description="The worker is PID 1, or the direct child of an init (init: true)"
    )

    @field_validator("stop_signal")
    @classmethod
    def _signal(cls, value: str) -> str:
        return containers.signal_name(value)


def _signal_findings(options: Options, name: str, container: Container) -> list[Finding]:
    seen = containers.stop_signal(container)
    if seen == options.stop_signal:
        return []
    return [
        Finding(
            "stop_signal",
            f"{name}: stop signal is {seen}, expected {options.stop_signal} (the framework's "
            f"warm shutdown; set stop_signal: {options.stop_signal})",
        )
    ]


def _grace_findings(options: Options, name: str, container: Container) -> list[Finding]:
    grace = engine.stop_grace_s(container)
    if options.max_task_duration is None or grace >= options.max_task_duration:
        return []
    return [
        Finding(
            "stop_grace_period",
            f"{name}: stop_grace_period {format_duration(grace)} is shorter than the longest task "
            f"({format_duration(options.max_task_duration)}): a task still running is killed "
            "at the end of the grace period",
        )
    ]


def pid1_problem(container: Container) -> str:
    """'' when the worker gets the stop signal itself, else why it does not."""
    procs = containers.processes(container)
    first = containers.pid1(container, procs)
    if first is None:
        return "PID 1 not found in the container's processes (is it running?)"
    if first.shell:
        return (
            f"PID 1 is a shell (`{first.shown()}`): `docker stop` signals the shell, which does "
            "not pass SIGTERM on, so the worker gets no warm shutdown and is killed at the end "
            "of the grace period (use the exec form `command: [...]`, or `exec` in the script)"
        )
    if not first.init:
        return ""
    below = containers.children(procs, first)
    shells = [p for p in below if p.shell]
    if shells:
        return (
            f"PID 1 is an init ({first.program}) but its child is a shell "
            f"(`{shells[0].shown()}`): the init signals the shell, not the worker "
            "(use the exec form, or `exec` in the script)"
        )
    return ""


def _pid1_findings(options: Options, name: str, container: Container) -> list[Finding]:
    if not options.pid1 or container.status != "running":
        return []
    problem = pid1_problem(container)
    return [Finding("pid1", f"{name}: {problem}")] if problem else []


def _summary(container: Container) -> str:
    procs = containers.processes(container) if container.status == "running" else []
    first = containers.pid1(container, procs)
    init = " behind " + first.program if first is not None and first.init else ""
    worker = containers.children(procs, first) if init and first else [first] if first else []
    shown = f"`{worker[0].shown(60)}`" if worker else "?"
    grace = format_duration(engine.stop_grace_s(container))
    return f"{containers.stop_signal(container)}, grace {grace}, PID 1 {shown}{init}"


def check(options: Options, ctx: KindContext, sdk: DockerClient) -> Outcome:
    project = engine.project_for(ctx, options.project)
    found = [c for c in engine.containers(sdk, project, options.service) if c.status == "running"]
    if not found:
        return Outcome.failed(
            f"service {options.service!r} of project {project!r} has no running container "
            "(is the stack up? `jobcheck stack up`)"
        )
    findings: list[Finding] = []
    for container in found:
        name = container.name or container.short_id
        findings += _signal_findings(options, name, container)
        findings += _grace_findings(options, name, container)
        findings += _pid1_findings(options, name, container)
    budget = (
        f" >= longest task {format_duration(options.max_task_duration)}"
        if options.max_task_duration is not None
        else ""
    )
    return findings_outcome(
        f"stop configuration of {options.service!r}",
        findings,
        mask=ctx.mask,
        passed=f"{options.service} stops cleanly ({plural(len(found), 'container')}): "
        f"{_summary(found[0])}{budget}",
    )


def run(options: Options, ctx: KindContext) -> Outcome:
    return engine.docker_check(ctx, lambda sdk: check(options, ctx, sdk))


def footprint(options: Options) -> Footprint:
    return Footprint(uses=frozenset({options.service}))


KIND = Kind(
    name="stop_config",
    options=Options,
    run=run,
    footprint=footprint,
    waits=True,
    summary="the worker's stop signal, grace period (>= the longest task) and PID 1, "
    "from the running containers",
    docker=True,
    example={"service": "worker", "stop_signal": "SIGTERM", "max_task_duration": "25s"},
)
