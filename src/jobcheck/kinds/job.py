"""``job``: a canary job's round-trip through the real queue, within a deadline.

Three ways in (``via``): the service's own HTTP endpoints (a JSON or form body; the id and
status read at dotted paths, so ``{"data": {"task_id": ...}}`` and ``{"task_status":
"SUCCESS"}`` work), RQ directly (a dotted function), or Celery directly (a registered task;
a task no live worker knows is an error, not a wait). When the job does not finish, the
message says where it got stuck and, given a broker URL, how many workers listen on its queue.
"""

from __future__ import annotations

import time

from pydantic import Field, model_validator

from jobcheck.durations import Duration
from jobcheck.kinds._canary import CanaryOptions
from jobcheck.kinds.base import Kind, KindContext
from jobcheck.probes import engine
from jobcheck.probes.canary import (
    NoWorkerWatch,
    Trace,
    follow,
    passed_message,
    stuck_message,
    workers_note,
)
from jobcheck.results import Outcome


class Options(CanaryOptions):
    deadline: Duration = Field(30.0, description="The job must finish within this")
    no_worker_grace: Duration = Field(
        5.0,
        description="Give up this long after enqueueing when the job is still queued and its "
        "queue has no live worker (needs a broker URL to count workers)",
    )

    @model_validator(mode="after")
    def _positive(self) -> Options:
        if self.deadline <= 0:
            raise ValueError("deadline must be more than 0")
        return self


def check(options: Options, ctx: KindContext) -> Outcome:
    adapter = options.adapter()
    try:
        channel = options.channel(ctx, adapter, job_timeout_s=max(options.deadline, 30.0))
        deadline = min(options.deadline, ctx.remaining())
        start = time.monotonic()
        trace = Trace(channel.enqueue(), start, channel.vocabulary)
        watch = None
        if adapter is not None and options.queue_name is not None:
            watch = NoWorkerWatch(adapter, options.queue_name, options.no_worker_grace)
        follow(channel, trace, ctx, start + deadline, options.interval, watch)
        details = trace.as_details() | {"latency_s": round(trace.age, 3), "via": options.via}
        if trace.status == "finished":
            return Outcome.passed(passed_message(trace, options.via), details=details)
        if trace.status == "failed":
            note = channel.failure(trace.job_id)
        elif trace.status is None:
            note = ""
        else:
            note = workers_note(adapter, options.queue_name)
        gave_up = watch is not None and watch.gave_up
        return Outcome.failed(
            stuck_message(trace, deadline, note, gave_up=gave_up), details=details
        )
    finally:
        if adapter is not None:
            adapter.close()


def run(options: Options, ctx: KindContext) -> Outcome:
    engine.require_engine_for_stack(ctx)
    return check(options, ctx)


KIND = Kind(
    name="job",
    options=Options,
    run=run,
    uses_workers=True,
    waits=True,
    summary="a canary job's round-trip through the real queue (API, RQ or Celery), in a deadline",
    docker=True,
    example={
        "via": "http",
        "enqueue_url": "http://127.0.0.1:8000/jobs/canary",
        "status_url": "http://127.0.0.1:8000/jobs/{id}",
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "deadline": "30s",
    },
)
