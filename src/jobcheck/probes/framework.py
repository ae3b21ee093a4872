"""Framework adapters: one interface over RQ, Celery, arq and Dramatiq for the
``queue``, ``job`` and ``shutdown`` kinds.

A kind never reads a framework's keys itself: it asks an ``Adapter`` built by
``adapter_for(framework, url, backend_url=..., timeout_s=...)``. The interface:

- ``enqueue(task, args, kwargs, *, queue)`` -> the job id. ``task`` is RQ's dotted function
  name or Celery's registered task name.
- ``job_state(job_id)`` -> ``JobState`` (queued/started/finished/failed, the framework's own
  word, the failure text), or None when the framework says no such job exists.
- ``was_started(job_id)`` -> a worker picked the job up (now or earlier).
- ``depth(queue)`` -> messages waiting, every priority included.
- ``live_workers(queue)`` -> names of the live workers that consume ``queue``.
- ``failed_count(queue)`` -> RQ's failed registry; None where the framework has no such list.
- ``maxmemory_policy()`` -> Redis's eviction policy; None when the broker is not Redis.
- ``broker_persistence()`` -> Redis's appendonly/save as ``Persistence``; None likewise.
- ``framework_mismatch(queue)`` -> "" or a sentence: the queue looks like another framework's.
- ``close()``; adapters are also context managers.

Contract for every adapter, and for a new one (``dramatiq_adapter.py``, ``arq_adapter.py``):

- It subclasses ``AdapterBase``, which writes once what every adapter does alike (context
  manager, ``require_own`` for the mismatch refusal, ``framework_mismatch`` and the Redis
  settings from ``redis_broker()``, ``redis_errors()``); its URL goes through
  ``broker_url.parse_broker``; a Redis broker's client, errors and settings come from
  ``redis_broker.py``.
- Its module imports its library at the top; ``adapter_for`` imports the module lazily and
  turns a missing library into ``CheckError`` naming the extra to install. Add a line to
  ``_ADAPTERS`` and an extra in pyproject.toml.
- The service under test being unreachable (refused, timed out) raises ``CheckFailed`` with one
  line saying where it tried (``Redis at 127.0.0.1:6379/0``), never the password. A setup
  problem (password rejected, unknown task, wrong framework, missing package) raises
  ``CheckError``. No live worker to take a canary raises ``NoLiveWorkers`` (a ``CheckFailed``:
  a caller that wants another verdict catches it).
- Queue readings never answer silently wrong: a queue that looks like another framework's makes
  ``depth``, ``live_workers``, ``failed_count`` and ``enqueue`` raise ``CheckError`` with the
  ``framework_mismatch`` sentence ("... set framework: celery").
- Every call is bounded: socket timeouts of ``timeout_s``, no library retry loops, broadcasts of
  ``control_timeout_s``; where a library may still loop, ``deadline.bounded`` puts a hard
  deadline on it.
- Readings are small frozen dataclasses; normalised states are the four of ``STATES``.

This module imports no framework or Redis library at import time: kinds import it on every run.
Beside it: ``broker_url.py`` (URLs: parsing, masking), ``redis_broker.py`` (Redis shared by the
Redis-backed adapters), ``deadline.py`` (hard deadlines, durations in messages).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import key_shapes
from jobcheck.probes.redis_broker import Persistence, redis_config, redis_errors, redis_persistence

if TYPE_CHECKING:
    import redis

State = Literal["queued", "started", "finished", "failed"]
STATES: Final = ("queued", "started", "finished", "failed")
FRAMEWORKS: Final = ("rq", "celery", "arq", "dramatiq")
DEFAULT_QUEUE: Final = {
    "rq": "default",
    "celery": "celery",
    "arq": "arq:queue",
    "dramatiq": "default",
}
DEFAULT_TIMEOUT_S: Final = 5.0
# Celery's control commands are broadcasts that wait the whole timeout for replies: one second
# is what `celery inspect` uses and keeps a poll loop responsive.
CONTROL_TIMEOUT_S: Final = 1.0


@dataclass(frozen=True)
class JobState:
    """A job as the framework sees it: ``state`` normalised, ``raw`` in the framework's word."""

    job_id: str
    state: State
    raw: str
    failure: str = ""  # the last line of the error, for failed jobs
    worker: str = ""  # the worker running (or that ran) it, where the framework tells
    # The framework's own clock (epoch seconds), where it keeps one: RQ stamps all three in the
    # job's hash; Celery's result backend keeps only ``date_done``. None: not kept, or not yet.
    # Readings, not identity: two states of a job compare equal whatever their clocks say.
    enqueued_at: float | None = field(default=None, compare=False)
    started_at: float | None = field(default=None, compare=False)
    ended_at: float | None = field(default=None, compare=False)

    @property
    def ended(self) -> bool:
        return self.state in ("finished", "failed")


