"""The RQ adapter, built on redis-py and rq: RQ's own classes name the keys, so a new RQ layout
(``rq:wip:`` replaced ``rq:started:`` in RQ 2) is followed by upgrading rq, not by editing here.

Reads are read-only: RQ's ``count`` and ``Worker.all`` clean registries as a side effect, so
counts come from the registries' keys directly (ZCOUNT, EXISTS) instead.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import redis
from rq import Queue, worker_registration
from rq.exceptions import NoSuchJobError
from rq.job import Job, parse_job_id
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from jobcheck.outcomes import CheckError
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.broker_url import parse_broker
from jobcheck.probes.redis_broker import redis_client

# The description of the jobs jobcheck enqueues itself through RQ (canaries, drills), before
# the function's name: readers of the service's own jobs (worker_limits) leave them out.
OWN_DESCRIPTION: Final = "jobcheck canary: "

# RQ's statuses, normalised; an unknown (newer) word counts as not started yet, and ``raw``
# keeps it for the message.
NORMAL: Final[dict[str, fw.State]] = {
    "created": "queued",
    "queued": "queued",
    "deferred": "queued",
    "scheduled": "queued",
    "rate_limited": "queued",
    "ready_to_enqueue": "queued",
    "started": "started",
    "finished": "finished",
    "failed": "failed",
    "stopped": "failed",
    "canceled": "failed",
}
ABANDONED: Final = "AbandonedJobError"
WORKER_KEY_PREFIX: Final = "rq:worker:"
# The job hash has no function name of its own: the description is "app.jobs.sleep(4)".
LIMIT_FIELDS: Final = ("description", "timeout", "result_ttl", "failure_ttl")
SCAN_LIMIT: Final = 1000  # keys looked at when listing scheduler locks


@dataclass(frozen=True)
class Placement:
    """Where RQ keeps a job right now: what the shutdown and hard-kill drills ask."""

    job_id: str
    status: str  # RQ's word from the job's hash; "" when the job is gone
    queued: bool  # in the queue's list, waiting
    started: bool  # in StartedJobRegistry: a worker claims to be running it
    started_expired: bool  # ... but its entry expired: the worker stopped heart-beating (killed)
    failed: bool  # in FailedJobRegistry
    abandoned: bool  # failed because RQ found it abandoned by a dead worker
    failure: str = ""

    @property
    def stuck(self) -> bool:
        """Claimed by a worker that is gone, not yet moved to the failed registry."""
        return self.started_expired and not self.failed


def _word(status: object) -> str:
    return str(status.value) if isinstance(status, Enum) else str(status or "")


class RQAdapter(fw.AdapterBase):
    framework = "rq"

    def __init__(self, url: str, *, timeout_s: float = fw.DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.broker = parse_broker(
            url,
            redis_for="rq",
            because="RQ keeps its queues in Redis; for a Celery broker set framework: celery",
        )
        self.where = self.broker.where
        self.timeout_s = timeout_s
        self._client: redis.Redis | None = None

    # --- connection --------------------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis_client(self.broker.url, self.timeout_s)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def redis_broker(self) -> redis.Redis:
        return self.client

    # --- the framework's layout ----------------------------------------------------------------

    def own_keys(self, queue: str) -> str:
        return f"RQ keys ({key_shapes.RQ_PREFIX}:queue:{queue})"

    # --- queues ------------------------------------------------------------------------------

    def depth(self, queue: str) -> int:
        self.require_own(queue)
        with self.redis_errors():
            return int(Queue(queue, connection=self.client).count)

    def failed_count(self, queue: str) -> int:
        """Entries of the failed registry not yet expired (the score is the expiry time)."""
        self.require_own(queue)
        registry = FailedJobRegistry(queue, connection=self.client)
        with self.redis_errors():
            return int(self.client.zcount(registry.key, time.time(), "+inf"))

    def live_workers(self, queue: str) -> tuple[str, ...]:
        """Workers registered on ``queue`` whose key still exists: RQ gives a worker's key a
        TTL that each heartbeat renews, so a killed worker's key lapses."""
        self.require_own(queue)
        with self.redis_errors():
            keys = sorted(
                worker_registration.get_keys(Queue(queue, connection=self.client), self.client)
            )
            if not keys:
                return ()
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.exists(key)
                alive = pipe.execute()
        return tuple(
            key.removeprefix(WORKER_KEY_PREFIX) for key, up in zip(keys, alive, strict=True) if up
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
        """Enqueue the function ``task`` (a dotted name the worker can import)."""
        if "." not in task:
            raise CheckError(
                f"RQ enqueues a function by its dotted name (e.g. app.jobs.canary), got {task!r}"
            )
        self.require_own(queue)
        timeout = max(1, round(job_timeout_s)) if job_timeout_s else None
        with self.redis_errors():
            job = Queue(queue, connection=self.client).enqueue_call(
                task,
                args=tuple(args),
                kwargs=dict(kwargs or {}),
                timeout=timeout,
                description=f"{OWN_DESCRIPTION}{task}",
            )
        return str(job.id)

    def _fetch(self, job_id: str) -> Job | None:
        with self.redis_errors():
            try:
                return Job.fetch(job_id, connection=self.client)
            except NoSuchJobError:
                return None

    def job_state(self, job_id: str) -> fw.JobState | None:
        """None when the job's hash is gone (never enqueued here, expired or deleted)."""
        job = self._fetch(job_id)
        if job is None:
            return None
        raw = _word(job.get_status(refresh=False))
        state = NORMAL.get(raw, "queued")
        failure = self._failure(job) if state == "failed" else ""
        return _state(job, state, raw, failure)

    def job_states(self, job_ids: Sequence[str]) -> list[fw.JobState | None]:
        """Many jobs' states in one round trip (failure texts: one more each, failed only)."""
        with self.redis_errors():
            jobs = Job.fetch_many(list(job_ids), connection=self.client)
        states: list[fw.JobState | None] = []
        for job in jobs:
            if job is None:
                states.append(None)
                continue
            raw = _word(job.get_status(refresh=False))
            state = NORMAL.get(raw, "queued")
            failure = self._failure(job) if state == "failed" else ""
            states.append(_state(job, state, raw, failure))
        return states

    def remove_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs jobcheck enqueued: out of the queue and every registry, hash and results
        gone (RQ's ``Job.delete``). A job running now is left to end (its worker would write
        it again); RQ expires it after its result TTL."""
        removed = 0
        with self.redis_errors():
            for job in Job.fetch_many(list(job_ids), connection=self.client):
                if job is None or _word(job.get_status(refresh=False)) == "started":
                    continue
                job.delete(remove_from_queue=True)
                removed += 1
        return removed

    def _failure(self, job: Job) -> str:
        """The last line of the failure: RQ 1.12+ keeps it in the job's results stream."""
        with self.redis_errors():
            result = job.latest_result()
        return fw.last_line(result.exc_string or "") if result is not None else ""

    def was_started(self, job_id: str) -> bool:
        job = self._fetch(job_id)
        if job is None:
            return False
        if job.started_at is not None:
            return True
        return self.placement(job_id, job.origin).started

    def placement(self, job_id: str, queue: str) -> Placement:
        """Which of ``queue``'s list and registries hold the job (RQ only: the drills ask)."""
        job = self._fetch(job_id)
        started_key = StartedJobRegistry(queue, connection=self.client).key
        failed_key = FailedJobRegistry(queue, connection=self.client).key
        with self.redis_errors():
            queued = self.client.lpos(Queue(queue, connection=self.client).key, job_id)
            claims: list[tuple[bytes, float]] = self.client.zrange(  # type: ignore[assignment]
                started_key, 0, -1, withscores=True
            )
            failed = self.client.zscore(failed_key, job_id) is not None
        scores = [score for entry, score in claims if parse_job_id(_text(entry)) == job_id]
        failure = self._failure(job) if job is not None and failed else ""
        return Placement(
            job_id=job_id,
            status=_word(job.get_status(refresh=False)) if job is not None else "",
            queued=queued is not None,
            started=bool(scores),
            started_expired=bool(scores) and max(scores) < time.time(),
            failed=failed,
            abandoned=failed and ABANDONED in failure,
            failure=failure,
        )

    # --- limits and the scheduler (worker_limits, scheduler) ------------------------------------

    def job_limits(self, queue: str, sample: int) -> list[fw.JobLimits]:
        """The limits of the ``sample`` newest jobs of ``queue``: waiting, running, finished
        and failed ones (read-only: HMGET on their hashes)."""
        self.require_own(queue)
        registries = [
            StartedJobRegistry(queue, connection=self.client).key,
            FinishedJobRegistry(queue, connection=self.client).key,
            FailedJobRegistry(queue, connection=self.client).key,
        ]
        rq_queue = Queue(queue, connection=self.client)
        # RQ 2+ moves a job being taken to an intermediate list before its started registry.
        lists = [rq_queue.key, getattr(rq_queue, "intermediate_queue_key", rq_queue.key)]
        with self.redis_errors():
            ids = [
                _text(i)
                for key in dict.fromkeys(lists)
                for i in self.client.lrange(key, 0, sample - 1)
            ]
            for key in registries:
                entries: list[bytes] = self.client.zrevrange(key, 0, sample - 1)  # type: ignore[assignment]
                ids += [parse_job_id(_text(e)) for e in entries]
            unique = list(dict.fromkeys(ids))
            with self.client.pipeline(transaction=False) as pipe:
                for job_id in unique:
                    pipe.hmget(Job.key_for(job_id), list(LIMIT_FIELDS))
                rows = pipe.execute()
        found = [
            fw.JobLimits(
                job_id,
                _text(row[0]).partition("(")[0] if row[0] is not None else "",
                _number(row[1]),
                _number(row[2]),
                _number(row[3]),
            )
            for job_id, row in zip(unique, rows, strict=True)
            if any(v is not None for v in row) and not own_job(row[0])
        ]
        return found[:sample]

    def scheduler_locks(self) -> list[fw.SchedulerLock]:
        """Every ``rq:scheduler-lock:QUEUE`` key and who holds it (RQ's built-in scheduler,
        ``rq worker --with-scheduler``: one holder per queue, renewed while it runs)."""
        prefix = RQScheduler.get_locking_key("")
        with self.redis_errors():
            keys = [_text(k) for k in self.client.scan_iter(match=prefix + "*", count=SCAN_LIMIT)][
                :SCAN_LIMIT
            ]
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                holders = [_text(h) if h is not None else "" for h in pipe.execute()]
            with self.client.pipeline(transaction=False) as pipe:
                for holder in holders:
                    pipe.hmget(SCHEDULER_KEY_TEMPLATE % holder, ["hostname", "pid"])
                rows = pipe.execute()
        found = [
            fw.SchedulerLock(
                key.removeprefix(prefix),
                holder,
                _text(row[0]) if row[0] is not None else "",
                _text(row[1]) if row[1] is not None else "",
            )
            for key, holder, row in zip(keys, holders, rows, strict=True)
            if holder
        ]
        return sorted(found, key=lambda lock: lock.queue)


def _state(job: Job, state: fw.State, raw: str, failure: str) -> fw.JobState:
    return fw.JobState(
        str(job.id),
        state,
        raw,
        failure,
        job.worker_name or "",
        enqueued_at=_epoch(job.enqueued_at),
        started_at=_epoch(job.started_at),
        ended_at=_epoch(job.ended_at),
    )


def _epoch(moment: dt.datetime | None) -> float | None:
    """RQ's timestamps are UTC, naive in older releases."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _number(value: bytes | str | None) -> float | None:
    if value is None or value in (b"", ""):
        return None
    try:
        return float(_text(value))
    except ValueError:
        return None


def own_job(description: bytes | str | None) -> bool:
    """A job jobcheck enqueued itself (a canary, a drill's job): it carries jobcheck's limits,
    not the service's, so it says nothing about what the service sets."""
    return description is not None and _text(description).startswith(OWN_DESCRIPTION)
