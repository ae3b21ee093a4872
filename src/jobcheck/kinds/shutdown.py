"""``shutdown``: the graceful-stop drill. A job that runs a few seconds is enqueued; once a
worker has started it, the worker service is stopped with its grace period and started
again. The job must have finished, or been re-queued and finished — never silently lost.

The worker is always started again (``finally``), whatever happened before. Workers are a
compose service's containers, or — outside a compose project of ours — containers selected by
``labels`` and/or a ``name`` glob.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._canary import CanaryOptions
from jobcheck.kinds._drill import Timeline, start_again
from jobcheck.kinds.base import Footprint, Kind, KindContext, empty_dict
from jobcheck.outcomes import CheckError
from jobcheck.probes import canary, containers, engine, lost_jobs
from jobcheck.probes.framework import Adapter
from jobcheck.results import Outcome

DockerClient = engine.DockerClient
Container = engine.Container

SIGKILL_EXIT = 137
READY_S = 60.0
# framework -> (after a graceful stop lost the job, after a kill): in the framework's words.
FRAMEWORK_WORDS = {
    "arq": (
        "to fix: arq cancels a running job on SIGTERM and runs it again only with "
        "retry_jobs=True (the default) while job_try < max_tries; a job cancelled through "
        "allow_abort_jobs (Job.abort) is not run again. Keep retry_jobs=True, make jobs "
        "idempotent, or let them finish: job_completion_wait (arq >= 0.26) shorter than the "
        "stop_grace_period",
        "to fix: arq runs a killed worker's job again only once its arq:in-progress key "
        "expires, the worker's job_timeout + 10s after the job started: lower job_timeout, or "
        "set the drill's deadline above it; with retry_jobs=False or max_tries reached it fails",
    ),
    "dramatiq": (
        "to fix: Dramatiq acks a message only once the actor returned (acks late), so a "
        "stopped worker's message is requeued by the broker (RabbitMQ at once; Redis once the "
        "worker's heartbeat is older than heartbeat_timeout, 60s, at its next maintenance); "
        "it was lost here: give "
        "a stop_grace_period longer than the longest actor (the worker waits for running "
        "actors on SIGTERM), keep max_retries above 0 and don't ack before the work is done",
        "to fix: Dramatiq requeues an unacked message of a killed worker: RabbitMQ when the "
        "channel closes, the Redis broker once the worker's heartbeat is older than "
        "heartbeat_timeout (60s by default) and a broker call does maintenance "
        "(maintenance_chance, 1000 calls in a million): RedisBroker(heartbeat_timeout=..., "
        "maintenance_chance=...), or a drill deadline above it; keep max_retries above 0",
    ),
}


class Options(CanaryOptions):
    service: str = Field("worker", description="The compose service running the workers")
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    labels: dict[str, str] = Field(
        default_factory=empty_dict,
        description="Instead of service: the workers are the containers with these labels "
        '({app: worker}; "" matches any value)',
    )
    name: str | None = Field(
        None,
        min_length=1,
        description="Instead of service: the workers are the containers whose name matches "
        'this glob ("staging-worker-*")',
    )
    seconds: Duration = Field(5.0, description="How long the job runs")
    grace: Duration | None = Field(
        None, description="Stop grace period (default: the container's, from stop_grace_period)"
    )
    stop_after: Duration = Field(1.0, description="Stop this long after the job started")
    start_deadline: Duration = Field(15.0, description="A worker must start the job within this")
    no_worker_grace: Duration = Field(
        5.0,
        description="Give up this long after enqueueing when the job is still queued and its "
        "queue has no live worker (needs a broker URL to count workers)",
    )
    deadline: Duration = Field(
        60.0, description="After the restart, the job must finish within this"
    )
    kill: bool = Field(
        False,
        description="Hard-kill drill: SIGKILL the worker (no grace, as an OOM kill or a lost "
        "node); the job must be redelivered and finish, or fail visibly, within deadline",
    )
    enqueue_words: ClassVar[str] = "enqueue_url (with {seconds})"

    @model_validator(mode="before")
    @classmethod
    def _rq_default_task(cls, data: Any) -> Any:
        """RQ's drill runs the demo's sleep job unless told otherwise (as in 0.1)."""
        named = isinstance(data, dict) and (data.get("task") or data.get("function"))
        if isinstance(data, dict) and data.get("via") == "rq" and not named:
            return {**data, "function": "app.jobs.sleep"}
        return data

    @model_validator(mode="after")
    def _one_selection(self) -> Options:
        if self.labels or self.name is not None:
            given = sorted({"service", "project"} & self.model_fields_set)
            if given:
                raise ValueError(
                    f"`{given[0]}` names a compose service; `labels` and `name` select any "
                    "containers: use one or the other"
                )
        return self

    def selector(self, ctx: KindContext) -> containers.Selector:
        if self.labels or self.name is not None:
            return containers.Selector(labels=self.labels, name=self.name)
        return containers.Selector(engine.project_for(ctx, self.project), self.service)

    @property
    def workers(self) -> str:
        """The workers in messages: the service's name, else "the workers"."""
        return "the workers" if self.labels or self.name is not None else self.service

    @model_validator(mode="after")
    def _stop_while_running(self) -> Options:
        if self.stop_after >= self.seconds:
            raise ValueError(
                f"stop_after ({self.stop_after:g}s) must be shorter than seconds "
                f"({self.seconds:g}s): the worker must be stopped while the job runs"
            )
        return self


