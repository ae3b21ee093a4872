"""The Celery adapter's control side: what the running workers say about themselves through
Celery's control broadcasts (``ping``, ``inspect active_queues``, ``registered``, ``active``,
``conf``, ``stats``).

- Live workers answer a ``ping``; ``inspect active_queues`` keeps those consuming the queue. A
  worker running the ``solo`` pool cannot answer while it runs a task, so a busy solo worker is
  not counted: run production workers with prefork or threads.
- A worker's limits (time limits, recycling, prefetch) and a queue's delivery settings are read
  from ``inspect conf`` (defaults included) and ``inspect stats``.

Every broadcast goes through ``celery_client.CeleryClient.call`` (deadline, errors), one at a
time per process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from jobcheck.outcomes import CheckError
from jobcheck.probes import framework as fw
from jobcheck.probes.celery_client import CeleryClient
from jobcheck.probes.deadline import seconds

# Celery's control broadcasts (ping, inspect) from two threads of one process at once got no
# replies at all (kombu 5 on Redis: both timed out while one alone answers in about a second),
# and the runner runs checks in threads: so one broadcast at a time per process.
_BROADCAST = threading.Lock()


class CeleryWorkers:
    """The live workers of one broker, asked through ``client``."""

    def __init__(self, client: CeleryClient) -> None:
        self.client = client

    def consumers(self, queue: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(workers consuming ``queue``, every worker that answered a ping)."""
        self.client.reach(self.client.broker)
        alive = self.ping()
        if not alive:
            return (), ()
        replies = self.inspect("active_queues", alive) or {}
        consuming = tuple(
            name for name in alive if any(q.get("name") == queue for q in replies.get(name) or [])
        )
        return consuming, alive

    def ping(self) -> tuple[str, ...]:
        client = self.client
        with _BROADCAST:
            replies = client.call(
                "pinging workers", lambda: client.app.control.ping(timeout=client.control_timeout_s)
            )
        return tuple(sorted(name for reply in replies or [] for name in reply))

    def inspect(
        self, method: str, workers: Sequence[str] | None = None, **arguments: Any
    ) -> dict[str, Any]:
        """One ``inspect`` broadcast. Given the workers, it returns as soon as all answered."""
        inspector = self.client.app.control.inspect(
            destination=list(workers) if workers else None,
            limit=len(workers) if workers else None,
            timeout=self.client.control_timeout_s,
        )
        call = getattr(inspector, method)
        with _BROADCAST:
            replies = self.client.call(f"inspect {method}", lambda: call(**arguments))
        return dict(replies or {})

    def no_workers(self, queue: str, alive: Sequence[str]) -> fw.NoLiveWorkers:
        where = self.client.where
        if not alive:
            return fw.NoLiveWorkers(
                f"no live Celery worker answered a ping within "
                f"{seconds(self.client.control_timeout_s)} on {where}: nothing would take a job "
                f"from queue {queue!r}",
                queue=queue,
            )
        return fw.NoLiveWorkers(
            f"none of the {len(alive)} live Celery workers ({', '.join(alive)}) consumes "
            f"queue {queue!r} on {where}",
            queue=queue,
            alive=alive,
        )

    def consuming(self, queue: str) -> tuple[str, ...]:
        """The workers consuming ``queue``; ``NoLiveWorkers`` when there are none."""
        consuming, alive = self.consumers(queue)
        if not consuming:
            raise self.no_workers(queue, alive)
        return consuming

    def registered(self, workers: Sequence[str]) -> list[str]:
        replies = self.inspect("registered", workers)
        # An entry may carry details after a space ("app.add [rate_limit=10/s]").
        return sorted({entry.split(" ", 1)[0] for names in replies.values() for entry in names})

    def running_on(self, job_id: str) -> str:
        """The worker whose active tasks include ``job_id``, or ''."""
        self.client.reach(self.client.broker)
        for worker, tasks in sorted(self.inspect("active").items()):
            if any(task.get("id") == job_id for task in tasks or []):
                return str(worker)
        return ""

    def limits(self, queue: str) -> list[fw.WorkerLimits]:
        """Each live worker on ``queue``: its time limits, recycling and prefetch, from
        ``inspect conf`` (defaults included) and ``inspect stats``. A worker that does not
        answer is an error: its limits cannot be told."""
        consuming = self.consuming(queue)
        conf = self.inspect("conf", consuming, with_defaults=True)
        stats = self.inspect("stats", consuming)
        silent = [w for w in consuming if not isinstance(conf.get(w), dict)]
        if silent:
            raise CheckError(
                f"worker {', '.join(silent)} answered a ping but not `inspect conf` within "
                f"{seconds(self.client.control_timeout_s)}: its limits cannot be read"
            )
        return [_limits_of(w, conf[w], stats.get(w) or {}) for w in consuming]

    def delivery(self, queue: str) -> tuple[bool | None, str]:
        """(is ``queue`` declared durable by the workers, their task_default_delivery_mode):
        does a waiting task survive a RabbitMQ restart? None when no worker said."""
        consuming = self.consuming(queue)
        queues = self.inspect("active_queues", consuming)
        conf = self.inspect("conf", consuming, with_defaults=True)
        durable = [
            bool(q.get("durable"))
            for found in queues.values()
            for q in found or []
            if q.get("name") == queue
        ]
        modes = {_delivery_word((c or {}).get("task_default_delivery_mode")) for c in conf.values()}
        return (all(durable) if durable else None), ", ".join(sorted(modes))


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
