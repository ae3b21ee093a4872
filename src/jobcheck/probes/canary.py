"""A canary job followed through a queue: how it goes in and how its status comes back.

Two kinds of channel: the service's own HTTP endpoints (a JSON or form body, the id and the
status found at dotted paths in the answers, as real APIs write them), or a framework adapter
(RQ, Celery: ``probes.framework``). ``follow`` polls a channel until the job ended or a deadline
passed; the notes and messages say where a job got stuck. Shared by ``job`` and ``shutdown``.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from jobcheck.durations import format_duration
from jobcheck.kinds.base import KindContext
from jobcheck.outcomes import CheckEnded, CheckFailed
from jobcheck.probes import http_client
from jobcheck.probes.framework import Adapter, JobState
from jobcheck.secrets import Masker

MAX_WORKERS_SHOWN = 3
# The words real APIs answer with, normalised to the four states a trace knows. `done` and
# `failed` come from the check (defaults below cover RQ and Celery); these are the rest.
QUEUED_WORDS = frozenset({"queued", "pending", "deferred", "scheduled", "received", "waiting"})
STARTED_WORDS = frozenset({"started", "running", "in_progress", "progress", "retry", "busy"})
DEFAULT_DONE = ("finished", "SUCCESS")
DEFAULT_FAILED = ("failed", "stopped", "canceled", "FAILURE", "REVOKED")


@dataclass(frozen=True)
class Vocabulary:
    """Which status words mean finished and failed (case-insensitive)."""

    done: frozenset[str]
    failed: frozenset[str]

    @classmethod
    def of(cls, done: Iterable[str], failed: Iterable[str]) -> Vocabulary:
        return cls(frozenset(w.lower() for w in done), frozenset(w.lower() for w in failed))

    def state(self, word: str | None) -> str | None:
        """``finished``, ``failed``, ``started``, ``queued``, another word as it is, or None."""
        if word is None:
            return None
        low = word.lower()
        if low in self.done:
            return "finished"
        if low in self.failed:
            return "failed"
        if low in STARTED_WORDS:
            return "started"
        if low in QUEUED_WORDS:
            return "queued"
        return word


FRAMEWORK_WORDS = Vocabulary.of(("finished",), ("failed",))
HTTP_WORDS = Vocabulary.of(DEFAULT_DONE, DEFAULT_FAILED)


class Channel(Protocol):
    """How a canary goes in, and how its status word comes back (None: no such job)."""

    via: str
    vocabulary: Vocabulary

    def enqueue(self) -> str: ...

    def status(self, job_id: str) -> str | None: ...

    def failure(self, job_id: str) -> str: ...


def dotted(document: Any, path: str) -> Any:
    """``data.task_id`` in ``{"data": {"task_id": "x"}}``; a number indexes a list; None when
    absent."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _json_of(answer: http_client.Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


def with_seconds(value: Any, seconds: str) -> Any:
    """``{seconds}`` replaced in every string of a body or form (the drill's job length)."""
    if isinstance(value, str):
        return value.replace("{seconds}", seconds)
    if isinstance(value, dict):
        return {k: with_seconds(v, seconds) for k, v in value.items()}
    if isinstance(value, list):
        return [with_seconds(v, seconds) for v in value]
    return value


@dataclass
class HttpChannel:
    """The service's own API: POST (a JSON body, a string, or form fields), then GET the status
    URL with the id; ``id_field`` and ``status_field`` are dotted paths into the answers."""

    enqueue_url: str
    status_url: str
    timeout_s: float
    mask: Masker
    vocabulary: Vocabulary = HTTP_WORDS
    method: str = "POST"
    body: Any = None
    form: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    id_field: str = "id"
    status_field: str = "status"
    via: str = "http"
    _last: Any = None

    def _call(self, method: str, url: str, **kw: Any) -> http_client.Answer:
        try:
            return http_client.request(method, url, timeout_s=self.timeout_s, **kw)
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
        headers = dict(self.headers)
        body: Any = self.body
        if self.form is not None:
            body = urlencode({k: _form_value(v) for k, v in self.form.items()})
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        answer = self._call(self.method, self.enqueue_url, body=body, headers=headers)
        if not 200 <= answer.status < 300:
            raise self._unexpected(self.method, self.enqueue_url, answer, "2xx")
        job_id = dotted(_json_of(answer), self.id_field)
        if not isinstance(job_id, str | int) or isinstance(job_id, bool) or job_id == "":
            wanted = f'a JSON body with the job id at "{self.id_field}" (set id_field)'
            raise self._unexpected(self.method, self.enqueue_url, answer, wanted)
        return str(job_id)

    def status(self, job_id: str) -> str | None:
        url = self.status_url.replace("{id}", job_id)
        answer = self._call("GET", url)
        if answer.status == 404:
            return None
        document = _json_of(answer)
        word = dotted(document, self.status_field)
        if answer.status != 200 or not isinstance(word, str):
            wanted = f'200 with the status at "{self.status_field}" (set status_field)'
            raise self._unexpected("GET", url, answer, wanted)
        self._last = document
        return word

    @property
    def document(self) -> Any:
        """The last status answer, parsed (None before the first, or when it was not JSON)."""
        return self._last

    def failure(self, job_id: str) -> str:
        """What the last status answer said besides the status (an error, a result), short."""
        if not isinstance(self._last, Mapping):
            return ""
        for key in ("error", "exc_info", "traceback", "task_result", "result", "detail"):
            value = dotted(self._last, key) or dotted(self._last, f"data.{key}")
            if value:
                text = " ".join(str(value).split())
                return text if len(text) <= 200 else text[:197] + "..."
        return ""


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class AdapterChannel:
    """A framework directly (RQ, Celery): enqueue the task by name, read its state."""

    adapter: Adapter
    task: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    queue: str
    job_timeout_s: float | None = None
    via: str = "rq"
    vocabulary: Vocabulary = FRAMEWORK_WORDS
    _states: dict[str, JobState] = field(default_factory=dict)

    def enqueue(self) -> str:
        return self.adapter.enqueue(
            self.task, self.args, self.kwargs, queue=self.queue, job_timeout_s=self.job_timeout_s
        )

    def status(self, job_id: str) -> str | None:
        state = self.adapter.job_state(job_id)
        if state is None:
            return None
        self._states[job_id] = state
        return state.state

    def failure(self, job_id: str) -> str:
        state = self._states.get(job_id)
        return state.failure if state is not None else ""


