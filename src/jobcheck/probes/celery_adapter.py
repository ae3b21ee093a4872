"""The Celery adapter, built on celery and kombu (and redis-py for a Redis broker's own
settings): no hand-written protocol.

- Depth on Redis counts the queue's list and its priority lists (see ``key_shapes.KOMBU_SEP``);
  on AMQP it is the message count of a passive ``queue_declare``.
- Live workers answer a control ``ping``; ``inspect active_queues`` keeps those consuming the
  queue. A worker running the ``solo`` pool cannot answer while it runs a task, so a busy solo
  worker is not counted: run production workers with prefork or threads.
- A job's state comes from the result backend. With ``task_track_started`` off (Celery's
  default) a running task stays PENDING there, so a PENDING task found among a worker's
  ``inspect active`` tasks is ``started``. A task with ``ignore_result`` stays PENDING forever.
- ``enqueue`` first asks the workers on the queue which tasks they registered, so a typo is an
  error at once rather than a canary that waits until its deadline.

Every call runs under ``framework.bounded``: kombu retries connections in loops of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

from celery import Celery  # type: ignore[import-untyped]
from celery.result import AsyncResult  # type: ignore[import-untyped]
from kombu.connection import Connection
from kombu.exceptions import ChannelError, ContentDisallowed, OperationalError

from jobcheck.outcomes import CheckEnded, CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.broker_url import BrokerURL

T = TypeVar("T")

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
PASSWORD_WORDS: Final = ("AccessRefused", "AuthenticationError", "WRONGPASS", "NOAUTH")


# Celery's control broadcasts (ping, inspect) from two threads of one process at once got no
# replies at all (kombu 5 on Redis: both timed out while one alone answers in about a second),
# and the runner runs checks in threads: so one broadcast at a time per process.
_BROADCAST = threading.Lock()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def broker_trouble(
    where: str, exc: BaseException, timeout_s: float, secrets: Sequence[str] = ()
) -> CheckEnded:
    """A kombu/amqp/redis exception as the check's: credentials refused is an error; refused,
    timed out or dropped is a failure (the service under test is down). ``secrets`` never
    reach the message, whatever a library put in its exception's text."""
    chain = list(_chain(exc))
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    words = " ".join(f"{type(e).__name__} {e}" for e in chain)
    if any(word in words for word in PASSWORD_WORDS):
        return CheckError(f"{where} rejected the credentials: {text}")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in words.lower():
        return CheckFailed(f"{where} refused the connection")
    if any(isinstance(e, TimeoutError | socket.timeout) for e in chain):
        return CheckFailed(f"{where} did not answer within {fw.seconds(timeout_s)}")
    return CheckFailed(f"{where} is unreachable: {text}")


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What the libraries raise when the broker or backend is unreachable or refuses us; any
    other exception is a bug to show as one, not "the service is down"."""
    errors: list[type[BaseException]] = [OperationalError, OSError]
    with contextlib.suppress(ImportError):  # amqp comes with kombu; redis with the extra
        import amqp.exceptions  # type: ignore[import-untyped]

        errors.append(amqp.exceptions.AMQPError)
    with contextlib.suppress(ImportError):
        import redis.exceptions  # lazy: redis-py, only Redis-backed checks

        errors.append(redis.exceptions.RedisError)
    return tuple(errors)


def _configured_app(url: str, backend_url: str | None, timeout_s: float) -> Any:
    """A Celery app that only talks: no retries, every socket with a timeout."""
    app = Celery("jobcheck-probe", broker=url, backend=backend_url, set_as_current=False)
    app.conf.update(
        broker_connection_timeout=timeout_s,
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        broker_transport_options={
            "max_retries": 0,
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
        },
        broker_pool_limit=2,
        task_publish_retry=False,
        result_backend_always_retry=False,
        redis_socket_timeout=timeout_s,
        redis_socket_connect_timeout=timeout_s,
        redis_retry_on_timeout=False,
        # JSON only: jobcheck never unpickles what it reads from the service's broker.
        accept_content=["json"],
        result_accept_content=["json"],
    )
    return app


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
        self.broker = fw.parse_broker(url, option="broker_url")
        self.backend = fw.parse_broker(backend_url, option="backend_url") if backend_url else None
        self.where = self.broker.where
        self.timeout_s = timeout_s
        self.control_timeout_s = control_timeout_s
        self.app = _configured_app(url, backend_url, timeout_s)
        self._redis: Any = None
        self._secrets = [u.password for u in (self.broker, self.backend) if u and u.password]
        self._reachable: set[str] = set()

    # --- connections, errors, deadlines ----------------------------------------------------------

    def close(self) -> None:
        self.app.close()
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    @property
    def limit_s(self) -> float:
        """A hard deadline per call: connect, one broadcast, and some slack."""
        return 2 * self.timeout_s + self.control_timeout_s + 1

    @property
    def redis(self) -> Any:
        if self._redis is None:
            self._redis = fw.redis_client(self.broker.url, self.timeout_s)
        return self._redis

    def _call(self, what: str, call: Callable[[], T], where: str | None = None) -> T:
        """``call()`` under a hard deadline, with the libraries' exceptions as the check's."""
        where = where or self.where

        def translated() -> T:
            try:
                return call()
            except _connection_errors() as exc:
                raise broker_trouble(where, exc, self.timeout_s, self._secrets) from None

        return fw.bounded(translated, self.limit_s, f"{what} on {where}")

    def _reach(self, target: BrokerURL) -> None:
        """Connect once to the broker (or backend) with a short timeout, so a Redis or RabbitMQ
        that is down is one clear line before Celery's own connection handling is involved."""
        if target.url in self._reachable:
            return
        if target.is_redis:
            client = fw.redis_client(target.url, self.timeout_s)
            try:
                with fw.redis_errors(target.where, self.timeout_s):
                    client.ping()
            finally:
                client.close()
        else:
            self._call("connecting", lambda: self._amqp_connect(target), target.where)
        self._reachable.add(target.url)

    def _amqp_connect(self, target: BrokerURL) -> None:
        with _connection(target.url, self.timeout_s) as conn:
            conn.ensure_connection(max_retries=0, timeout=self.timeout_s)

    # --- the framework's layout ----------------------------------------------------------------

    def redis_broker(self) -> Any:
        """The broker's Redis client once it answered; None on AMQP (RQ lives in Redis only:
        an AMQP queue cannot be RQ's)."""
        if not self.broker.is_redis:
            return None
        self._reach(self.broker)
        return self.redis

    def own_keys(self, queue: str) -> str:
        return "Celery list or binding"

    # --- queues ------------------------------------------------------------------------------

    def depth(self, queue: str) -> int:
        self.require_own(queue)
        self._reach(self.broker)
        if self.broker.is_redis:
            with self.redis_errors():
                return sum(key_shapes.kombu_depths(self.redis, queue).values())
        return self._call("counting messages", lambda: self._amqp_depth(queue))

    def _amqp_depth(self, queue: str) -> int:
        with _connection(self.broker.url, self.timeout_s) as conn:
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
        return self._consumers(queue)[0]

    def _consumers(self, queue: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(workers consuming ``queue``, every worker that answered a ping)."""
        self._reach(self.broker)
        alive = self._ping()
        if not alive:
            return (), ()
        replies = self._inspect("active_queues", alive) or {}
        consuming = tuple(
            name for name in alive if any(q.get("name") == queue for q in replies.get(name) or [])
        )
        return consuming, alive

    def _ping(self) -> tuple[str, ...]:
        with _BROADCAST:
            replies = self._call(
                "pinging workers", lambda: self.app.control.ping(timeout=self.control_timeout_s)
            )
        return tuple(sorted(name for reply in replies or [] for name in reply))

    def _inspect(
        self, method: str, workers: Sequence[str] | None = None, **arguments: Any
    ) -> dict[str, Any]:
        """One ``inspect`` broadcast. Given the workers, it returns as soon as all answered."""
        inspector = self.app.control.inspect(
            destination=list(workers) if workers else None,
            limit=len(workers) if workers else None,
            timeout=self.control_timeout_s,
        )
        call = getattr(inspector, method)
        with _BROADCAST:
            replies = self._call(f"inspect {method}", lambda: call(**arguments))
        return dict(replies or {})

    # --- limits and delivery settings, from the running workers ----------------------------------

    def worker_limits(self, queue: str) -> list[fw.WorkerLimits]:
        """Each live worker on ``queue``: its time limits, recycling and prefetch, from
        ``inspect conf`` (defaults included) and ``inspect stats``. A worker that does not
        answer is an error: its limits cannot be told."""
        self.require_own(queue)
        consuming, alive = self._consumers(queue)
        if not consuming:
            raise self._no_workers(queue, alive)
        conf = self._inspect("conf", consuming, with_defaults=True)
        stats = self._inspect("stats", consuming)
        silent = [w for w in consuming if not isinstance(conf.get(w), dict)]
        if silent:
            raise CheckError(
                f"worker {', '.join(silent)} answered a ping but not `inspect conf` within "
                f"{fw.seconds(self.control_timeout_s)}: its limits cannot be read"
            )
        return [_limits_of(w, conf[w], stats.get(w) or {}) for w in consuming]

    def delivery(self, queue: str) -> tuple[bool | None, str]:
        """(is ``queue`` declared durable by the workers, their task_default_delivery_mode):
        does a waiting task survive a RabbitMQ restart? None when no worker said."""
        consuming, alive = self._consumers(queue)
        if not consuming:
            raise self._no_workers(queue, alive)
        queues = self._inspect("active_queues", consuming)
        conf = self._inspect("conf", consuming, with_defaults=True)
        durable = [
            bool(q.get("durable"))
            for found in queues.values()
            for q in found or []
            if q.get("name") == queue
        ]
        modes = {_delivery_word((c or {}).get("task_default_delivery_mode")) for c in conf.values()}
        return (all(durable) if durable else None), ", ".join(sorted(modes))

    def broker_holds(self, job_id: str, queue: str) -> tuple[int, int] | None:
        """(messages of ``job_id`` waiting in ``queue``, delivered but unacknowledged) on a
        Redis broker: is a task that no worker runs still somewhere? None on AMQP, where
        unacknowledged messages cannot be listed from outside."""
        if not self.broker.is_redis:
            return None
        self._reach(self.broker)
        with self.redis_errors():
            waiting = [
                raw
                for key in key_shapes.kombu_queue_keys(queue)
                for raw in self.redis.lrange(key, 0, BROKER_SCAN - 1)
            ]
            unacked = list(self.redis.hvals(UNACKED_KEY))[:BROKER_SCAN]
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
        consuming, alive = self._consumers(queue)
        if not consuming:
            raise self._no_workers(queue, alive)
        known = self._registered(consuming)
        if task not in known:
            shown = ", ".join(known[:SHOWN_TASKS]) or "none"
            more = f" and {len(known) - SHOWN_TASKS} more" if len(known) > SHOWN_TASKS else ""
            raise CheckError(
                f"no worker on queue {queue!r} knows task {task!r} (registered: {shown}{more})"
            )
        return self.send(task, args, kwargs, queue=queue, time_limit_s=job_timeout_s)

    def _no_workers(self, queue: str, alive: Sequence[str]) -> fw.NoLiveWorkers:
        if not alive:
            return fw.NoLiveWorkers(
                f"no live Celery worker answered a ping within {fw.seconds(self.control_timeout_s)}"
                f" on {self.where}: nothing would take a job from queue {queue!r}",
                queue=queue,
            )
        return fw.NoLiveWorkers(
            f"none of the {len(alive)} live Celery workers ({', '.join(alive)}) consumes "
            f"queue {queue!r} on {self.where}",
            queue=queue,
            alive=alive,
        )

    def _registered(self, workers: Sequence[str]) -> list[str]:
        replies = self._inspect("registered", workers)
        # An entry may carry details after a space ("app.add [rate_limit=10/s]").
        return sorted({entry.split(" ", 1)[0] for names in replies.values() for entry in names})

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
        self._reach(self.broker)
        options: dict[str, Any] = {"queue": queue}
        if priority is not None:
            options["priority"] = priority
        if delivery_mode:
            options["delivery_mode"] = delivery_mode
        if time_limit_s:
            options["time_limit"] = time_limit_s
        result = self._call(
            "sending a task",
            lambda: self.app.send_task(task, args=list(args), kwargs=dict(kwargs or {}), **options),
        )
        return str(result.id)

    def job_state(self, job_id: str) -> fw.JobState:
        """Never None: Celery reports an unknown id as PENDING, like a job not yet taken."""
        raw, failure = self._backend_state(job_id)
        if raw in NOT_YET_RUN:
            worker = self._running_on(job_id)
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
        self._reach(self.backend)
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

        return self._call("reading jobs' states", read, backend.where)

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

        return self._call("removing jobs", remove, backend.where if backend else None)

    def was_started(self, job_id: str) -> bool:
        raw = self._backend_state(job_id)[0] if self.backend is not None else "PENDING"
        if raw not in (*NOT_YET_RUN, "REVOKED", "REJECTED"):
            return True
        return bool(self._running_on(job_id))

    def _backend_state(self, job_id: str) -> tuple[str, str]:
        """(Celery's state, the failure's last line) from the result backend."""
        if self.backend is None:
            raise CheckError(
                "following a Celery job needs its result backend: set backend_url to the "
                "app's result_backend (e.g. redis://:PASSWORD@127.0.0.1:6379/1)"
            )
        self._reach(self.backend)
        result = AsyncResult(job_id, app=self.app)
        try:
            state, failure = self._call(
                "reading a job's state", lambda: _state_of(result), self.backend.where
            )
        except ContentDisallowed as exc:
            raise CheckError(
                f"job {job_id}'s result on {self.backend.where} is not JSON ({exc}): jobcheck "
                "reads results only as JSON; set the app's result_serializer to json"
            ) from None
        return state, failure

    def _running_on(self, job_id: str) -> str:
        """The worker whose active tasks include ``job_id``, or ''."""
        self._reach(self.broker)
        for worker, tasks in sorted(self._inspect("active").items()):
            if any(task.get("id") == job_id for task in tasks or []):
                return str(worker)
        return ""


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


def _connection(url: str, timeout_s: float) -> Any:
    return Connection(url, connect_timeout=timeout_s)  # type: ignore[no-untyped-call]


def _number(value: Any) -> float | None:
    """A limit from a worker's answer: None when unset (None, 0, '' or not a number)."""
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _limits_of(worker: str, conf: Mapping[str, Any], stats: Mapping[str, Any]) -> fw.WorkerLimits:
    """conf wins; the pool's own numbers (``stats``) fill in what conf left unset (a limit
    given on the command line, ``--time-limit``, shows there only)."""
    pool = stats.get("pool") or {}
    timeouts = [*(pool.get("timeouts") or []), None, None]
    return fw.WorkerLimits(
        worker=worker,
        time_limit=_number(conf.get("task_time_limit")) or _number(timeouts[1]),
        soft_time_limit=_number(conf.get("task_soft_time_limit")) or _number(timeouts[0]),
        max_tasks_per_child=_whole(conf.get("worker_max_tasks_per_child"))
        or _whole(pool.get("max-tasks-per-child")),
        max_memory_per_child=_whole(conf.get("worker_max_memory_per_child")),
        prefetch_multiplier=_whole(conf.get("worker_prefetch_multiplier")),
        concurrency=_whole(pool.get("max-concurrency")) or _whole(conf.get("worker_concurrency")),
        prefetch_count=_whole(stats.get("prefetch_count")),
    )


def _delivery_word(mode: Any) -> str:
    """AMQP's delivery mode in words: 2 is persistent, 1 transient (Celery accepts both)."""
    return {"2": "persistent", "1": "transient"}.get(str(mode), str(mode))