@dataclass(frozen=True)
class WorkerLimits:
    """One Celery worker's limits, as it reports them (``inspect conf`` and ``stats``).
    None: not set (no limit). Memory in KiB, as Celery counts it."""

    worker: str
    time_limit: float | None
    soft_time_limit: float | None
    max_tasks_per_child: int | None
    max_memory_per_child: int | None
    prefetch_multiplier: int | None
    concurrency: int | None
    prefetch_count: int | None = None


@dataclass(frozen=True)
class JobLimits:
    """The limits one RQ job carries in its hash: RQ keeps no worker-wide time limit, each job
    holds its own ``timeout`` (the enqueuer's, else the queue's default, 180 s). None: the field
    is absent (the worker's default applies); a timeout of -1 means no limit at all."""

    job_id: str
    function: str
    timeout: float | None
    result_ttl: float | None
    failure_ttl: float | None


@dataclass(frozen=True)
class SchedulerLock:
    """RQ's scheduler lock on one queue (``rq:scheduler-lock:QUEUE``) and its holder's
    registration (``rq:scheduler:NAME``: hostname, pid), when it is still there."""

    queue: str
    holder: str
    hostname: str = ""
    pid: str = ""


@dataclass(frozen=True)
class QueueReading:
    """What the ``queue`` kind judges, read in one go."""

    queue: str
    depth: int
    failed: int | None
    workers: tuple[str, ...]
    policy: str | None = None


class NoLiveWorkers(CheckFailed):
    """No live worker consumes the queue, so a canary would only wait. A failure by default;
    ``queue`` and ``alive`` (workers seen on other queues) let a caller say more."""

    def __init__(self, message: str, *, queue: str, alive: Sequence[str] = ()) -> None:
        super().__init__(message, details={"queue": queue, "alive": list(alive)})
        self.queue = queue
        self.alive = tuple(alive)


class Adapter(Protocol):
    framework: str
    where: str  # "Redis at 127.0.0.1:6379/0": for messages, never with a password

    def enqueue(
        self,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        queue: str,
        job_timeout_s: float | None = None,
    ) -> str: ...

    def job_state(self, job_id: str) -> JobState | None: ...

    def was_started(self, job_id: str) -> bool: ...

    def depth(self, queue: str) -> int: ...

    def live_workers(self, queue: str) -> tuple[str, ...]: ...

    def failed_count(self, queue: str) -> int | None: ...

    def maxmemory_policy(self) -> str | None: ...

    def broker_persistence(self) -> Persistence | None: ...

    def framework_mismatch(self, queue: str) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class AdapterBase:
    """What every adapter does alike, written once: it is a context manager that closes it;
    it refuses to read (or fill) a queue that looks like another framework's, asking once per
    queue; and on a Redis broker it reads the eviction policy and persistence settings. An
    adapter gives ``framework``, ``where``, ``timeout_s``, ``close``, ``redis_broker`` (its
    broker's client, None when the broker is not Redis) and ``own_keys`` (what its framework
    would have written for a queue, for the mismatch sentence)."""

    framework: str
    where: str
    timeout_s: float

    def __init__(self) -> None:
        self._own_queues: set[str] = set()

    def close(self) -> None:
        raise NotImplementedError

    def redis_broker(self) -> redis.Redis | None:
        raise NotImplementedError

    def own_keys(self, queue: str) -> str:
        return ""  # key_shapes.mismatch's default: "NAME keys"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def redis_errors(self) -> AbstractContextManager[None]:
        """redis-py's exceptions on the broker as the check's (``redis_errors``)."""
        return redis_errors(self.where, self.timeout_s)

    def framework_mismatch(self, queue: str) -> str:
        """'' or which framework's keys ``queue`` shows instead ('' off Redis, where nothing
        is left to tell by keys)."""
        client = self.redis_broker()
        if client is None:
            return ""
        with self.redis_errors():
            return key_shapes.mismatch(
                client, queue, self.framework, self.where, self.own_keys(queue)
            )

    def require_own(self, queue: str) -> None:
        """No silent wrong answer: CheckError when ``queue`` looks like another framework's."""
        if queue in self._own_queues:
            return
        mismatch = self.framework_mismatch(queue)
        if mismatch:
            raise CheckError(mismatch)
        self._own_queues.add(queue)

    def maxmemory_policy(self) -> str | None:
        client = self.redis_broker()
        if client is None:
            return None
        with self.redis_errors():
            return redis_config(client, "maxmemory-policy")

    def broker_persistence(self) -> Persistence | None:
        client = self.redis_broker()
        if client is None:
            return None
        with self.redis_errors():
            return redis_persistence(client)


