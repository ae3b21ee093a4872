"""The arq adapter, built on arq's own modules: its key names (``arq.constants``), ``ArqRedis``
to enqueue and ``arq.jobs.Job`` to read a job's status and result, over redis-py's asyncio
client. arq is asyncio-only; the adapter keeps one private event loop and runs each call to
completion on it, within the call's timeout, so the kinds stay synchronous.

arq's layout in Redis: the queue is a sorted set (``arq:queue``; score: when the job may run,
so a deferred job scores in the future), ``arq:job:ID`` holds the pickled call,
``arq:in-progress:ID`` marks a job a worker runs (its TTL is the longest ``job_timeout`` + 10 s;
the job stays in the sorted set until it ends), ``arq:result:ID`` its result for
``keep_result`` seconds. One worker writes ``QUEUE:health-check`` every
``health_check_interval`` (one key per queue: several workers overwrite it) and deletes it
when it stops gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import redis
from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    health_check_key_suffix,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import DeserializationError, Job, JobStatus, deserialize_job, deserialize_result
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes.broker_url import parse_broker
from jobcheck.probes.deadline import seconds
from jobcheck.probes.redis_broker import redis_client

T = TypeVar("T")

# The ids of the jobs jobcheck enqueues itself: readers of the service's jobs leave them out.
OWN_PREFIX: Final = "jobcheck-"
SCAN_LIMIT: Final = 1000  # queue entries looked at when telling running jobs from waiting ones
NORMAL: Final[dict[JobStatus, fw.State]] = {
    JobStatus.deferred: "queued",
    JobStatus.queued: "queued",
    JobStatus.in_progress: "started",
}
# arq's own words when a worker has no such function (arq/worker.py, JobExecutionFailed).
UNKNOWN_FUNCTION: Final = "not found"
# arq/worker.py: in_progress_timeout_s = (max_timeout or 0) + 10
IN_PROGRESS_EXTRA_S: Final = 10.0


@dataclass(frozen=True)
class Limits:
    """What one probe job revealed of the worker's settings (None: not seen)."""

    job_id: str
    task: str
    job_timeout: float | None  # the longest job_timeout of the worker's functions
    keep_result: float | None  # the function's keep_result (None with keep_result_forever)
    keep_forever: bool
    failure: str = ""


@dataclass(frozen=True)
class Health:
    """The worker's health-check record: ``Dec-07 05:01:02 j_complete=3 j_failed=0 ...``."""

    key: str
    text: str
    age_s: float | None  # from the timestamp the worker wrote (its local time); None: unknown
    ttl_s: float | None

    def describe(self) -> str:
        age = f"{self.age_s:.0f}s old" if self.age_s is not None else "age unknown"
        return f"health check {self.key} ({age}): {self.text}"

    @property
    def counts(self) -> dict[str, int]:
        """``j_complete``, ``j_failed``, ``j_retried``, ``j_ongoing``, ``queued`` as numbers."""
        found = {}
        for word in self.text.split():
            name, eq, value = word.partition("=")
            if eq and value.isdigit():
                found[name] = int(value)
        return found


def health_age(text: str, now: datetime | None = None) -> float | None:
    """Seconds since the ``%b-%d %H:%M:%S`` stamp at the start of a health record (the year is
    not written: this one, or last year's just after New Year); None when it cannot be read."""
    now = now or datetime.now()
    stamp = " ".join(text.split()[:2])
    try:
        seen = datetime.strptime(f"{now.year}-{stamp}", "%Y-%b-%d %H:%M:%S")
    except ValueError:
        return None
    if seen > now:
        seen = seen.replace(year=now.year - 1)
    age = (now - seen).total_seconds()
    return age if age < 86400 * 2 else None