@dataclass
class Stopped:
    name: str
    exit_code: int
    took_s: float
    oom_killed: bool


def channel_of(options: Options, ctx: KindContext, adapter: Adapter | None) -> canary.Channel:
    """The sleep job's channel: ``{seconds}`` in the URL, body and form; the job's first
    argument via a framework (unless ``args`` are given)."""
    seconds = f"{options.seconds:g}"
    return options.channel(
        ctx,
        adapter,
        enqueue_url=(options.enqueue_url or "").replace("{seconds}", seconds) or None,
        body=canary.with_seconds(options.body, seconds),
        form=canary.with_seconds(options.form, seconds),
        args=options.args or [options.seconds],
        job_timeout_s=options.seconds + 30,
    )


def wait_started(
    channel: canary.Channel,
    trace: canary.Trace,
    ctx: KindContext,
    options: Options,
    adapter: Adapter | None = None,
) -> bool:
    """Poll until the job left the queue or ``start_deadline``; True when it gave up early
    because no live worker listens on the queue."""
    until = time.monotonic() + min(options.start_deadline, ctx.remaining())
    watch = None
    if adapter is not None and options.queue_name is not None:
        watch = canary.NoWorkerWatch(adapter, options.queue_name, options.no_worker_grace)
    while True:
        trace.note(channel.status(trace.job_id))
        if trace.status != "queued" or time.monotonic() >= until:
            return False
        if watch is not None and watch(trace):
            return True  # no live worker on the queue: waiting for start_deadline cannot help
        if not ctx.sleep(min(options.interval, max(0.0, until - time.monotonic()))):
            return False


def stop_all(running: list[Container], grace: float, drill: Timeline) -> list[Stopped]:
    def stop(container: Container) -> Stopped:
        start = time.monotonic()
        container.stop(timeout=round(grace))
        took = time.monotonic() - start
        container.reload()
        state = engine.state_of(container)
        return Stopped(state.name, state.exit_code, took, state.oom_killed)

    drill.log(
        f"stopping {', '.join(c.name or '' for c in running)} (grace {format_duration(grace)})"
    )
    with ThreadPoolExecutor(max_workers=len(running)) as pool:
        stopped = list(pool.map(stop, running))
    for s in stopped:
        how = "killed at the end of the grace period" if s.exit_code == SIGKILL_EXIT else "exited"
        drill.log(f"{s.name} {how} (exit {s.exit_code}) after {format_duration(s.took_s)}")
    return stopped


def kill_all(running: list[Container], drill: Timeline) -> list[Stopped]:
    """SIGKILL every container at once: no warm shutdown, no grace."""
    drill.log(f"killing {', '.join(c.name or '' for c in running)} (SIGKILL, no grace)")
    stopped = []
    for container in running:
        start = time.monotonic()
        container.kill(signal="SIGKILL")
        container.wait(timeout=30)
        container.reload()
        state = engine.state_of(container)
        stopped.append(Stopped(state.name, state.exit_code, time.monotonic() - start, False))
        drill.log(f"{state.name} killed (exit {state.exit_code})")
    return stopped


def kill_verdict(
    trace: canary.Trace, seconds: float, failure: str, where: str, gone: bool
) -> tuple[bool, str]:
    """Redelivered and finished, or failed where an operator sees it: pass. Gone from
    everywhere, or stuck: fail, saying which."""
    head = f"job {trace.job_id} (sleep {format_duration(seconds)})"
    at = f"{trace.age:.1f}s after it was queued"
    if trace.status == "finished":
        return True, f"{head} was redelivered and finished after the SIGKILL ({at})"
    if trace.status == "failed":
        seen = where or failure or trace.shown
        return True, f"{head} failed visibly after the SIGKILL: {seen} ({at})"
    if trace.status is None or gone:
        return False, f"{head} was silently lost after the SIGKILL: {where or 'no such job'} ({at})"
    return False, (
        f"{head} is stuck {trace.shown} {at}, neither redelivered nor failed"
        + (f": {where}" if where else "")
    )


