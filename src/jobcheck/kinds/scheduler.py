"""``scheduler``: at most one periodic-job scheduler across the stack. Two Celery beats send
every periodic task twice; two RQ schedulers fight over (or, on separate queues, split) the
scheduled jobs.

Counted from the running containers of the compose project (their processes, through the
engine: Celery ``beat`` and ``worker -B``, ``rq worker --with-scheduler``, ``rqscheduler``,
Dramatiq's ``periodiq``, and any ``patterns`` of your own), and, for RQ with ``redis_url``,
from RQ's own scheduler locks (``rq:scheduler-lock:QUEUE``): a lock held from a host outside
the stack is one more scheduler. Celery beat keeps no lock, so processes are all there is to
count.

arq runs cron jobs inside every worker (``cron_jobs``): ``framework: arq`` with ``redis_url``
reads the cron jobs' kept results instead, and fails when one tick ran more than ``max`` times
(several workers each enqueue it when ``unique=False``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from jobcheck import bounded_regex
from jobcheck.durations import Duration
from jobcheck.kinds._findings import plural, valid_regex
from jobcheck.kinds.base import Kind, KindContext, KindOptions, empty_list
from jobcheck.outcomes import CheckError
from jobcheck.probes import broker_url, containers, engine
from jobcheck.probes.framework import SchedulerLock, adapter_for
from jobcheck.results import Outcome

DockerClient = engine.DockerClient
Container = engine.Container

# What a scheduler's command line looks like, by framework.
BUILTIN_PATTERNS: dict[str, tuple[str, ...]] = {
    "celery": (
        r"\bcelery\b.*\sbeat(\s|$)",
        r"\bcelery\b.*\sworker\b.*\s(-B|--beat)(\s|$)",
    ),
    "rq": (
        r"\brq\s+worker\b.*\s(--with-scheduler|-s)(\s|$)",
        r"\brqscheduler\b",
        r"\brq-scheduler\b",
    ),
    "dramatiq": (r"\bperiodiq\b",),
}


class Options(KindOptions):
    framework: Literal["rq", "celery", "dramatiq", "arq", "any"] = Field(
        "any",
        description="Whose schedulers to count: rq, celery, dramatiq (periodiq), any (all "
        "three), or arq (its cron jobs' runs, from redis_url)",
    )
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    max: int = Field(1, ge=0, description="At most this many scheduler processes")
    min: int = Field(0, ge=0, description="At least this many (1: exactly one with max 1)")
    patterns: list[str] = Field(
        default_factory=empty_list,
        description="More command lines that are schedulers (regular expressions), e.g. "
        "'python -m app\\.scheduler'",
    )
    redis_url: str | None = Field(
        None, description="RQ: also read RQ's scheduler locks (rq:scheduler-lock:QUEUE)"
    )
    timeout: Duration = Field(5.0, description="Per Redis call")

    @field_validator("patterns")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return [valid_regex(v) for v in value]

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        return broker_url.validate(value, redis_only=True) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Options:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        if self.redis_url and self.framework in ("celery", "dramatiq"):
            raise ValueError("redis_url reads RQ's scheduler locks (or arq's cron runs)")
        if self.framework == "arq" and not self.redis_url:
            raise ValueError("framework arq needs redis_url: arq's cron runs are read there")
        return self

    def regexes(self) -> list[str]:
        chosen = ("rq", "celery", "dramatiq") if self.framework == "any" else (self.framework,)
        builtin = [p for name in chosen for p in BUILTIN_PATTERNS[name]]
        return [*builtin, *self.patterns]


@dataclass(frozen=True)
class Found:
    container: str
    hostname: str
    args: str


def schedulers_in(container: Container, regexes: Sequence[str]) -> list[Found]:
    """The scheduler processes of one container, each counted once: a forked child (Celery's
    pool, RQ's work horse and scheduler process) shares its parent's command line. The
    patterns go through the bounded matcher: a user's pattern that backtracks forever ends the
    check ``error`` instead of freezing the run."""
    procs = containers.processes(container)
    try:
        matching = {
            p.pid: p for p in procs if any(bounded_regex.search(r, p.args) for r in regexes)
        }
    except bounded_regex.RegexFailed as exc:
        raise CheckError(f"patterns: {exc}") from None
    name = container.name or container.short_id
    return [
        Found(name, hostname(container), p.args)
        for p in matching.values()
        if p.ppid not in matching
    ]


def hostname(container: Container) -> str:
    """The container's hostname (RQ records it with each scheduler lock's holder)."""
    return str((container.attrs.get("Config") or {}).get("Hostname") or "")


def read_locks(options: Options) -> list[SchedulerLock]:
    if options.redis_url is None or options.framework == "arq":
        return []
    with adapter_for("rq", options.redis_url, timeout_s=options.timeout) as adapter:
        return adapter.scheduler_locks()  # type: ignore[attr-defined, no-any-return]


def _lock_words(locks: Sequence[SchedulerLock], inside: dict[str, str]) -> str:
    """Who holds each lock: the container when it is one of the stack's, else its host."""
    if not locks:
        return "no RQ scheduler lock held"
    words = []
    for lock in locks:
        where = inside.get(lock.hostname) or (
            f"{lock.hostname or 'an unknown host'} (outside the stack)"
        )
        pid = f" pid {lock.pid}" if lock.pid else ""
        words.append(f"rq:scheduler-lock:{lock.queue} held by {where}{pid}")
    return "; ".join(words)


