"""The Celery adapter, built on celery and kombu (and redis-py for a Redis broker's own
settings): no hand-written protocol. This module holds the queues and the jobs; the workers'
side (control broadcasts) is ``celery_workers.py``, the connection (the app, deadlines, errors)
``celery_client.py``.

- Depth on Redis counts the queue's list and its priority lists (see ``key_shapes.KOMBU_SEP``);
  on AMQP it is the message count of a passive ``queue_declare``.
- Live workers answer a control ``ping``; ``inspect active_queues`` keeps those consuming the
  queue (``celery_workers.CeleryWorkers``).
- A job's state comes from the result backend. With ``task_track_started`` off (Celery's
  default) a running task stays PENDING there, so a PENDING task found among a worker's
  ``inspect active`` tasks is ``started``. A task with ``ignore_result`` stays PENDING forever.
- ``enqueue`` first asks the workers on the queue which tasks they registered, so a typo is an
  error at once rather than a canary that waits until its deadline.

Every call runs under ``deadline.bounded``: kombu retries connections in loops of its own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from celery.result import AsyncResult  # type: ignore[import-untyped]
from kombu.exceptions import ChannelError, ContentDisallowed

from jobcheck.outcomes import CheckError
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.celery_client import CeleryClient, connection
from jobcheck.probes.celery_workers import CeleryWorkers

# Celery's states, normalised. PENDING also means "unknown id": Celery cannot tell them apart.
NORMAL: Final[dict[str, fw.State]] = {
    "PENDING": "queued",
    "RECEIVED": "queued",
    "RETRY": "queued",
    "STARTED": "started",
    "SUCCESS": "finished",
    "FAILURE": "failed",
    "REVOKED": "failed",
    "REJECTED": "failed",
}
NOT_YET_RUN: Final = ("PENDING", "RECEIVED")
SHOWN_TASKS: Final = 20
# kombu's Redis transport keeps delivered, unacknowledged messages in this hash.
UNACKED_KEY: Final = "unacked"
BROKER_SCAN: Final = 1000  # messages read per list when looking for one task


class CeleryAdapter(fw.AdapterBase):
    framework = "celery"

    def __init__(
        self,
        url: str,
        *,
        backend_url: str | None = None,
        timeout_s: float = fw.DEFAULT_TIMEOUT_S,
        control_timeout_s: float = fw.CONTROL_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self.client = CeleryClient(
            url, backend_url, timeout_s=timeout_s, control_timeout_s=control_timeout_s
        )
        self.workers = CeleryWorkers(self.client)
        # The client's, named here for the queue and job methods below.
        self.broker = self.client.broker
        self.backend = self.client.backend
        self.where = self.client.where
        self.timeout_s = timeout_s
        self.app = self.client.app

    def close(self) -> None:
        self.client.close()

    # --- the framework's layout ----------------------------------------------------------------

    def redis_broker(self) -> Any:
        """The broker's Redis client once it answered; None on AMQP (RQ lives in Redis only:
        an AMQP queue cannot be RQ's)."""
        if not self.broker.is_redis:
            return None
        self.client.reach(self.broker)
        return self.client.redis

    def own_keys(self, queue: str) -> str:
        return "Celery list or binding"

    # --- queues ------------------------------------------------------------------------------

    def depth(self, queue: str) -> int:
        self.require_own(queue)
        self.client.reach(self.broker)
        if self.broker.is_redis:
            with self.redis_errors():
                return sum(key_shapes.kombu_depths(self.client.redis, queue).values())
        return self.client.call("counting messages", lambda: self._amqp_depth(queue))

    def _amqp_depth(self, queue: str) -> int:
        with connection(self.broker.url, self.timeout_s) as conn:
            channel = conn.channel()
            try:
                declared = channel.queue_declare(queue=queue, passive=True)
            except ChannelError:
                return 0  # no such queue: nothing declared it, nothing waits in it
            return int(declared.message_count)

    def failed_count(self, queue: str) -> int | None:
        """Celery keeps no failed list: failures live in the result backend, per task."""
        return None

    def live_workers(self, queue: str) -> tuple[str, ...]:
        self.require_own(queue)
        return self.workers.consumers(queue)[0]

    def worker_limits(self, queue: str) -> list[fw.WorkerLimits]:
        """Each live worker on ``queue``: its limits (``CeleryWorkers.limits``)."""
        self.require_own(queue)
        return self.workers.limits(queue)

    def delivery(self, queue: str) -> tuple[bool | None, str]:
        """(is ``queue`` declared durable by the workers, their task_default_delivery_mode):
        does a waiting task survive a RabbitMQ restart? (``CeleryWorkers.delivery``)"""
        return self.workers.delivery(queue)

    def broker_holds(self, job_id: str, queue: str) -> tuple[int, int] | None:
        """(messages of ``job_id`` waiting in ``queue``, delivered but unacknowledged) on a
        Redis broker: is a task that no worker runs still somewhere? None on AMQP, where
        unacknowledged messages cannot be listed from outside."""
        if not self.broker.is_redis:
            return None
        self.client.reach(self.broker)
        with self.redis_errors():
            waiting = [
                raw
                for key in key_shapes.kombu_queue_keys(queue)
                for raw in self.client.redis.lrange(key, 0, BROKER_SCAN - 1)
            ]
            unacked = list(self.client.redis.hvals(UNACKED_KEY))[:BROKER_SCAN]
        return (
            sum(_message_id(raw) == job_id for raw in waiting),
            sum(_message_id(raw, delivered=True) == job_id for raw in unacked),
        )

    # --- jobs --------------------------------------------------------------------------------

    def enqueue(
        self,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        queue: str,
        job_timeout_s: float | None = None,
    ) -> str:
        """Send ``task`` once a live worker on ``queue`` is known to have registered it."""
        self.require_own(queue)
        known = self.workers.registered(self.workers.consuming(queue))
        if task not in known:
            shown = ", ".join(known[:SHOWN_TASKS]) or "none"
            more = f" and {len(known) - SHOWN_TASKS} more" if len(known) > SHOWN_TASKS else ""
            raise CheckError(
                f"no worker on queue {queue!r} knows task {task!r} (registered: {shown}{more})"
            )
        return self.send(task, args, kwargs, queue=queue, time_limit_s=job_timeout_s)

    def send(
        self,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        queue: str,
        priority: int | None = None,
        time_limit_s: float | None = None,
        delivery_mode: str | None = None,
    ) -> str:
        """Publish without asking the workers first (``enqueue`` asks): the job id.
        ``delivery_mode`` (persistent, transient): as the application sends its tasks."""
        self.client.reach(self.broker)
        options: dict[str, Any] = {"queue": queue}
        if priority is not None:
            options["priority"] = priority
        if delivery_mode:
            options["delivery_mode"] = delivery_mode
        if time_limit_s:
            options["time_limit"] = time_limit_s
        result = self.client.call(
            "sending a task",
            lambda: self.app.send_task(task, args=list(args), kwargs=dict(kwargs or {}), **options),
        )
        return str(result.id)

    def job_state(self, job_id: str) -> fw.JobState:
        """Never None: Celery reports an unknown id as PENDING, like a job not yet taken."""
        raw, failure = self._backend_state(job_id)
        if raw in NOT_YET_RUN:
            worker = self.workers.running_on(job_id)
            return fw.JobState(job_id, "started" if worker else "queued", raw, "", worker)
        # A custom state (a task's own update_state, e.g. PROGRESS) is reported while it runs.
        return fw.JobState(job_id, NORMAL.get(raw, "started"), raw, failure)

    def job_states(self, job_ids: Sequence[str]) -> list[fw.JobState | None]:
        """Many jobs' states from the result backend alone, with its ``date_done`` as the end:
        unlike ``job_state`` it asks no worker which tasks run (a broadcast per job), so a
        PENDING job counts as queued until it ends (STARTED when the app tracks it)."""
        if self.backend is None:
            self._backend_state("")  # the same error: a backend is needed to follow jobs
        assert self.backend is not None
        self.client.reach(self.backend)
        backend = self.backend

        def read() -> list[fw.JobState | None]:
            states: list[fw.JobState | None] = []
            for job_id in job_ids:
                result = AsyncResult(job_id, app=self.app)
                raw, failure = _state_of(result)
                state = "queued" if raw in NOT_YET_RUN else NORMAL.get(raw, "started")
                ended = _epoch(result.date_done) if state in ("finished", "failed") else None
                states.append(fw.JobState(job_id, state, raw, failure, ended_at=ended))
            return states

        return self.client.call("reading jobs' states", read, backend.where)

    def remove_jobs(self, job_ids: Sequence[str]) -> int:
        """Revoke the jobs not yet ended (a worker drops them, and writes REVOKED: remove them
        again once it did) and forget every result: nothing of jobcheck's stays in the result
        backend. Revoking an ended job would only make a worker write REVOKED after the
        forget."""
        backend = self.backend

        def remove() -> int:
            results = [AsyncResult(job_id, app=self.app) for job_id in job_ids]
            unfinished = [r.id for r in results if backend is None or not r.ready()]
            if unfinished:
                self.app.control.revoke(unfinished)
            if backend is not None:
                for result in results:
                    result.forget()
            return len(job_ids)

        return self.client.call("removing jobs", remove, backend.where if backend else None)

    def was_started(self, job_id: str) -> bool:
        raw = self._backend_state(job_id)[0] if self.backend is not None else "PENDING"
        if raw not in (*NOT_YET_RUN, "REVOKED", "REJECTED"):
            return True
        return bool(self.workers.running_on(job_id))

    def _backend_state(self, job_id: str) -> tuple[str, str]:
        """(Celery's state, the failure's last line) from the result backend."""
        if self.backend is None:
            raise CheckError(
                "following a Celery job needs its result backend: set backend_url to the "
                "app's result_backend (e.g. redis://:PASSWORD@127.0.0.1:6379/1)"
            )
        self.client.reach(self.backend)
        result = AsyncResult(job_id, app=self.app)
        try:
            state, failure = self.client.call(
                "reading a job's state", lambda: _state_of(result), self.backend.where
            )
        except ContentDisallowed as exc:
            raise CheckError(
                f"job {job_id}'s result on {self.backend.where} is not JSON ({exc}): jobcheck "
                "reads results only as JSON; set the app's result_serializer to json"
            ) from None
        return state, failure


def _message_id(raw: bytes | str, *, delivered: bool = False) -> str:
    """The task id of one kombu message on Redis ('' when it is not a Celery task message).
    An unacked entry is ``[message, exchange, routing_key]``."""
    try:
        message = json.loads(raw)
        if delivered:
            message = message[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _state_of(result: Any) -> tuple[str, str]:
    state = str(result.state)
    if state != "FAILURE":
        return state, "revoked" if state == "REVOKED" else ""
    text = fw.last_line(str(result.traceback or ""))
    if not text:
        error = result.result
        text = f"{type(error).__name__}: {error}"
    return state, text


def _epoch(moment: Any) -> float | None:
    """The backend's ``date_done`` (a datetime, UTC when naive; a string in old backends)."""
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            return None
    if not isinstance(moment, dt.datetime):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
