"""``worker_limits``: the time and memory limits the running workers really have, each
expectation an option (``time_limit: required``, ``max_prefetch: 1``, ...).

- Celery: asked of every live worker on the queue (``inspect conf`` with defaults and
  ``inspect stats``): hard and soft time limits, ``worker_max_tasks_per_child``,
  ``worker_max_memory_per_child``, the prefetch multiplier and the pool's concurrency.
- RQ keeps no worker-wide time limit: each job carries its own ``timeout`` (the enqueuer's,
  else the queue's default of 180 s; -1 is none), ``result_ttl`` and ``failure_ttl``. They are
  read from the hashes of the queue's newest jobs (waiting, running, finished, failed).

- arq keeps its limits in the worker's settings: jobcheck runs one ``task`` (e.g. the worker's
  sleep, a few seconds) and reads what arq put on it: the in-progress key's TTL at the start is
  the longest ``job_timeout`` of the worker's functions + 10 s, the result's TTL the function's
  ``keep_result``.

- Dramatiq keeps them in the worker's code: jobcheck reads, in the worker's container, each
  actor's options as the worker declares them (``probes/dramatiq_actors.py``): ``time_limit``
  and ``max_retries``, else the defaults of the broker's TimeLimit and Retries middleware.

A worker that does not answer, or a queue with no job to read, ends ``error``: never a pass
on limits nobody could see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds._findings import Finding, findings_outcome, plural
from jobcheck.kinds._framework import FrameworkOptions
from jobcheck.kinds.base import Kind, KindContext, empty_dict, empty_list
from jobcheck.outcomes import CheckEnded, CheckError
from jobcheck.probes import dramatiq_actors, engine
from jobcheck.probes.dramatiq_actors import Actor, WorkerActors
from jobcheck.probes.framework import JobLimits, WorkerLimits, adapter_for
from jobcheck.results import Outcome

Required = Literal["required"]
CELERY_ONLY = ("soft_time_limit", "max_tasks_per_child", "max_memory_per_child", "max_prefetch")
RQ_ONLY = ("result_ttl", "failure_ttl")
READ_TIMEOUT_S = 30.0  # Dramatiq: importing the worker's modules in its container


class Options(FrameworkOptions):
    time_limit: Required | Duration | None = Field(
        None,
        description="A hard time limit must be set (required), and at most this long (a "
        "duration). Celery: task_time_limit; RQ: each job's timeout",
    )
    soft_time_limit: Required | Duration | None = Field(
        None, description="Celery: task_soft_time_limit set (required) and at most this long"
    )
    max_tasks_per_child: Required | int | None = Field(
        None, description="Celery: worker_max_tasks_per_child set (required), at most N"
    )
    max_memory_per_child: Required | int | None = Field(
        None, description="Celery: worker_max_memory_per_child set (required), at most N KiB"
    )
    max_prefetch: int | None = Field(
        None, ge=1, description="Celery: worker_prefetch_multiplier at most N (1 for long tasks)"
    )
    result_ttl: Required | Duration | None = Field(
        None, description="RQ: jobs carry a result_ttl (required), at most this long"
    )
    failure_ttl: Required | Duration | None = Field(
        None, description="RQ: jobs carry a failure_ttl (required), at most this long"
    )
    sample: int = Field(20, ge=1, le=500, description="RQ: how many of the newest jobs to read")
    task: str | None = Field(
        None, description="arq: a function of the worker to run once and read the limits from"
    )
    args: list[Any] = Field(default_factory=empty_list, description="arq: the task's arguments")
    kwargs: dict[str, Any] = Field(default_factory=empty_dict, description="arq: keyword arguments")
    deadline: Duration = Field(30.0, description="arq: the task must end within this")
    max_retries: int | None = Field(
        None, ge=0, description="Dramatiq: every actor is retried at most N times"
    )
    service: str = Field("worker", description="Dramatiq: the compose service of the workers")
    project: str | None = Field(
        None, description="Dramatiq: compose project (default: the stack's)"
    )
    timeout: Duration = Field(5.0, description="Per broker call")

    @field_validator("max_tasks_per_child", "max_memory_per_child")
    @classmethod
    def _positive(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"expected required or a number of at least 1, got {value}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Options:
        if self.framework == "dramatiq":
            return self._dramatiq_complete()
        given = sorted({"max_retries", "service", "project"} & self.model_fields_set)
        if given:
            raise ValueError(f"{', '.join(given)}: framework dramatiq's options only")
        self.require_url()
        if self.framework == "arq":
            return self._arq_complete()
        other = CELERY_ONLY if self.framework == "rq" else RQ_ONLY
        given = [name for name in other if getattr(self, name) is not None]
        if given:
            owner = "Celery's" if self.framework == "rq" else "RQ's"
            raise ValueError(
                f"{', '.join(given)}: {owner} setting, not framework {self.framework}'s"
                + (" (an RQ worker takes one job at a time)" if "max_prefetch" in given else "")
            )
        asked = ("time_limit", *(RQ_ONLY if self.framework == "rq" else CELERY_ONLY))
        if all(getattr(self, name) is None for name in asked):
            raise ValueError(f"nothing to check: set {', '.join(asked)}")
        return self

    def _arq_complete(self) -> Options:
        given = [n for n in (*CELERY_ONLY, "failure_ttl") if getattr(self, n) is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)}: not arq's settings (arq has job_timeout: time_limit, and "
                "keep_result: result_ttl)"
            )
        if self.time_limit is None and self.result_ttl is None:
            raise ValueError("nothing to check: set time_limit (job_timeout), result_ttl")
        if not self.task:
            raise ValueError(
                "framework arq needs task: a function of the worker that runs a second or two "
                "(e.g. sleep, args [2]); arq shows its limits only on a job it runs"
            )
        return self

    def _dramatiq_complete(self) -> Options:
        given = [n for n in (*CELERY_ONLY, *RQ_ONLY) if getattr(self, n) is not None]
        given += sorted({"redis_url", "broker_url", "task"} & self.model_fields_set)
        if given:
            raise ValueError(
                f"{', '.join(given)}: not read for Dramatiq (its limits are the actors' "
                "time_limit and max_retries, read in the worker's container)"
            )
        if self.time_limit is None and self.max_retries is None:
            raise ValueError("nothing to check: set time_limit, max_retries")
        return self


# --- judging one value ------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "none" if value is None else format_duration(value)


def _judge(
    name: str,
    wanted: str | float | int | None,
    seen: float | None,
    shown: Callable[[float | None], str],
    missing: str,
) -> str:
    """'' when ``seen`` meets ``wanted`` (required: set; a number: set and at most it)."""
    if wanted is None:
        return ""
    if seen is None:
        return f"{name} {missing}, expected " + (
            "one" if wanted == "required" else f"at most {shown(float(wanted))}"
        )
    if wanted != "required" and seen > float(wanted):
        return f"{name} {shown(seen)}, expected at most {shown(float(wanted))}"
    return ""


# --- Celery -----------------------------------------------------------------------------------


def _count(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _kib(value: float | None) -> str:
    return "none" if value is None else f"{value:g} KiB"


def celery_findings(options: Options, worker: WorkerLimits) -> list[Finding]:
    checks = [
        ("time_limit", "time limit", options.time_limit, worker.time_limit, _seconds, "unset"),
        (
            "soft_time_limit",
            "soft time limit",
            options.soft_time_limit,
            worker.soft_time_limit,
            _seconds,
            "unset",
        ),
        (
            "max_tasks_per_child",
            "max tasks per child",
            options.max_tasks_per_child,
            worker.max_tasks_per_child,
            _count,
            "unset (a process is never recycled)",
        ),
        (
            "max_memory_per_child",
            "max memory per child",
            options.max_memory_per_child,
            worker.max_memory_per_child,
            _kib,
            "unset (a leaking process grows until the container's OOM kill)",
        ),
        (
            "max_prefetch",
            "prefetch multiplier",
            options.max_prefetch,
            worker.prefetch_multiplier,
            _count,
            "unknown",
        ),
    ]
    findings = []
    for rule, name, wanted, seen, shown, missing in checks:
        if rule in ("time_limit", "soft_time_limit") and seen is None and wanted is not None:
            missing = f"unset (task_{rule} is None: a stuck task holds its worker process forever)"
        problem = _judge(name, wanted, seen, shown, missing)
        if problem:
            findings.append(Finding(rule, f"{worker.worker}: {problem}"))
    return findings


def celery_summary(worker: WorkerLimits) -> str:
    prefetch = f", prefetch count {worker.prefetch_count}" if worker.prefetch_count else ""
    return (
        f"{worker.worker}: time limit {_seconds(worker.time_limit)} "
        f"(soft {_seconds(worker.soft_time_limit)}), max tasks per child "
        f"{_count(worker.max_tasks_per_child)}, max memory per child "
        f"{_kib(worker.max_memory_per_child)}, prefetch multiplier "
        f"{_count(worker.prefetch_multiplier)} x concurrency {_count(worker.concurrency)}"
        f"{prefetch}"
    )


def check_celery(options: Options, ctx: KindContext) -> Outcome:
    assert options.url is not None
    with adapter_for("celery", options.url, timeout_s=options.timeout) as adapter:
        workers: list[WorkerLimits] = adapter.worker_limits(options.queue_name)  # type: ignore[attr-defined]
    findings = [f for worker in workers for f in celery_findings(options, worker)]
    subject = f"limits of the Celery workers on {options.queue_name!r}"
    summary = "; ".join(celery_summary(w) for w in workers)
    return findings_outcome(
        subject,
        findings,
        mask=ctx.mask,
        passed=f"{plural(len(workers), 'worker')} on {options.queue_name!r}: {summary}",
        output=summary,
    )


# --- RQ ---------------------------------------------------------------------------------------


def _limit(timeout: float | None) -> float | None:
    """A job's time limit: None when it has none (-1, 0 or no field)."""
    return timeout if timeout is not None and timeout > 0 else None