class ArqAdapter(fw.AdapterBase):
    framework = "arq"

    def __init__(
        self,
        url: str,
        *,
        backend_url: str | None = None,  # arq keeps results in its own Redis
        timeout_s: float = fw.DEFAULT_TIMEOUT_S,
        control_timeout_s: float = fw.CONTROL_TIMEOUT_S,
    ) -> None:
        del backend_url, control_timeout_s
        super().__init__()
        self.broker = parse_broker(url, redis_for="arq", because="arq keeps its queues in Redis")
        self.where = self.broker.where
        self.timeout_s = timeout_s
        self._client: redis.Redis | None = None
        self._pool: ArqRedis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, str] = {}  # job id -> queue, for the jobs enqueued here

    # --- connections -------------------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        """A synchronous client for plain reads (sizes, TTLs, the health record)."""
        if self._client is None:
            self._client = redis_client(self.broker.url, self.timeout_s)
        return self._client

    def _run(self, call: Callable[[ArqRedis], Awaitable[T]], what: str) -> T:
        """``call(pool)`` on the adapter's loop, within twice the socket timeout."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        if self._pool is None:
            pool = ConnectionPool.from_url(
                self.broker.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 0),
            )
            self._pool = ArqRedis(pool)
        coroutine = asyncio.wait_for(call(self._pool), self.timeout_s * 2)
        with self.redis_errors():
            try:
                return self._loop.run_until_complete(coroutine)
            except TimeoutError:
                raise CheckFailed(
                    f"{self.where}: {what} did not answer within {seconds(self.timeout_s * 2)}"
                ) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._loop is not None:
            if self._pool is not None:
                pool = self._pool
                with contextlib.suppress(OSError, redis.RedisError, RuntimeError):
                    self._loop.run_until_complete(pool.aclose(close_connection_pool=True))
            self._loop.close()
        self._pool = None
        self._loop = None

    def redis_broker(self) -> redis.Redis:
        return self.client

    # --- the framework's layout ----------------------------------------------------------------

    def own_keys(self, queue: str) -> str:
        return f"arq sorted set {queue!r}"

    # --- queues ------------------------------------------------------------------------------

    def _due_ids(self, queue: str) -> tuple[int, int, list[str]]:
        """(jobs due now, deferred to later, the first due ids): the sorted set's score is the
        time in ms a job may run."""
        now_ms = time.time() * 1000
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            pipe.zcount(queue, "-inf", now_ms)
            pipe.zcount(queue, f"({now_ms}", "+inf")
            pipe.zrangebyscore(queue, "-inf", now_ms, start=0, num=SCAN_LIMIT)
            due, deferred, ids = pipe.execute()
        return int(due), int(deferred), [_text(i) for i in ids]

    def _running(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` a worker runs now (their ``arq:in-progress:`` key exists)."""
        if not ids:
            return []
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            for job_id in ids:
                pipe.exists(in_progress_key_prefix + job_id)
            flags = pipe.execute()
        return [job_id for job_id, up in zip(ids, flags, strict=True) if up]

    def depth(self, queue: str) -> int:
        """Jobs due and waiting: arq leaves a running job in the sorted set, so those with an
        in-progress key are not counted, nor deferred ones (see ``deferred``)."""
        self.require_own(queue)
        due, _deferred, ids = self._due_ids(queue)
        return due - len(self._running(ids))

    def deferred(self, queue: str) -> int:
        self.require_own(queue)
        return self._due_ids(queue)[1]

    def health(self, queue: str) -> Health | None:
        key = queue + health_check_key_suffix
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            value, ttl = pipe.execute()
        if value is None:
            return None
        text = _text(value)
        return Health(key, text, health_age(text), ttl / 1000 if ttl and ttl > 0 else None)

    def live_workers(self, queue: str) -> tuple[str, ...]:
        """arq has no worker registry: a live worker is told by the queue's health-check key,
        which a worker renews every ``health_check_interval`` and deletes on a graceful stop.
        One key per queue, so this is at most one entry, whatever the number of workers."""
        self.require_own(queue)
        found = self.health(queue)
        return (found.describe(),) if found is not None else ()

    def failed_count(self, queue: str) -> None:
        """arq keeps no failed-job list: a failed job's result (``success: false``) lives as
        long as ``keep_result``."""
        return None

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
        """Enqueue the function named ``task`` (its name in the worker's ``functions``). arq
        has no per-job timeout: the function's or the worker's ``job_timeout`` applies."""
        del job_timeout_s
        self.require_own(queue)
        job_id = f"{OWN_PREFIX}{uuid.uuid4().hex}"
        call_kwargs = dict(kwargs or {})

        async def put(pool: ArqRedis) -> Job | None:
            return await pool.enqueue_job(
                task, *args, _job_id=job_id, _queue_name=queue, **call_kwargs
            )

        if self._run(put, "enqueue") is None:
            raise CheckError(f"arq refused job id {job_id}: a job with this id already exists")
        self._queues[job_id] = queue
        return job_id

    def _queue_of(self, job_id: str) -> str:
        return self._queues.get(job_id, default_queue_name)

    def job_state(self, job_id: str) -> fw.JobState | None:
        """arq's status (deferred, queued, in_progress, complete, not_found); a complete job is
        finished or failed by its result's ``success``. None: not found (never enqueued, or
        its result expired: ``keep_result``)."""
        job_queue = self._queue_of(job_id)

        async def read(pool: ArqRedis) -> tuple[JobStatus, Any]:
            job = Job(job_id, pool, _queue_name=job_queue)
            status = await job.status()
            result = await job.result_info() if status == JobStatus.complete else None
            return status, result

        status, result = self._run(read, "job status")
        if status == JobStatus.not_found:
            return None
        if status != JobStatus.complete:
            return fw.JobState(job_id, NORMAL.get(status, "queued"), status.value)
        if result is None:  # the result expired between the two reads
            return fw.JobState(job_id, "finished", status.value)
        if result.success:
            return fw.JobState(job_id, "finished", status.value)
        failure = fw.last_line(repr(result.result))
        if UNKNOWN_FUNCTION in failure and "function" in failure:
            raise CheckError(
                f"arq's worker has no such function: {failure} (task {result.function!r}): set "
                "task to a name in the worker's WorkerSettings.functions"
            )
        return fw.JobState(job_id, "failed", "complete, success false", failure)

    def was_started(self, job_id: str) -> bool:
        state = self.job_state(job_id)
        if state is None:
            return False
        return state.state != "queued" or self._tries(job_id) > 1

    def _tries(self, job_id: str) -> int:
        """How many times a worker took the job (arq's ``arq:retry:ID`` counter), 0 if none."""
        with self.redis_errors():
            value = self.client.get(retry_key_prefix + job_id)
        return int(_text(value)) if value is not None else 0

    def whereabouts(self, job_id: str, queue: str) -> tuple[str, bool]:
        """After its worker was killed: (where the job is, in arq's words; gone for good)."""
        key = in_progress_key_prefix + job_id
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            pipe.zscore(queue, job_id)
            pipe.pttl(key)
            pipe.exists(job_key_prefix + job_id, result_key_prefix + job_id)
            score, ttl, records = pipe.execute()
        if score is not None and ttl is not None and ttl > 0:
            return (
                f"still marked running ({key} expires in {ttl / 1000:.0f}s): arq runs it again "
                "once that key expires, the worker's job_timeout + 10s after it started",
                False,
            )
        if score is not None:
            return "waiting in arq's queue again (it is run again)", False
        if records:
            return "out of the queue, its job or result record still there", False
        return "gone: not in arq's queue, no job and no result record", True

    def cron_runs(self) -> list[CronRun]:
        with self.redis_errors():
            return cron_runs_in(self.client)

    # --- limits (worker_limits) ----------------------------------------------------------------

    def probe_limits(
        self,
        task: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        queue: str,
        deadline_s: float,
        interval_s: float = 0.1,
    ) -> Limits:
        """Run ``task`` once and read the limits arq put on it: the in-progress key's TTL at
        the start is the longest ``job_timeout`` of the worker's functions + 10 s, the result's
        TTL at the end the function's ``keep_result``. Fields the job did not reveal (it ended
        between two polls, its result is not kept) stay None."""
        job_id = self.enqueue(task, args, kwargs, queue=queue)
        until = time.monotonic() + deadline_s
        in_progress: float | None = None
        state: fw.JobState | None = None
        while time.monotonic() < until:
            with self.redis_errors():
                ttl = self.client.pttl(in_progress_key_prefix + job_id)
            if in_progress is None and ttl and ttl > 0:
                in_progress = ttl / 1000
            state = self.job_state(job_id)
            if state is not None and state.ended:
                break
            time.sleep(interval_s)
        else:
            raise CheckFailed(
                f"arq job {job_id} ({task}) did not end within {seconds(deadline_s)} "
                f"(last seen {state.raw if state else 'gone'}): no worker ran it"
            )
        with self.redis_errors():
            kept = self.client.pttl(result_key_prefix + job_id)
        keep: float | None = kept / 1000 if kept and kept > 0 else None
        forever = kept == -1
        timeout = round(in_progress - IN_PROGRESS_EXTRA_S) if in_progress is not None else None
        return Limits(job_id, task, timeout, keep, forever, state.failure if state else "")

    def job_records(self, queue: str, sample: int) -> list[tuple[str, str, int]]:
        """(job id, function, job_try) of up to ``sample`` waiting or running jobs of the
        service (jobcheck's own left out)."""
        self.require_own(queue)
        with self.redis_errors():
            entries: list[bytes] = self.client.zrange(queue, 0, sample * 2)  # type: ignore[assignment]
            ids = [_text(i) for i in entries]
            ids = [i for i in ids if not i.startswith(OWN_PREFIX)][:sample]
            with self.client.pipeline(False) as pipe:
                for job_id in ids:
                    pipe.get(job_key_prefix + job_id)
                raw = pipe.execute()
        found = []
        for job_id, value in zip(ids, raw, strict=True):
            if value is None:
                continue
            job = deserialize_job(value)
            found.append((job_id, job.function, job.job_try))
        return found

    def running_ttls(self, queue: str) -> list[tuple[str, float]]:
        """(job id, seconds left) of the in-progress keys of the queue's running jobs: arq sets
        each to the longest function timeout + 10 s when the job starts."""
        _due, _deferred, ids = self._due_ids(queue)
        running = self._running(ids)
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            for job_id in running:
                pipe.pttl(in_progress_key_prefix + job_id)
            ttls = pipe.execute()
        return [(j, t / 1000) for j, t in zip(running, ttls, strict=True) if t and t > 0]

    def result_ttls(self, sample: int) -> list[tuple[str, float | None]]:
        """(job id, seconds left) of up to ``sample`` stored results of the service's jobs;
        None: kept forever (``keep_result_forever``)."""
        with self.redis_errors():
            keys = []
            for key in self.client.scan_iter(match=result_key_prefix + "*", count=SCAN_LIMIT):
                name = _text(key)
                if not name.removeprefix(result_key_prefix).startswith(OWN_PREFIX):
                    keys.append(name)
                if len(keys) >= sample:
                    break
            with self.client.pipeline(False) as pipe:
                for key in keys:
                    pipe.pttl(key)
                ttls = pipe.execute()
        return [
            (k.removeprefix(result_key_prefix), t / 1000 if t and t > 0 else None)
            for k, t in zip(keys, ttls, strict=True)
        ]


