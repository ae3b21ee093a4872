"""``job``: a canary job's round-trip through the real queue, within a deadline.

Two ways in: the service's own HTTP endpoints (``via: http``: enqueue, then poll the status
URL) or RQ directly (``via: rq``: enqueue a function by dotted name, poll the job's hash).
When the job does not finish, the message says where it got stuck, and (given ``redis_url``)
how many workers listen on the queue.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration
from jobcheck.kinds.base import Kind, KindContext, KindOptions
from jobcheck.probes import engine, redisq
from jobcheck.probes.canary import (
    Channel,
    HttpChannel,
    RQChannel,
    Trace,
    failure_note,
    follow,
    passed_message,
    require_via,
    stuck_message,
    workers_note,
)
from jobcheck.results import Outcome


class Options(KindOptions):
    via: Literal["http", "rq"] = Field("http", description="Enqueue through the API or RQ")
    enqueue_url: str | None = Field(None, description='via http: POST here; answers {"id": ...}')
    status_url: str | None = Field(
        None, description='via http: GET here, with {id}; answers {"status"}'
    )
    redis_url: str | None = Field(
        None, description="via rq: the queue's Redis; via http: optional, to count live workers"
    )
    queue: str = Field("default", description="The RQ queue")
    function: str | None = Field(None, description="via rq: dotted name, e.g. app.jobs.canary")
    args: list[Any] = Field(default_factory=list, description="via rq: positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="via rq: keyword arguments")
    deadline: Duration = Field(30.0, description="The job must finish within this")
    interval: Duration = Field(0.25, description="Pause between status polls")
    request_timeout: Duration = Field(5.0, description="Per HTTP request or Redis call")

    @field_validator("enqueue_url", "status_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        return redisq.validate_url(value) if value is not None else None

    @model_validator(mode="after")
    def _complete(self) -> Options:
        require_via(self.via, self.enqueue_url, self.status_url, self.redis_url, "enqueue_url")
        if self.via == "rq" and not self.function:
            raise ValueError("via rq needs redis_url and function (e.g. app.jobs.canary)")
        if self.function is not None and "." not in self.function:
            raise ValueError(
                f"function must be a dotted name the worker can import, got {self.function!r}"
            )
        if self.deadline <= 0 or self.interval <= 0:
            raise ValueError("deadline and interval must be more than 0")
        return self


# --- channels: how a job goes in and how its status comes back ---------------------------------


def channel_of(options: Options, ctx: KindContext) -> Channel:
    if options.via == "http":
        assert options.enqueue_url and options.status_url
        return HttpChannel(
            options.enqueue_url, options.status_url, options.request_timeout, ctx.mask
        )
    assert options.redis_url and options.function
    return RQChannel(
        options.redis_url,
        options.queue,
        options.function,
        options.args,
        options.kwargs,
        job_timeout_s=max(options.deadline, 30.0),
        timeout_s=options.request_timeout,
    )


# --- following a job ---------------------------------------------------------------------------


def check(options: Options, ctx: KindContext) -> Outcome:
    channel = channel_of(options, ctx)
    deadline = min(options.deadline, ctx.remaining())
    start = time.monotonic()
    job_id = channel.enqueue()
    trace = follow(channel, Trace(job_id, start), ctx, start + deadline, options.interval)
    details = trace.as_details() | {"latency_s": round(trace.age, 3)}
    if trace.status == "finished":
        return Outcome.passed(passed_message(trace, options.via), details=details)
    note = ""
    if trace.status == "failed":
        note = failure_note(options.redis_url, job_id, options.request_timeout)
    elif trace.status is not None:
        note = workers_note(options.redis_url, options.queue, options.request_timeout)
    return Outcome.failed(stuck_message(trace, deadline, note), details=details)


def run(options: Options, ctx: KindContext) -> Outcome:
    engine.require_engine_for_stack(ctx)
    return check(options, ctx)


KIND = Kind(
    name="job",
    options=Options,
    run=run,
    summary="a canary job's round-trip through the real queue (API or RQ), within a deadline",
    docker=True,
    example={
        "via": "http",
        "enqueue_url": "http://127.0.0.1:8000/jobs/canary",
        "status_url": "http://127.0.0.1:8000/jobs/{id}",
        "redis_url": "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0",
        "deadline": "30s",
    },
)