def _ttl(value: float | None) -> float | None:
    """A TTL: None when absent or -1 (kept forever)."""
    return value if value is not None and value >= 0 else None


def _grouped(jobs: Sequence[JobLimits], problem: Callable[[JobLimits], str]) -> list[str]:
    """One line per distinct problem: 'timeout none on 3 jobs (app.jobs.sleep, ...)'."""
    by_problem: dict[str, list[JobLimits]] = {}
    for job in jobs:
        text = problem(job)
        if text:
            by_problem.setdefault(text, []).append(job)
    lines = []
    for text, hit in by_problem.items():
        functions = sorted({j.function for j in hit if j.function})
        shown = ", ".join(functions[:3]) + (", ..." if len(functions) > 3 else "")
        lines.append(f"{text} on {plural(len(hit), 'job')} ({shown or 'no function'})")
    return lines


def _problem(
    name: str, wanted: str | float, read: Callable[[JobLimits], float | None], missing: str
) -> Callable[[JobLimits], str]:
    return lambda job: _judge(name, wanted, read(job), _seconds, missing)


def rq_findings(options: Options, jobs: Sequence[JobLimits]) -> list[Finding]:
    checks: list[tuple[str, str | float | None, Callable[[JobLimits], float | None], str]] = [
        ("timeout", options.time_limit, lambda j: _limit(j.timeout), "none (-1)"),
        (
            "result_ttl",
            options.result_ttl,
            lambda j: _ttl(j.result_ttl),
            "not set (the worker's default applies, which RQ does not publish)",
        ),
        (
            "failure_ttl",
            options.failure_ttl,
            lambda j: _ttl(j.failure_ttl),
            "not set (the worker's default applies: RQ keeps failed jobs a year)",
        ),
    ]
    findings = []
    for name, wanted, read, missing in checks:
        if wanted is None:
            continue
        rule = "time_limit" if name == "timeout" else name
        lines = _grouped(jobs, _problem(name, wanted, read, missing))
        findings += [Finding(rule, line) for line in lines]
    return findings