@dataclass(frozen=True)
class CronRun:
    """One kept result of a cron job: arq names cron functions ``cron:NAME``."""

    function: str
    job_id: str
    enqueued: datetime


def cron_runs_in(client: redis.Redis, limit: int = SCAN_LIMIT) -> list[CronRun]:
    """The cron jobs' results kept in Redis (``keep_result``), oldest first; at most ``limit``
    result keys are read."""
    keys = []
    for key in client.scan_iter(match=result_key_prefix + "*", count=SCAN_LIMIT):
        keys.append(_text(key))
        if len(keys) >= limit:
            break
    with client.pipeline(False) as pipe:
        for key in keys:
            pipe.get(key)
        values = pipe.execute()
    runs = []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        try:
            result = deserialize_result(value)
        except DeserializationError:
            continue
        if result.function.startswith("cron:"):
            job_id = key.removeprefix(result_key_prefix)
            runs.append(CronRun(result.function, job_id, result.enqueue_time))
    return sorted(runs, key=lambda run: run.enqueued)


def duplicates(runs: Sequence[CronRun], window_s: float = 1.0) -> list[list[CronRun]]:
    """Runs of the same cron job enqueued within ``window_s`` of each other: one tick run
    more than once (several workers each enqueue it when ``unique=False``)."""
    groups: list[list[CronRun]] = []
    for run in runs:
        group = next(
            (
                g
                for g in groups
                if g[0].function == run.function
                and abs((run.enqueued - g[0].enqueued).total_seconds()) <= window_s
            ),
            None,
        )
        if group is None:
            groups.append([run])
        else:
            group.append(run)
    return [g for g in groups if len(g) > 1]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
