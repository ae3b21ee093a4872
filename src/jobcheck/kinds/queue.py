"""``queue``: an RQ queue's depth, failed-job registry and live workers; Redis's eviction policy.

Reads Redis directly (``redis_url``) with a minimal client: no extra package needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.probes import engine, redisq
from jobcheck.results import Outcome


class Options(KindOptions):
    redis_url: str = Field(description="redis://[:PASSWORD@]HOST[:PORT][/DB] of the queue")
    queue: str = Field("default", description="The RQ queue")
    max_depth: int | None = Field(None, ge=0, description="At most this many jobs waiting")
    max_failed: int | None = Field(
        None, ge=0, description="At most this many in the failed registry"
    )
    failed_not_grown: bool = Field(
        False, description="The failed registry did not grow since the first look in this run"
    )
    min_workers: int | None = Field(None, ge=0, description="At least this many live workers")
    maxmemory_policy: str | None = Field(
        None, description="Redis maxmemory-policy, e.g. noeviction (queues must not be evicted)"
    )
    timeout: Duration = Field(5.0, description="Per Redis call")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        return redisq.validate_url(value)

    @model_validator(mode="after")
    def _something_to_check(self) -> Options:
        wanted = (self.max_depth, self.max_failed, self.min_workers, self.maxmemory_policy)
        if all(v is None for v in wanted) and not self.failed_not_grown:
            raise ValueError(
                "nothing to check: set max_depth, max_failed, failed_not_grown, "
                "min_workers or maxmemory_policy"
            )
        return self


@dataclass(frozen=True)
class Reading:
    depth: int
    failed: int
    workers: list[str]
    policy: str


def read(options: Options) -> Reading:
    with redisq.Redis(options.redis_url, options.timeout) as r:
        depth = redisq.queue_depth(r, options.queue)
        failed = redisq.failed_count(r, options.queue)
        workers = redisq.live_workers(r, options.queue)
        policy = redisq.maxmemory_policy(r) if options.maxmemory_policy is not None else ""
    return Reading(depth, failed, workers, policy)


def baseline(options: Options, ctx: KindContext, failed_now: int) -> int:
    """The failed count at this run's first look at this queue (shared by every queue check)."""
    where = redisq.RedisURL.parse(options.redis_url)
    key = f"queue.failed-baseline:{where.host}:{where.port}/{where.db}:{options.queue}"
    return int(ctx.cached(key, lambda: failed_now))


def judge(options: Options, ctx: KindContext, seen: Reading) -> tuple[list[str], list[str]]:
    """(problems, facts): what is wrong, and what was seen, in the same order."""
    problems: list[str] = []
    facts: list[str] = []
    if options.max_depth is not None:
        facts.append(f"depth {seen.depth} (max {options.max_depth})")
        if seen.depth > options.max_depth:
            jobs = "job" if seen.depth == 1 else "jobs"
            problems.append(f"{seen.depth} {jobs} waiting, expected at most {options.max_depth}")
    if options.max_failed is not None:
        facts.append(f"failed {seen.failed} (max {options.max_failed})")
        if seen.failed > options.max_failed:
            jobs = "job" if seen.failed == 1 else "jobs"
            problems.append(f"{seen.failed} failed {jobs}, expected at most {options.max_failed}")
    if options.failed_not_grown:
        start = baseline(options, ctx, seen.failed)
        facts.append(f"failed {seen.failed} (run started with {start})")
        if seen.failed > start:
            problems.append(f"failed registry grew from {start} to {seen.failed} during this run")
    if options.min_workers is not None:
        count = len(seen.workers)
        facts.append(f"{count} live worker{'s' if count != 1 else ''} (min {options.min_workers})")
        if count < options.min_workers:
            problems.append(f"{count} live workers, expected at least {options.min_workers}")
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
    except (redisq.RedisUnavailable, redisq.RedisRejected) as exc:
        raise type(exc)(f"queue {options.queue!r}: {exc}") from None
    problems, facts = judge(options, ctx, seen)
    details = {"depth": seen.depth, "failed": seen.failed, "workers": seen.workers}
    if seen.policy:
        details["maxmemory_policy"] = seen.policy
    if problems:
        return Outcome.failed(
            f"queue {options.queue!r}: " + "; ".join(problems),
            output=", ".join(facts),
            details=details,
        )
    return Outcome.passed(f"queue {options.queue!r}: " + ", ".join(facts), details=details)


KIND = Kind(
    name="queue",
    options=Options,
    run=run,
    summary="RQ queue depth, failed-job registry, live workers, Redis maxmemory-policy",
    docker=True,
    example={
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "queue": "default",
        "max_depth": 100,
        "failed_not_grown": True,
        "min_workers": 1,
        "maxmemory_policy": "noeviction",
    },
)