def _span(values: Sequence[float | None]) -> str:
    known = sorted({v for v in values if v is not None})
    unset = any(v is None for v in values)
    if not known:
        return "none"
    text = _seconds(known[0]) if len(known) == 1 else f"{_seconds(known[0])}..{_seconds(known[-1])}"
    return text + (" (and none)" if unset else "")


def rq_summary(queue: str, jobs: Sequence[JobLimits]) -> str:
    return (
        f"{plural(len(jobs), 'job')} of {queue!r} read: timeout "
        f"{_span([_limit(j.timeout) for j in jobs])}, result_ttl "
        f"{_span([_ttl(j.result_ttl) for j in jobs])}, failure_ttl "
        f"{_span([_ttl(j.failure_ttl) for j in jobs])}"
    )


def check_rq(options: Options, ctx: KindContext) -> Outcome:
    assert options.url is not None
    with adapter_for("rq", options.url, timeout_s=options.timeout) as adapter:
        jobs: list[JobLimits] = adapter.job_limits(options.queue_name, options.sample)  # type: ignore[attr-defined]
    if not jobs:
        raise CheckError(
            f"queue {options.queue_name!r} has no job to read limits from (none waiting, "
            "running, finished or failed): RQ keeps a time limit per job, not per worker; "
            "run a canary job first (needs: [canary-rq])"
        )
    summary = rq_summary(options.queue_name, jobs)
    return findings_outcome(
        f"limits of the RQ jobs on {options.queue_name!r}",
        rq_findings(options, jobs),
        mask=ctx.mask,
        passed=summary,
        output=summary,
    )