def kill_remedy(framework: str | None) -> str:
    if framework == "celery":
        return (
            "to fix: set task_acks_late=True and task_reject_on_worker_lost=True, and a "
            "broker visibility_timeout shorter than the bound (Redis)"
        )
    if framework == "rq":
        return (
            "to fix: enqueue with Retry so the abandoned job is re-queued, and a worker "
            "maintenance_interval short enough for the bound (RQ sweeps after >= 60s)"
        )
    if framework in FRAMEWORK_WORDS:
        return FRAMEWORK_WORDS[framework][1]
    return "to fix: let the framework redeliver, or visibly fail, jobs of a killed worker"


def wait_ready(
    sdk: DockerClient, which: containers.Selector, ctx: KindContext, until: float
) -> bool:
    while True:
        states = [engine.state_of(c) for c in containers.select(sdk, which)]
        if states and all(s.ready for s in states):
            return True
        if time.monotonic() >= until or not ctx.sleep(min(1.0, max(0.0, until - time.monotonic()))):
            return False


def _stop_words(stopped: list[Stopped], grace: float) -> str:
    killed = [s for s in stopped if s.exit_code == SIGKILL_EXIT]
    if killed:
        limit = format_duration(grace)
        return f"the worker was killed at the end of its {limit} grace period (exit 137)"
    took = format_duration(max(s.took_s for s in stopped))
    codes = ",".join(sorted({str(s.exit_code) for s in stopped}))
    return f"the worker stopped in {took} (exit {codes}, grace {format_duration(grace)})"


def verdict(
    trace: canary.Trace,
    status_at_stop: str | None,
    stopped: list[Stopped],
    grace: float,
    seconds: float,
) -> tuple[bool, str]:
    how = _stop_words(stopped, grace)
    head = f"job {trace.job_id} (sleep {format_duration(seconds)})"
    if trace.status == "finished":
        if status_at_stop == "finished":
            return True, f"{head} finished during the graceful stop: {how}"
        return True, f"{head} was re-queued and finished after the restart: {how}"
    if trace.status is None:
        return False, f"{head} was lost: it vanished from the queue after the stop; {how}"
    if trace.status == "failed":
        return False, f"{head} was lost: it ended {trace.shown} after the stop; {how}"
    return False, (
        f"{head} was lost: still {trace.shown} {trace.age:.1f}s after it was queued, "
        f"never finished after the restart (abandoned by the stopped worker, not re-queued); {how}"
    )


def remedy(framework: str | None, stopped: list[Stopped]) -> str:
    """What to change so the next stop loses nothing, in the framework's own settings."""
    killed = any(s.exit_code == SIGKILL_EXIT for s in stopped)
    longer = "a longer stop_grace_period (longer than the longest job)"
    if framework == "celery":
        fix = "set task_acks_late=True and task_reject_on_worker_lost=True (redelivered)"
        return f"to fix: {fix}, or {longer}" if killed else f"to fix: {fix}"
    if framework == "rq":
        return f"to fix: {longer}; make jobs idempotent and retried (Retry) for cold stops"
    if framework in FRAMEWORK_WORDS:
        return FRAMEWORK_WORDS[framework][0]
    return f"to fix: {longer}, and let the framework redeliver unfinished jobs"


def drill(options: Options, ctx: KindContext, sdk: DockerClient) -> Outcome:
    which = options.selector(ctx)
    running = [c for c in containers.select(sdk, which) if c.status == "running"]
    if not running:
        seen = (
            f"service {options.service!r} of project {which.project!r} has"
            if which.by_compose
            else f"{which}:"
        )
        return Outcome.failed(f"{seen} no running container to stop")
    grace = options.grace if options.grace is not None else engine.stop_grace_s(running[0])
    adapter = options.adapter()
    try:
        # An adapter that cannot see a job in progress (Dramatiq on RabbitMQ) says why: the
        # drill would otherwise wait for a start it cannot see and blame the workers.
        blind = getattr(adapter, "running_unseen", "") if options.via != "http" else ""
        if blind:
            raise CheckError(f"drill not run: {blind}")
        return _drill(options, ctx, sdk, which, running, grace, adapter)
    finally:
        if adapter is not None:
            adapter.close()