# --- following a job ---------------------------------------------------------------------------


@dataclass
class Trace:
    """A job's states as seen by polling, with when each was first seen."""

    job_id: str
    enqueued_at: float
    vocabulary: Vocabulary = FRAMEWORK_WORDS
    seen: dict[str, float] = field(default_factory=dict)
    status: str | None = "queued"  # normalised: queued, started, finished, failed, or a word
    word: str | None = "queued"  # as the channel said it

    def note(self, word: str | None) -> None:
        self.word = word
        self.status = self.vocabulary.state(word)
        if self.status is not None:
            self.seen.setdefault(self.status, time.monotonic())

    def since(self, status: str) -> float | None:
        at = self.seen.get(status)
        return None if at is None else at - self.enqueued_at

    @property
    def age(self) -> float:
        return time.monotonic() - self.enqueued_at

    @property
    def done(self) -> bool:
        return self.status in (None, "finished", "failed")

    @property
    def shown(self) -> str:
        """The state, with the channel's own word when it differs: ``failed (FAILURE)``."""
        if self.word is None or self.word == self.status:
            return str(self.status)
        return f"{self.status} ({self.word})"

    def as_details(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "word": self.word,
            "seen": {k: round(v - self.enqueued_at, 3) for k, v in self.seen.items()},
        }


def follow(
    channel: Channel,
    trace: Trace,
    ctx: KindContext,
    until: float,
    interval: float,
    give_up: Callable[[Trace], bool] | None = None,
) -> Trace:
    """Poll until the job ended (finished, failed, vanished), ``until`` (monotonic) passed, or
    ``give_up(trace)`` says waiting cannot help any more."""
    while True:
        trace.note(channel.status(trace.job_id))
        left = until - time.monotonic()
        if trace.done or left <= 0 or (give_up is not None and give_up(trace)):
            return trace
        if not ctx.sleep(min(interval, left)):
            trace.note(channel.status(trace.job_id))
            return trace


@dataclass
class NoWorkerWatch:
    """Gives up on a job still queued after ``grace_s`` while its queue has no live worker:
    waiting for the deadline cannot help. Asks the broker at most every ``every_s``."""

    adapter: Adapter
    queue: str
    grace_s: float
    every_s: float = 2.0
    _asked_at: float = 0.0
    gave_up: bool = False

    def __call__(self, trace: Trace) -> bool:
        now = time.monotonic()
        if (
            trace.status != "queued"
            or trace.age < self.grace_s
            or now - self._asked_at < self.every_s
        ):
            return False
        self._asked_at = now
        try:
            self.gave_up = not self.adapter.live_workers(self.queue)
        except CheckEnded:
            return False  # the broker did not answer: keep waiting, the deadline decides
        return self.gave_up


def workers_note(adapter: Adapter | None, queue: str | None) -> str:
    """'0 live workers on queue 'default', 1 waiting' (names when there are a few)."""
    if adapter is None or queue is None:
        return "set broker_url (or redis_url) to count the workers on the queue"
    try:
        names = adapter.live_workers(queue)
        depth = adapter.depth(queue)
    except CheckEnded as exc:
        return f"workers not counted: {exc.message}"
    count = f"{len(names)} live worker{'' if len(names) == 1 else 's'} on queue {queue!r}"
    if names and len(names) <= MAX_WORKERS_SHOWN:
        count += ": " + ", ".join(names) + ";"
    else:
        count += ","
    return f"{count} {depth} waiting"


def stuck_message(trace: Trace, deadline: float, note: str, *, gave_up: bool = False) -> str:
    head = f"job {trace.job_id} queued {trace.age:.1f}s ago"
    if trace.status is None:
        return f"{head}, then vanished (no such job any more: expired or deleted)"
    if trace.status == "failed":
        why = f": {note}" if note else ""
        after = trace.since("failed") or trace.age
        return f"job {trace.job_id} {trace.shown} {after:.1f}s after it was queued{why}"
    if trace.status == "queued":
        limit = format_duration(deadline)
        if gave_up:
            return (
                f"{head}, still {trace.shown}: no worker took it ({note}); gave up before the "
                f"{limit} deadline: with no live worker, waiting cannot help"
            )
        return f"{head}, still {trace.shown} at the {limit} deadline: no worker took it ({note})"
    started = trace.since("started")
    at = f" (started after {started:.1f}s)" if started is not None else ""
    return f"{head}, still {trace.shown} at the {format_duration(deadline)} deadline{at} ({note})"


def passed_message(trace: Trace, via: str) -> str:
    finished = trace.since("finished") or trace.age
    started = trace.since("started")
    picked = f", picked up within {started:.2f}s" if started is not None else ""
    return f"job {trace.job_id} finished in {finished:.2f}s via {via}{picked}"