def check(options: Options, ctx: KindContext, sdk: DockerClient) -> Outcome:
    project = engine.project_for(ctx, options.project)
    running = [c for c in engine.containers(sdk, project) if c.status == "running"]
    if not running:
        raise CheckError(
            f"project {project!r} has no running container: schedulers cannot be counted "
            "(is the stack up? `jobcheck stack up`)"
        )
    regexes = options.regexes()
    found = [f for c in running for f in schedulers_in(c, regexes)]
    locks = read_locks(options)
    inside = {hostname(c): c.name or c.short_id for c in running}
    outside = sorted(
        {
            (lock.hostname, lock.pid)
            for lock in locks
            if lock.hostname and lock.hostname not in inside
        }
    )
    total = len(found) + len(outside)
    listed = [f"{f.container}: `{containers.Process(0, 0, f.args).shown(120)}`" for f in found]
    listed += [
        f"{host} pid {pid}: holds an RQ scheduler lock, outside the stack" for host, pid in outside
    ]
    facts = f"{plural(total, 'scheduler')} in {project!r}" + (
        ": " + "; ".join(listed) if listed else f" ({plural(len(running), 'container')} looked at)"
    )
    if options.redis_url is not None:
        facts += f"; {_lock_words(locks, inside)}"
    elif options.framework in ("celery", "any") and found:
        facts += "; Celery beat keeps no lock: every beat sends every periodic task"
    details = {
        "schedulers": [f.__dict__ for f in found],
        "locks": [lock.__dict__ for lock in locks],
        "outside": [f"{host}:{pid}" for host, pid in outside],
    }
    if total > options.max:
        return Outcome.failed(
            ctx.mask(
                f"{facts}; expected at most {options.max}: each would run every periodic "
                "job (duplicates), or all but one stand by on a lock"
            ),
            details=details,
        )
    if total < options.min:
        return Outcome.failed(
            ctx.mask(f"{facts}; expected at least {options.min}: periodic jobs never run"),
            details=details,
        )
    return Outcome.passed(ctx.mask(f"{facts} (at most {options.max})"), details=details)


def check_arq(options: Options, ctx: KindContext) -> Outcome:
    """Each cron tick ran at most ``max`` times, from the kept results of arq's cron jobs."""
    assert options.redis_url is not None
    from jobcheck.probes.arq_adapter import duplicates  # lazy: the framework's client library

    with adapter_for("arq", options.redis_url, timeout_s=options.timeout) as adapter:
        runs = adapter.cron_runs()  # type: ignore[attr-defined]
    if not runs:
        raise CheckError(
            "no arq cron job result in Redis: no cron job ran yet, or its results are not "
            "kept (arq's cron() keeps none by default: give it keep_result=3600); run this "
            "after the cron jobs' first ticks"
        )
    functions = sorted({run.function for run in runs})
    seen = f"{plural(len(runs), 'cron run')} of {', '.join(functions)}"
    doubled = [g for g in duplicates(runs) if len(g) > options.max]
    if doubled:
        worst = max(doubled, key=len)
        return Outcome.failed(
            f"{seen}: {worst[0].function} ran {len(worst)} times at "
            f"{worst[0].enqueued:%H:%M:%S} ({plural(len(doubled), 'tick')} ran more than "
            f"{options.max}): several workers each enqueue it; give the cron job unique=True "
            "(arq's default), or run cron_jobs in one worker only",
            details={"duplicates": [[r.job_id for r in g] for g in doubled]},
        )
    return Outcome.passed(f"{seen}: each tick ran once (at most {options.max})")


def run(options: Options, ctx: KindContext) -> Outcome:
    if options.framework == "arq":
        return check_arq(options, ctx)
    return engine.docker_check(ctx, lambda sdk: check(options, ctx, sdk))


KIND = Kind(
    name="scheduler",
    options=Options,
    run=run,
    uses_workers=True,
    waits=True,
    summary="at most one beat/scheduler process across the stack (processes, RQ's locks)",
    docker=True,
    example={"framework": "any", "max": 1},
)
