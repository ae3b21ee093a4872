"""A canary job followed through a queue: how it goes in and how its status comes back.

Channels: the service's own HTTP endpoints, or RQ directly. ``follow`` polls a channel until
the job ended or a deadline passed; the notes and messages say where a job got stuck. Shared
by the ``job`` and ``shutdown`` kinds.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobcheck.durations import format_duration
from jobcheck.kinds.base import KindContext
from jobcheck.outcomes import CheckFailed
from jobcheck.probes import http_client, redisq
from jobcheck.secrets import Masker

ENDED_BADLY = ("failed", "stopped", "canceled")
MAX_WORKERS_SHOWN = 3


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


class Channel(Protocol):
    def enqueue(self) -> str: ...

    def status(self, job_id: str) -> str | None: ...


def _json_of(answer: http_client.Answer) -> Any:
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

    def _call(self, method: str, url: str) -> http_client.Answer:
        try:
            return http_client.request(method, url, timeout_s=self.timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            reason = http_client.no_answer(exc, url, self.timeout_s)
            raise CheckFailed(f"{method} {self.mask(url)}: {reason}") from None

    def _unexpected(
        self, method: str, url: str, answer: http_client.Answer, wanted: str
    ) -> CheckFailed:
        body = http_client.excerpt(answer.body, self.mask)
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
