"""``queue``: a queue's depth, live workers and failed jobs, and the broker's eviction policy.

RQ (``framework: rq``, ``redis_url``), Celery (``framework: celery``, ``broker_url``: Redis
or AMQP), arq (``framework: arq``, ``redis_url``) or Dramatiq (``framework: dramatiq``,
``broker_url``: Redis or AMQP), read through the framework's adapter. A queue that looks like
another framework's is an error saying which: never a silent ``depth 0``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from jobcheck.durations import Duration
from jobcheck.kinds._framework import Framework, FrameworkOptions
from jobcheck.kinds.base import Kind, KindContext
from jobcheck.outcomes import CheckEnded
from jobcheck.probes import broker_url, engine
from jobcheck.probes.framework import QueueReading, adapter_for, read_queue
from jobcheck.results import Outcome

NO_FAILED_LIST = {"celery": "Celery", "arq": "arq"}


class Options(FrameworkOptions):
    framework: Framework = Field("rq", description="Whose queue: rq, celery, arq or dramatiq")
    redis_url: str | None = Field(
        None, description="RQ: redis://[:PASSWORD@]HOST[:PORT][/DB] of the queue"
    )
    broker_url: str | None = Field(
        None, description="Celery: the broker, redis://... or amqp://... (RQ: as redis_url)"
    )
    queue: str | None = Field(
        None,
        description="The queue (default: rq default, celery celery, arq arq:queue, "
        "dramatiq default)",
    )
    max_depth: int | None = Field(None, ge=0, description="At most this many jobs waiting")
    max_failed: int | None = Field(
        None,
        ge=0,
        description="RQ: at most this many in the failed registry (Dramatiq: dead-lettered)",
    )
    failed_not_grown: bool = Field(
        False,
        description="RQ, Dramatiq: the failed registry (dead letters) did not grow since the "
        "run's first look",
    )
    min_workers: int | None = Field(None, ge=0, description="At least this many live workers")
    maxmemory_policy: str | None = Field(
        None, description="Redis maxmemory-policy, e.g. noeviction (queues must not be evicted)"
    )
    timeout: Duration = Field(5.0, description="Per broker call")

    @model_validator(mode="after")
    def _complete(self) -> Options:
        self.require_url()
        if self.redis_url and self.broker_url and self.redis_url != self.broker_url:
            raise ValueError("redis_url and broker_url name the same broker: give one")
        asked = (self.max_depth, self.max_failed, self.min_workers, self.maxmemory_policy)
        if all(v is None for v in asked) and not self.failed_not_grown:
            raise ValueError(
                "nothing to check: set max_depth, max_failed, failed_not_grown, "
                "min_workers or maxmemory_policy"
            )
        if self.framework in NO_FAILED_LIST and (
            self.max_failed is not None or self.failed_not_grown
        ):
            raise ValueError(
                f"{NO_FAILED_LIST[self.framework]} keeps no failed-job list: max_failed and "
                "failed_not_grown are RQ's and Dramatiq's (watch failures in the result "
                "backend instead)"
            )
        return self


def read(options: Options) -> QueueReading:
    assert options.url is not None
    with adapter_for(options.framework, options.url, timeout_s=options.timeout) as adapter:
        return read_queue(adapter, options.queue_name, policy=options.maxmemory_policy is not None)


def baseline(options: Options, ctx: KindContext, failed_now: int) -> int:
    """The failed count at this run's first look at this queue (shared by every queue check)."""
    where = broker_url.BrokerURL.parse(options.url or "")
    key = f"queue.failed-baseline:{where.host}:{where.port}/{where.path}:{options.queue_name}"
    return int(ctx.cached(key, lambda: failed_now))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def judge(options: Options, ctx: KindContext, seen: QueueReading) -> tuple[list[str], list[str]]:
    """(problems, facts): what is wrong, and what was seen, in the same order."""
    problems: list[str] = []
    facts: list[str] = []
    if options.max_depth is not None:
        facts.append(f"depth {seen.depth} (max {options.max_depth})")
        if seen.depth > options.max_depth:
            problems.append(
                f"{_plural(seen.depth, 'job')} waiting, expected at most {options.max_depth}"
            )
    failed = seen.failed or 0
    if options.max_failed is not None:
        facts.append(f"failed {failed} (max {options.max_failed})")
        if failed > options.max_failed:
            problems.append(
                f"{failed} failed {'job' if failed == 1 else 'jobs'}, "
                f"expected at most {options.max_failed}"
            )
    if options.failed_not_grown:
        start = baseline(options, ctx, failed)
        facts.append(f"failed {failed} (run started with {start})")
        if failed > start:
            problems.append(f"failed registry grew from {start} to {failed} during this run")
    if options.min_workers is not None:
        count = len(seen.workers)
        names = f": {', '.join(seen.workers)}" if 0 < count <= 3 else ""
        facts.append(f"{_plural(count, 'live worker')} (min {options.min_workers}){names}")
        if count < options.min_workers:
            waiting = f" ({seen.depth} waiting)" if seen.depth else ""
            problems.append(
                f"{count} live workers, expected at least {options.min_workers}{waiting}"
            )
    if options.maxmemory_policy is not None:
        facts.append(f"maxmemory-policy {seen.policy}")
        if seen.policy != options.maxmemory_policy:
            problems.append(
                f"maxmemory-policy is {seen.policy!r}, expected {options.maxmemory_policy!r}"
            )
    return problems, facts


def run(options: Options, ctx: KindContext) -> Outcome:
    engine.require_engine_for_stack(ctx)
    try:
        seen = read(options)
    except CheckEnded as exc:
        exc.message = f"queue {options.queue_name!r}: {exc.message}"
        raise
    problems, facts = judge(options, ctx, seen)
    details: dict[str, object] = {
        "framework": options.framework,
        "depth": seen.depth,
        "failed": seen.failed,
        "workers": list(seen.workers),
    }
    if seen.policy:
        details["maxmemory_policy"] = seen.policy
    head = f"queue {options.queue_name!r}"
    if problems:
        return Outcome.failed(
            f"{head}: " + "; ".join(problems), output=", ".join(facts), details=details
        )
    return Outcome.passed(f"{head}: " + ", ".join(facts), details=details)


KIND = Kind(
    name="queue",
    options=Options,
    run=run,
    uses_workers=True,
    waits=True,
    summary="queue depth, live workers, failed jobs (RQ, Celery, arq, Dramatiq), Redis "
    "maxmemory-policy",
    docker=True,
    example={
        "framework": "rq",
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "queue": "default",
        "max_depth": 100,
        "failed_not_grown": True,
        "min_workers": 1,
        "maxmemory_policy": "noeviction",
    },
)