# --- arq --------------------------------------------------------------------------------------


def check_arq(options: Options, ctx: KindContext) -> Outcome:
    assert options.url is not None and options.task is not None
    with adapter_for("arq", options.url, timeout_s=options.timeout) as adapter:
        seen = adapter.probe_limits(  # type: ignore[attr-defined]
            options.task,
            options.args,
            options.kwargs,
            queue=options.queue_name,
            deadline_s=min(options.deadline, ctx.remaining()),
        )
    if seen.failure:
        raise CheckError(f"arq job {seen.job_id} ({seen.task}) failed: {seen.failure}")
    if options.time_limit is not None and seen.job_timeout is None:
        raise CheckError(
            f"arq job {seen.job_id} ({seen.task}) ended before its in-progress key was read: "
            "give a task that runs a second or two (e.g. sleep with args [2])"
        )
    keep = None if seen.keep_forever else seen.keep_result
    if options.result_ttl is not None and keep is None and not seen.keep_forever:
        raise CheckError(
            f"arq job {seen.job_id} ({seen.task}) left no result: its keep_result is 0 "
            "(nothing kept), so result_ttl cannot be read"
        )
    checks = (
        ("time_limit", "job_timeout", options.time_limit, seen.job_timeout),
        ("result_ttl", "keep_result", options.result_ttl, keep),
    )
    findings = []
    for rule, name, wanted, value in checks:
        missing = "none (keep_result_forever)" if name == "keep_result" else "none"
        problem = _judge(name, wanted, value, _seconds, missing)
        if problem:
            findings.append(Finding(rule, problem))
    summary = (
        f"arq job {seen.task} on {options.queue_name!r}: job_timeout "
        f"{_seconds(seen.job_timeout)} (the longest of the worker's functions), keep_result "
        f"{'forever' if seen.keep_forever else _seconds(keep)}"
    )
    return findings_outcome(
        f"limits of the arq worker on {options.queue_name!r}",
        findings,
        mask=ctx.mask,
        passed=summary,
        output=summary,
    )


# --- Dramatiq ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return _seconds(None if value is None else value / 1000)


