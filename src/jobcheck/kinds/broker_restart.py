"""``broker_restart``: the broker-restart drill. While one job runs and a few wait, the broker's
container (Redis, or RabbitMQ) is restarted with its stop grace period. Pass when the workers
reconnect and a canary finishes within the deadline, and the waiting jobs are still there (they
ran, or still wait). Fail naming what was lost, beside the broker's persistence: Redis's
``appendonly``/``save`` (``CONFIG GET``; a renamed CONFIG is said, not guessed), or, on AMQP,
whether the workers declare the queue durable and send persistent messages.

The broker is always started again (``finally``) and the workers are waited for: the stack is
left healthy, or the result says it is not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._drill import Timeline, start_again
from jobcheck.kinds._findings import plural
from jobcheck.kinds._framework import URL_OPTION, FrameworkOptions
from jobcheck.kinds._tracked import Job, follow, poll
from jobcheck.kinds.base import Footprint, Kind, KindContext, empty_dict, empty_list
from jobcheck.outcomes import CheckEnded, CheckError, CheckFailed
from jobcheck.probes import broker_url, engine
from jobcheck.probes.framework import Adapter, adapter_for
from jobcheck.results import Outcome

DockerClient = engine.DockerClient
Container = engine.Container

START_S = 15.0  # the running job must be started within this
SETTLE_S = 10.0  # once the canary finished, how long the waiting jobs still get to finish


class Options(FrameworkOptions):
    backend_url: str | None = Field(None, description="Celery: the result backend")
    task: str = Field(description="The canary: RQ's dotted function or Celery's task name")
    sleep_task: str | None = Field(
        None,
        description="A task sleeping its first argument's seconds: the job running during "
        "the restart (none: no job runs)",
    )
    seconds: Duration = Field(5.0, description="How long the running job sleeps")
    args: list[Any] = Field(
        default_factory=empty_list,
        description="The canary's positional arguments (and the waiting jobs')",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=empty_dict,
        description="The canary's keyword arguments (and the waiting jobs')",
    )
    sleep_args: list[Any] | None = Field(
        None,
        description='sleep_task\'s positional arguments; "{seconds}" is replaced by seconds '
        "(default: [seconds] when sleep_kwargs is not given either)",
    )
    sleep_kwargs: dict[str, Any] = Field(
        default_factory=empty_dict,
        description='sleep_task\'s keyword arguments; "{seconds}" is replaced by seconds',
    )
    waiting: int = Field(3, ge=0, le=50, description="Canary jobs left waiting at the restart")
    service: str = Field("redis", description="The broker's compose service (redis, rabbitmq)")
    worker: str = Field("worker", description="The workers' compose service")
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    broker_ready: Duration = Field(
        60.0, description="The broker must be healthy again within this after the restart"
    )
    deadline: Duration = Field(
        60.0, description="Once the broker is back, the canary and waiting jobs must finish"
    )
    worker_ready: Duration = Field(
        60.0, description="At the end, the workers must be healthy again within this"
    )
    interval: Duration = Field(0.25, description="Pause between polls")
    timeout: Duration = Field(5.0, description="Per broker call")

    @model_validator(mode="after")
    def _complete(self) -> Options:
        self.require_url({**URL_OPTION, "celery": "broker_url and backend_url"})
        if self.framework == "celery" and self.backend_url is None:
            raise ValueError("framework celery needs backend_url to follow the jobs")
        if self.framework == "rq" and "." not in self.task:
            raise ValueError(f"RQ's task is a dotted function name, got {self.task!r}")
        if (self.sleep_args is not None or self.sleep_kwargs) and not self.sleep_task:
            raise ValueError("sleep_args and sleep_kwargs are sleep_task's: give sleep_task")
        return self

    def sleep_call(self) -> tuple[list[Any], dict[str, Any]]:
        """sleep_task's arguments: ``{seconds}`` filled in where the checklist put it; with
        none given, the number of seconds as its one argument."""
        if self.sleep_args is None and not self.sleep_kwargs:
            return [self.seconds], {}
        args = [with_seconds(a, self.seconds) for a in self.sleep_args or []]
        return args, {k: with_seconds(v, self.seconds) for k, v in self.sleep_kwargs.items()}


SECONDS = "{seconds}"


def with_seconds(value: Any, seconds: float) -> Any:
    """``"{seconds}"`` becomes the number; inside longer text, its digits; lists and mappings
    are walked (an app's task may take ``{"duration": "{seconds}"}``)."""
    if value == SECONDS:
        return seconds
    if isinstance(value, str):
        return value.replace(SECONDS, f"{seconds:g}")
    if isinstance(value, list):
        return [with_seconds(v, seconds) for v in value]
    if isinstance(value, dict):
        return {k: with_seconds(v, seconds) for k, v in value.items()}
    return value


# --- the broker's persistence -------------------------------------------------------------------


@dataclass(frozen=True)
class Persistence:
    durable: bool | None  # None: could not be told
    words: str
    delivery_mode: str = ""  # AMQP: the workers' task_default_delivery_mode


def persistence_of(adapter: Adapter, options: Options) -> Persistence:
    if broker_url.BrokerURL.parse(options.url or "").is_redis:
        return Persistence(*persistence_words(adapter, options))
    try:
        durable, words, mode = _amqp_words(adapter, options.queue_name)
    except CheckError as exc:
        return Persistence(None, f"persistence could not be told: {exc.message}")
    return Persistence(durable, words, mode)


def persistence_words(adapter: Adapter, options: Options) -> tuple[bool | None, str]:
    """Redis's (durable, in words); durable None when it could not be told."""
    try:
        return _redis_words(adapter)
    except CheckError as exc:
        return None, f"persistence could not be told: {exc.message}"


def _redis_words(adapter: Adapter) -> tuple[bool | None, str]:
    try:
        seen = adapter.broker_persistence()
    except CheckError as exc:
        if "rejected a command" in exc.message:
            return None, (
                "Redis's persistence could not be told (CONFIG GET was refused: renamed or "
                "disabled in this deployment)"
            )
        raise
    if seen is None:
        return None, "Redis's persistence could not be told"
    fsync = f" (appendfsync {seen.appendfsync})" if seen.appendonly and seen.appendfsync else ""
    words = (
        f"Redis has appendonly {'yes' if seen.appendonly else 'no'}{fsync} and save {seen.save!r}"
    )
    return seen.durable, words


def _amqp_words(adapter: Adapter, queue: str) -> tuple[bool | None, str, str]:
    """Does RabbitMQ keep a waiting task over a restart: the workers declare the queue durable
    (``inspect active_queues``) and the app sends persistent messages (its
    ``task_default_delivery_mode``, read from the workers' configuration)."""
    delivery = getattr(adapter, "delivery", None)
    if delivery is None:
        return None, "the broker's persistence could not be told", ""
    durable, mode = delivery(queue)
    if durable is None:
        return None, f"no worker declared queue {queue!r}: its durability could not be told", mode
    persistent = mode in ("persistent", "2")
    words = (
        f"queue {queue!r} is {'durable' if durable else 'not durable'}, task messages are "
        f"{'persistent' if persistent else f'not persistent (delivery mode {mode})'}"
    )
    return durable and persistent, words, mode


# --- jobs ---------------------------------------------------------------------------------------


def wait_started(adapter: Adapter, job: Job, ctx: KindContext, options: Options) -> None:
    until = time.monotonic() + min(START_S, ctx.remaining())
    while True:
        poll(adapter, job)
        if job.word != "queued" or time.monotonic() >= until:
            return
        if not ctx.sleep(options.interval):
            return


def send_waiting(adapter: Adapter, options: Options, delivery_mode: str = "") -> str:
    """Celery's enqueue asks the workers first (a second or two): the waiting jobs are sent
    straight away, so they are still waiting when the broker goes down; on AMQP with the
    app's own delivery mode, as its tasks would be."""
    task, queue, args, kwargs = options.task, options.queue_name, options.args, options.kwargs
    send = getattr(adapter, "send", None)
    if send is not None:
        return str(send(task, args, kwargs, queue=queue, delivery_mode=delivery_mode or None))
    return adapter.enqueue(task, args, kwargs, queue=queue, job_timeout_s=30)


def send_canary(adapter: Adapter, options: Options, ctx: KindContext, until: float) -> str:
    """Enqueue the canary once the broker takes it (and, for Celery, a worker answers)."""
    while True:
        try:
            return adapter.enqueue(
                options.task,
                options.args,
                options.kwargs,
                queue=options.queue_name,
                job_timeout_s=30,
            )
        except CheckFailed as exc:
            if time.monotonic() >= until or not ctx.sleep(min(1.0, options.interval * 4)):
                raise CheckFailed(
                    f"the canary could not be sent after the restart: {exc.message}"
                ) from None


# --- the container ------------------------------------------------------------------------------


def running_containers(sdk: DockerClient, project: str, service: str) -> list[Container]:
    """The service's running containers, as the engine has them now."""
    return [c for c in engine.containers(sdk, project, service) if c.status == "running"]


def restart(containers: list[Container], log: Timeline) -> None:
    for container in containers:
        grace = round(engine.stop_grace_s(container))
        log.log(f"restarting {container.name} (grace {grace}s)")
        try:
            container.restart(timeout=grace)
        except engine.not_found():
            # Replaced or removed by someone else (a `compose up` recreating it) since it was
            # listed: what the workers then saw is not this drill's restart.
            raise CheckError(
                f"{container.name} was removed while the drill restarted it (recreated by a "
                "`compose up` meanwhile?): nothing concluded; run the drill again",
                output=log.timeline,
            ) from None


def wait_ready(
    sdk: DockerClient, project: str, service: str, ctx: KindContext, until: float
) -> bool:
    while True:
        states = [engine.state_of(c) for c in engine.containers(sdk, project, service)]
        if states and all(s.ready for s in states):
            return True
        if time.monotonic() >= until or not ctx.sleep(min(0.5, max(0.0, until - time.monotonic()))):
            return False


# --- the drill ----------------------------------------------------------------------------------


# A broker (or its published port) that was just started or replaced can drop the first
# connections it accepts ("Connection closed by server", a broken pipe): the drill starts only
# once a fresh connection answers, trying for this long; it never retries during the drill.
SETTLE_S = 10.0


def broker_answers(options: Options, ctx: KindContext) -> str:
    """'' once a fresh connection to the broker answers (the queue's depth); else the last
    reason it did not, after SETTLE_S."""
    until = time.monotonic() + min(SETTLE_S, max(ctx.remaining(), 0.0))
    while True:
        try:
            with _adapter(options) as adapter:
                adapter.depth(options.queue_name)
                adapter.live_workers(options.queue_name)  # Celery: through kombu's connection
            return ""
        except CheckFailed as exc:
            if time.monotonic() + 0.5 >= until:
                return exc.message
        ctx.sleep(0.5)


def _adapter(options: Options) -> Adapter:
    assert options.url is not None
    return adapter_for(
        options.framework, options.url, backend_url=options.backend_url, timeout_s=options.timeout
    )


def drill(options: Options, ctx: KindContext, sdk: DockerClient) -> Outcome:
    project = engine.project_for(ctx, options.project)
    if not running_containers(sdk, project, options.service):
        raise CheckError(
            f"service {options.service!r} of project {project!r} has no running container "
            "to restart (is it the broker's service? set service)"
        )
    silent = broker_answers(options, ctx)
    if silent:
        return Outcome.failed(
            f"drill not run: the broker does not answer before the restart "
            f"({format_duration(SETTLE_S)} of tries): {silent}"
        )
    with _adapter(options) as adapter:
        kept = persistence_of(adapter, options)
        persistence = kept.words
        workers = adapter.live_workers(options.queue_name)
        if not workers:
            return Outcome.failed(
                f"drill not run: no live worker on queue {options.queue_name!r} "
                f"({adapter.where}); {persistence}"
            )
        log = Timeline()
        jobs = _before(adapter, options, ctx, log, kept.delivery_mode)
        if isinstance(jobs, Outcome):
            return jobs
    # Listed again right before the restart, not seconds earlier: a container replaced in
    # between (a recreate finishing) is restarted as it is now, never by a stale id.
    brokers = running_containers(sdk, project, options.service)
    if not brokers:
        raise CheckError(
            f"service {options.service!r} of project {project!r}: its running container went "
            "away while the drill prepared the restart",
            output=log.timeline,
        )
    try:
        restart(brokers, log)
    finally:
        problem = start_again(brokers, log)
    restarted = time.monotonic()
    back = wait_ready(sdk, project, options.service, ctx, restarted + options.broker_ready)
    took = time.monotonic() - restarted
    log.log(f"{options.service} {'ready' if back else 'NOT ready'} after {format_duration(took)}")
    if problem or not back:
        why = problem or f"{options.service} not healthy {format_duration(took)} after the restart"
        return Outcome.failed(
            f"the broker did not come back: {why}; {persistence}", output=log.timeline
        )
    with _adapter(options) as adapter:
        return _after(adapter, options, ctx, sdk, project, jobs, persistence, log)


def _before(
    adapter: Adapter, options: Options, ctx: KindContext, log: Timeline, mode: str
) -> list[Job] | Outcome:
    jobs: list[Job] = []
    if options.sleep_task:
        args, kwargs = options.sleep_call()
        running = Job(
            adapter.enqueue(
                options.sleep_task,
                args,
                kwargs,
                queue=options.queue_name,
                job_timeout_s=options.seconds + 30,
            ),
            "running",
        )
        log.log(
            f"enqueued {running.job_id} ({options.sleep_task}, {format_duration(options.seconds)})"
        )
        wait_started(adapter, running, ctx, options)
        if running.word != "started":
            return Outcome.failed(
                f"drill not run: job {running.job_id} is {running.word} {START_S:g}s after it "
                "was queued, expected started (are the workers busy?)",
                output=log.timeline,
            )
        log.log(f"{running.job_id} started")
        jobs.append(running)
    for _ in range(options.waiting):
        jobs.append(Job(send_waiting(adapter, options, mode), "waiting"))
    # Not polled here: a Celery poll is a broadcast (a second each), and the running job must
    # still run when the broker goes down.
    log.log(f"{plural(options.waiting, 'waiting job')} enqueued")
    return jobs


def _after(
    adapter: Adapter,
    options: Options,
    ctx: KindContext,
    sdk: DockerClient,
    project: str,
    jobs: list[Job],
    words: str,
    log: Timeline,
) -> Outcome:
    start = time.monotonic()
    until = start + min(options.deadline, ctx.remaining())
    canary = Job(send_canary(adapter, options, ctx, until), "canary")
    log.log(f"canary {canary.job_id} sent")
    follow(adapter, [canary], options.queue_name, ctx, until, options.interval)
    canary_s = time.monotonic() - start
    log.log(f"canary {canary.word} after {format_duration(canary_s)}")
    if canary.word == "finished":
        until = min(until, time.monotonic() + SETTLE_S)
    follow(adapter, jobs, options.queue_name, ctx, until, options.interval)
    for job in jobs:
        where = f" ({job.where})" if job.where and job.word != "finished" else ""
        trouble = f" [last failed read: {job.trouble}]" if job.trouble else ""
        log.log(f"{job.role} job {job.job_id}: {job.word}{where}{trouble}")
    waited = time.monotonic()
    ready = wait_ready(sdk, project, options.worker, ctx, waited + options.worker_ready)
    waited = time.monotonic() - waited
    log.log(f"{options.worker} {'healthy' if ready else 'NOT healthy'}")
    return verdict(options, jobs, canary, canary_s, words, (ready, waited), log)


def unlocated(job: Job) -> bool:
    """A Celery task still PENDING whose message could not be looked for (AMQP)."""
    return job.state is not None and job.state.raw == "PENDING" and not job.where


def verdict(
    options: Options,
    jobs: list[Job],
    canary: Job,
    canary_s: float,
    persistence: str,
    health: tuple[bool, float],
    log: Timeline,
) -> Outcome:
    """``health``: (the workers healthy at the end, how long that was waited for)."""
    ready, waited = health
    waiting = [j for j in jobs if j.role == "waiting"]
    # Gone, or found nowhere at the last look (not yet confirmed by a second one): the latest
    # evidence says lost, so it is never counted as kept.
    lost = [j for j in waiting if j.gone or j.suspected_at is not None]
    # Never seen again and nowhere to look (an AMQP broker's messages cannot be listed from
    # outside): not counted as still there.
    unseen = [j for j in waiting if j not in lost and j.word != "finished" and unlocated(j)]
    running = next((j for j in jobs if j.role == "running"), None)
    problems = []
    if lost:
        problems.append(
            f"{len(lost)} of {plural(len(waiting), 'waiting job')} gone after the restart: "
            f"{persistence}"
        )
    if unseen:
        problems.append(
            f"{len(unseen)} of {plural(len(waiting), 'waiting job')} not seen again after the "
            f"restart (still {unseen[0].word}, and the broker cannot be searched for them): "
            f"{persistence}"
        )
    if canary.word != "finished":
        problems.append(
            f"the workers did not reconnect: canary {canary.job_id} is {canary.word} "
            f"{format_duration(canary_s)} after it was sent (deadline "
            f"{format_duration(options.deadline)})"
        )
    if not ready:
        problems.append(
            f"{options.worker} not healthy {format_duration(waited)} after the drill (its "
            "healthcheck failing: read `docker inspect` of the container)"
        )
    kept = [j for j in waiting if j not in lost and j not in unseen]
    ran = sum(1 for j in kept if j.word == "finished")
    others = sorted({j.where or j.word for j in kept if j.word != "finished"})
    kept_words = (
        f"{len(kept)} of {plural(len(waiting), 'waiting job')} still there ({ran} finished"
        + "".join(f"; {w}" for w in others)
        + ")"
        if waiting
        else "no waiting jobs"
    )
    extra = f"; the running job: {running.word}" if running is not None else ""
    details: dict[str, Any] = {
        "jobs": [{"id": j.job_id, "role": j.role, "state": j.word} for j in [*jobs, canary]],
        "canary_s": round(canary_s, 3),
    }
    if problems:
        fix = (
            "; to fix: give the broker persistence (Redis: appendonly yes; RabbitMQ: durable "
            "queues and persistent messages)"
            if lost or unseen
            else ""
        )
        tail = f"; {kept_words}" if not (lost or unseen) and waiting else ""
        return Outcome.failed(
            "; ".join(problems) + tail + extra + fix, output=log.timeline, details=details
        )
    return Outcome.passed(
        f"{options.service} restarted: workers reconnected, canary finished "
        f"{format_duration(canary_s)} after the broker was back; {kept_words}{extra}; "
        f"{persistence}",
        output=log.timeline,
        details=details,
    )


def run(options: Options, ctx: KindContext) -> Outcome:
    try:
        return engine.docker_check(ctx, lambda sdk: drill(options, ctx, sdk))
    except CheckEnded as exc:
        exc.message = f"broker restart drill: {exc.message}"
        raise


def footprint(options: Options) -> Footprint:
    """It restarts the broker, and its workers lose their connection meanwhile."""
    services = frozenset({options.service, options.worker})
    return Footprint(uses=services, disrupts=services)


KIND = Kind(
    name="broker_restart",
    options=Options,
    run=run,
    footprint=footprint,
    waits=True,
    summary="broker-restart drill: restart Redis/RabbitMQ while jobs wait and one runs; the "
    "workers must reconnect and no waiting job may be lost",
    docker=True,
    example={
        "framework": "rq",
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "task": "app.jobs.canary",
        "sleep_task": "app.jobs.sleep",
        "service": "redis",
        "deadline": "30s",
    },
)