# framework -> (adapter module, its class, the libraries it needs, the extra that installs them)
_ADAPTERS: Final = {
    "rq": ("jobcheck.probes.rq_adapter", "RQAdapter", ("redis", "rq"), "rq"),
    "celery": ("jobcheck.probes.celery_adapter", "CeleryAdapter", ("celery", "kombu"), "celery"),
    "arq": ("jobcheck.probes.arq_adapter", "ArqAdapter", ("arq", "redis"), "arq"),
    "dramatiq": (
        "jobcheck.probes.dramatiq_adapter",
        "DramatiqAdapter",
        ("dramatiq", "redis", "pika"),
        "dramatiq",
    ),
}


def adapter_for(
    framework: str,
    url: str,
    *,
    backend_url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    control_timeout_s: float = CONTROL_TIMEOUT_S,
) -> Adapter:
    """The adapter for ``framework`` on the broker at ``url``; it connects on first use.

    ``backend_url`` is Celery's result backend (needed to follow a job); RQ ignores it.
    """
    if framework not in _ADAPTERS:
        raise CheckError(f"unknown framework {framework!r}: expected one of {', '.join(_ADAPTERS)}")
    module_name, class_name, libraries, extra = _ADAPTERS[framework]
    module = _import_adapter(framework, module_name, libraries, extra)
    factory: Callable[..., Adapter] = getattr(module, class_name)
    if framework == "rq":
        return factory(url, timeout_s=timeout_s)
    return factory(
        url, backend_url=backend_url, timeout_s=timeout_s, control_timeout_s=control_timeout_s
    )


def _import_adapter(
    framework: str, module_name: str, libraries: tuple[str, ...], extra: str
) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in libraries:
            raise
        raise CheckError(
            f"framework: {framework} needs the {missing} package on this host "
            f"(import failed: {exc}): pip install 'jobcheck[{extra}]'"
        ) from None


def read_queue(adapter: Adapter, queue: str, *, policy: bool = False) -> QueueReading:
    """Depth, failed count and live workers of ``queue`` (and the eviction policy if asked);
    ``CheckError`` when the queue looks like another framework's."""
    mismatch = adapter.framework_mismatch(queue)
    if mismatch:
        raise CheckError(mismatch)
    return QueueReading(
        queue=queue,
        depth=adapter.depth(queue),
        failed=adapter.failed_count(queue),
        workers=adapter.live_workers(queue),
        policy=adapter.maxmemory_policy() if policy else None,
    )


def job_states(adapter: Adapter, job_ids: Sequence[str]) -> list[JobState | None]:
    """The states of many jobs: in one round trip where the adapter offers ``job_states``
    (an optional batch method), else one ``job_state`` each."""
    batch: Callable[[Sequence[str]], list[JobState | None]] | None = getattr(
        adapter, "job_states", None
    )
    if batch is not None:
        return batch(job_ids)
    return [adapter.job_state(job_id) for job_id in job_ids]


def enqueue_known(
    adapter: Adapter,
    task: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    queue: str,
    job_timeout_s: float | None = None,
) -> str:
    """Enqueue once more a task ``enqueue`` already accepted on this adapter (a load's later
    jobs): the adapter's optional ``send(task, args, kwargs, *, queue, time_limit_s)`` publishes
    without asking the workers again (Celery's asking is two broadcasts of a second each);
    without it, ``enqueue``."""
    send: Callable[..., str] | None = getattr(adapter, "send", None)
    if send is None:
        return adapter.enqueue(task, args, kwargs, queue=queue, job_timeout_s=job_timeout_s)
    return send(task, args, kwargs, queue=queue, time_limit_s=job_timeout_s)


def remove_jobs(adapter: Adapter, job_ids: Sequence[str]) -> int | None:
    """Remove jobs jobcheck enqueued (queued ones leave the queue, ended ones their results):
    how many were removed, or None when the adapter cannot remove jobs (an optional
    ``remove_jobs`` method)."""
    remove: Callable[[Sequence[str]], int] | None = getattr(adapter, "remove_jobs", None)
    return None if remove is None else remove(job_ids)


def last_line(text: str) -> str:
    """The last non-blank line of a traceback: the exception and its message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