def dramatiq_findings(
    options: Options, worker: WorkerActors, actors: Sequence[Actor]
) -> list[Finding]:
    """One finding per actor whose effective limit misses the expectation."""
    findings = []
    for actor in actors:
        head = f"{worker.container}: actor {actor.name} (queue {actor.queue!r})"
        limit = None if actor.time_limit_ms is None else actor.time_limit_ms / 1000
        problem = _judge(
            "time_limit", options.time_limit, limit, _seconds, f"none ({actor.time_limit_from})"
        )
        if problem:
            source = "" if limit is None else f" ({actor.time_limit_from})"
            findings.append(Finding("time_limit", f"{head}: {problem}{source}"))
        if options.max_retries is None:
            continue
        if actor.retry_when:
            raise CheckError(
                f"{head}: a retry_when function decides its retries, not max_retries: "
                "jobcheck cannot tell how many there are"
            )
        retries = None if actor.max_retries is None else float(actor.max_retries)
        problem = _judge("max_retries", options.max_retries, retries, _count, "None (forever)")
        if problem:
            findings.append(Finding("max_retries", f"{head}: {problem} ({actor.max_retries_from})"))
    return findings


def dramatiq_summary(worker: WorkerActors, actors: Sequence[Actor]) -> str:
    shown = ", ".join(
        f"{a.name} (time_limit {_ms(a.time_limit_ms)}, max_retries "
        f"{'None' if a.max_retries is None else a.max_retries})"
        for a in actors
    )
    return f"{worker.container} ({worker.broker}): {plural(len(actors), 'actor')}: {shown}"


def check_dramatiq(options: Options, ctx: KindContext, sdk: engine.DockerClient) -> Outcome:
    project = engine.project_for(ctx, options.project)
    running = [c for c in engine.containers(sdk, project, options.service) if c.status == "running"]
    if not running:
        raise CheckError(
            f"service {options.service!r} of project {project!r} has no running container: "
            "a Dramatiq worker's actors are read in its container"
        )
    timeout = min(READ_TIMEOUT_S, max(1.0, ctx.remaining()))
    findings, summaries = [], []
    for container in running:
        worker = dramatiq_actors.read(ctx.env, container, timeout, engine.context_of(ctx))
        # A worker started with --queues runs only those queues' actors.
        actors = [
            a
            for a in worker.actors
            if options.queue in (None, a.queue) and (not worker.queues or a.queue in worker.queues)
        ]
        if not actors:
            on = f" on queue {options.queue!r}" if options.queue else ""
            raise CheckError(f"{worker.container}: the worker declares no actor{on}")
        findings += dramatiq_findings(options, worker, actors)
        summaries.append(dramatiq_summary(worker, actors))
    summary = "; ".join(summaries)
    return findings_outcome(
        f"limits of the Dramatiq actors of service {options.service!r}",
        findings,
        mask=ctx.mask,
        passed=summary,
        output=summary,
    )


def run(options: Options, ctx: KindContext) -> Outcome:
    if options.framework == "dramatiq":
        return engine.docker_check(ctx, lambda sdk: check_dramatiq(options, ctx, sdk))
    engine.require_engine_for_stack(ctx)
    try:
        if options.framework == "arq":
            return check_arq(options, ctx)
        if options.framework == "celery":
            return check_celery(options, ctx)
        return check_rq(options, ctx)
    except CheckEnded as exc:
        exc.message = f"worker limits on {options.queue_name!r}: {exc.message}"
        raise


KIND = Kind(
    name="worker_limits",
    options=Options,
    run=run,
    uses_workers=True,
    waits=True,
    summary="time and memory limits read from the running workers (Celery inspect conf/stats, "
    "Dramatiq actors' options in the worker's container) or the jobs' own (RQ timeout, result "
    "and failure TTLs)",
    docker=True,
    example={
        "framework": "celery",
        "broker_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6380/0",
        "queue": "celery",
        "time_limit": "required",
        "soft_time_limit": "required",
        "max_prefetch": 1,
    },
)
