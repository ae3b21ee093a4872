"""``job``: a canary job's round-trip through the real queue, within a deadline.

Two ways in: the service's own HTTP endpoints (``via: http``: enqueue, then poll the status
URL) or RQ directly (``via: rq``: enqueue a function by dotted name, poll the job's hash).
When the job does not finish, the message says where it got stuck, and (given ``redis_url``)
how many workers listen on the queue.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field, field_validator, model_validator

from jobcheck.durations import Duration, format_duration
from jobcheck.kinds import http as http_kind
from jobcheck.kinds.base import CheckFailed, Kind, KindContext, KindOptions
from jobcheck.probes import engine, redisq
from jobcheck.results import Outcome
from jobcheck.secrets import Masker

ENDED_BADLY = ("failed", "stopped", "canceled")
MAX_WORKERS_SHOWN = 3
T = TypeVar("T")


def require_via(
    via: str, enqueue_url: str | None, status_url: str | None, redis_url: str | None, what: str
) -> None:
    """The options a job round-trip needs: both URLs (status with {id}) or a Redis URL."""
    if via == "http":
        if not enqueue_url or not status_url:
            raise ValueError(f"via http needs {what} and status_url (with {{id}})")
        if "{id}" not in status_url:
            raise ValueError("status_url must contain {id}, where the job id goes")
    elif not redis_url:
        raise ValueError("via rq needs redis_url")


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


class Channel(Protocol):
    def enqueue(self) -> str: ...

    def status(self, job_id: str) -> str | None: ...


def _json_of(answer: http_kind.Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


@dataclass
class HttpChannel:
    enqueue_url: str
    status_url: str
    timeout_s: float
    mask: Masker

    def _call(self, method: str, url: str) -> http_kind.Answer:
        try:
            return http_kind.request(method, url, timeout_s=self.timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            reason = http_kind.no_answer(exc, url, self.timeout_s)
            raise CheckFailed(f"{method} {self.mask(url)}: {reason}") from None

    def _unexpected(
        self, method: str, url: str, answer: http_kind.Answer, wanted: str
    ) -> CheckFailed:
        body = http_kind.excerpt(answer.body, self.mask)
        return CheckFailed(
            f"{method} {self.mask(url)} answered {answer.status}, expected {wanted}; body: {body}"
        )

    def enqueue(self) -> str:
        answer = self._call("POST", self.enqueue_url)
        document = _json_of(answer)
        if not 200 <= answer.status < 300:
            raise self._unexpected("POST", self.enqueue_url, answer, "2xx")
        if not isinstance(document, dict) or not document.get("id"):
            raise self._unexpected("POST", self.enqueue_url, answer, 'a JSON body with "id"')
        return str(document["id"])

    def status(self, job_id: str) -> str | None:
        url = self.status_url.replace("{id}", job_id)
        answer = self._call("GET", url)
        if answer.status == 404:
            return None
        document = _json_of(answer)
        if answer.status != 200 or not isinstance(document, dict) or "status" not in document:
            raise self._unexpected("GET", url, answer, '200 with {"status": ...}')
        return str(document["status"])


@dataclass
class RQChannel:
    redis_url: str
    queue: str
    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    job_timeout_s: float
    timeout_s: float

    def enqueue(self) -> str:
        return redisq.enqueue(
            self.redis_url,
            self.queue,
            self.function,
            self.args,
            self.kwargs,
            job_timeout_s=self.job_timeout_s,
            timeout_s=self.timeout_s,
        )

    def status(self, job_id: str) -> str | None:
        with redisq.Redis(self.redis_url, self.timeout_s) as r:
            info = redisq.job_info(r, job_id)
        return info.status if info is not None else None


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


@dataclass
class Trace:
    """A job's statuses as seen by polling, with when each was first seen."""

    job_id: str
    enqueued_at: float
    seen: dict[str, float] = field(default_factory=dict)
    status: str | None = "queued"

    def note(self, status: str | None) -> None:
        self.status = status
        if status is not None:
            self.seen.setdefault(status, time.monotonic())

    def since(self, status: str) -> float | None:
        at = self.seen.get(status)
        return None if at is None else at - self.enqueued_at

    @property
    def age(self) -> float:
        return time.monotonic() - self.enqueued_at

    @property
    def done(self) -> bool:
        return self.status is None or self.status == "finished" or self.status in ENDED_BADLY

    def as_details(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "seen": {k: round(v - self.enqueued_at, 3) for k, v in self.seen.items()},
        }


def follow(
    channel: Channel, trace: Trace, ctx: KindContext, until: float, interval: float
) -> Trace:
    """Poll until the job ended (finished, failed, vanished) or ``until`` (monotonic) passed."""
    while True:
        trace.note(channel.status(trace.job_id))
        left = until - time.monotonic()
        if trace.done or left <= 0:
            return trace
        if not ctx.sleep(min(interval, left)):
            trace.note(channel.status(trace.job_id))
            return trace


def workers_note(redis_url: str | None, queue: str, timeout_s: float) -> str:
    """'0 live workers on queue 'default', 1 waiting' — with each worker's state and heartbeat
    when there are a few (a busy worker whose heartbeat is old was likely killed)."""
    if redis_url is None:
        return f"set redis_url to count the workers on queue {queue!r}"
    try:
        with redisq.Redis(redis_url, timeout_s) as r:
            names = redisq.live_workers(r, queue)
            workers = [redisq.worker_info(r, name) for name in names[:MAX_WORKERS_SHOWN]]
            depth = redisq.queue_depth(r, queue)
    except (redisq.RedisUnavailable, redisq.RedisRejected) as exc:
        return f"workers not counted: {exc}"
    count = f"{len(names)} live worker{'' if len(names) == 1 else 's'} on queue {queue!r}"
    if workers and len(names) <= MAX_WORKERS_SHOWN:
        count += ": " + ", ".join(w.describe() for w in workers) + ";"
    else:
        count += ","
    return f"{count} {depth} waiting"


def failure_note(redis_url: str | None, job_id: str, timeout_s: float) -> str:
    if redis_url is None:
        return ""
    try:
        with redisq.Redis(redis_url, timeout_s) as r:
            return redisq.last_failure(r, job_id)
    except (redisq.RedisUnavailable, redisq.RedisRejected):
        return ""


def stuck_message(trace: Trace, deadline: float, note: str) -> str:
    head = f"job {trace.job_id} queued {trace.age:.1f}s ago"
    if trace.status is None:
        return f"{head}, then vanished (no such job any more: expired or deleted)"
    if trace.status in ENDED_BADLY:
        why = f": {note}" if note else ""
        after = trace.since(trace.status) or trace.age
        return f"job {trace.job_id} {trace.status} {after:.1f}s after it was queued{why}"
    if trace.status == "queued":
        limit = format_duration(deadline)
        return f"{head}, still queued at the {limit} deadline: no worker took it ({note})"
    started = trace.since("started")
    at = f" (started after {started:.1f}s)" if started is not None else ""
    return f"{head}, still {trace.status} at the {format_duration(deadline)} deadline{at} ({note})"


def passed_message(trace: Trace, via: str) -> str:
    finished = trace.since("finished") or trace.age
    started = trace.since("started")
    picked = f", picked up within {started:.2f}s" if started is not None else ""
    return f"job {trace.job_id} finished in {finished:.2f}s via {via}{picked}"


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