def _ready(
    sdk: DockerClient,
    which: containers.Selector,
    options: Options,
    ctx: KindContext,
    restarted: float,
    until: float,
    log: Timeline,
) -> tuple[bool, str]:
    """Wait for the worker to be healthy again: (ready, how long after the restart). It gets
    its own time, even when the job used the whole deadline."""
    ready_by = max(until, time.monotonic() + READY_S)
    ready = wait_ready(sdk, which, ctx, ready_by)
    back = format_duration(time.monotonic() - restarted)
    log.log(f"{options.workers} {'ready' if ready else 'NOT ready'} again")
    return ready, back


def _drill(
    options: Options,
    ctx: KindContext,
    sdk: DockerClient,
    which: containers.Selector,
    running: list[Container],
    grace: float,
    adapter: Adapter | None,
) -> Outcome:
    channel = channel_of(options, ctx, adapter)
    log = Timeline()
    trace = canary.Trace(channel.enqueue(), time.monotonic(), channel.vocabulary)
    log.log(f"enqueued job {trace.job_id} (sleep {format_duration(options.seconds)})")
    gave_up = wait_started(channel, trace, ctx, options, adapter)
    if trace.status != "started":
        note = canary.workers_note(adapter, options.queue_name)
        early = (
            f"; gave up before the {format_duration(options.start_deadline)} start_deadline: "
            "with no live worker, waiting cannot help"
            if gave_up
            else ""
        )
        return Outcome.failed(
            f"drill not run: job {trace.job_id} is {trace.status} {trace.age:.1f}s after "
            f"it was queued, expected started ({note}){early}",
            output=log.timeline,
        )
    log.log("job started")
    if not ctx.sleep(options.stop_after):
        return Outcome.errored("drill not run: cancelled or out of time before the stop")
    try:
        stopped = kill_all(running, log) if options.kill else stop_all(running, grace, log)
        status_at_stop = channel.vocabulary.state(channel.status(trace.job_id))
        log.log(f"job is {status_at_stop} once the worker is down")
    finally:
        restart_problem = start_again(running, log)
        restarted = time.monotonic()
    until = time.monotonic() + min(options.deadline, ctx.remaining())
    if options.kill:
        # A killed worker's job comes back only through a worker: its readiness first, so the
        # message says how long the worker took, apart from the job.
        ready, back = _ready(sdk, which, options, ctx, restarted, until, log)
    canary.follow(channel, trace, ctx, until, options.interval)
    log.log(f"job is {trace.status}")
    if not options.kill:
        ready, back = _ready(sdk, which, options, ctx, restarted, until, log)
    if options.kill:
        where, gone = lost_jobs.whereabouts(adapter, trace.job_id, options.queue_name)
        failure = channel.failure(trace.job_id)
        ok, message = kill_verdict(trace, options.seconds, failure, where, gone)
    else:
        ok, message = verdict(trace, status_at_stop, stopped, grace, options.seconds)
    if restart_problem or not ready:
        ok = False
        message += (
            f"; {restart_problem or f'{options.workers} not healthy {back} after the restart'}"
        )
    else:
        message += f"; {options.workers} healthy again {back} after the restart"
    if not ok:
        fix = kill_remedy if options.kill else lambda name: remedy(name, stopped)
        message += "; " + fix(options.framework_name)
    details = trace.as_details() | {"grace_s": grace, "stopped": [s.__dict__ for s in stopped]}
    outcome = Outcome.passed if ok else Outcome.failed
    return outcome(message, output=log.timeline, details=details)


def run(options: Options, ctx: KindContext) -> Outcome:
    return engine.docker_check(ctx, lambda sdk: drill(options, ctx, sdk))


def footprint(options: Options) -> Footprint:
    """It stops (or kills) its workers' service; workers chosen by labels or a name glob are
    no compose service this can name (declare `disrupts:` on the check)."""
    if options.labels or options.name is not None:
        return Footprint()
    return Footprint(uses=frozenset({options.service}), disrupts=frozenset({options.service}))


KIND = Kind(
    name="shutdown",
    options=Options,
    run=run,
    footprint=footprint,
    waits=True,
    summary="graceful-stop drill: stop the worker during a slow job; the job must not be lost",
    docker=True,
    example={
        "service": "worker",
        "enqueue_url": "http://127.0.0.1:8000/jobs/sleep?seconds={seconds}",
        "status_url": "http://127.0.0.1:8000/jobs/{id}",
        "seconds": 5,
        "deadline": "60s",
    },
)
