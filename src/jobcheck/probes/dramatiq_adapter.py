"""The Dramatiq adapter, built on dramatiq's brokers and its Results backend, on Redis or AMQP.

- Enqueue: a ``dramatiq.Message`` for the actor by name through ``RedisBroker`` or
  ``RabbitmqBroker`` (no actor code needed here, as ``broker.enqueue`` takes any message).
- Redis broker (namespace ``dramatiq``): ``dramatiq:Q`` is a list of message ids, their bodies in
  the hash ``dramatiq:Q.msgs``; retries wait in ``dramatiq:Q.DQ``, dead letters in
  ``dramatiq:Q.XQ``. Every broker call heartbeats its broker id into the sorted set
  ``dramatiq:__heartbeats__``; an idle worker's consumer polls at least every second, so a
  recent heartbeat is a live process (a producer that just enqueued counts too).
- AMQP: depth and consumers by a passive queue declare (pika), never creating a queue.
- A job's state from the Results middleware's backend when ``backend_url`` is given (actors
  with ``store_results=True``), else from the broker: waiting, delivered but not acked
  (running), dead-lettered (failed), or acked (finished: Dramatiq acks once the actor returned).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import ResultFailure, ResultMissing
from dramatiq.results.backends.redis import RedisBackend

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes import framework as fw
from jobcheck.probes import key_shapes
from jobcheck.probes.broker_url import parse_broker
from jobcheck.probes.deadline import bounded
from jobcheck.probes.redis_broker import redis_client, redis_errors

HEARTBEATS: Final = f"{key_shapes.DRAMATIQ_NAMESPACE}:__heartbeats__"
LIVE_WINDOW_S: Final = 10.0  # a heartbeat this recent is a live process
OWN_PREFIX: Final = "jobcheck-"  # the broker id jobcheck heartbeats with
SCAN_LIMIT: Final = 5000  # message bodies looked at when finding a message by its id
RESULT_AFTER_NACK_S: Final = 2.0  # a dead-lettered message's failure, stored just after


class Sent:
    """The messages this process sent, by id: a Dramatiq message is followed by its queue and
    actor (the Results key, the broker's hashes), which its id alone does not say. Shared by
    every adapter of the run (a drill enqueues with one and follows with another); bounded."""

    LIMIT: Final = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, dramatiq.Message[Any]] = {}

    def __setitem__(self, job_id: str, message: dramatiq.Message[Any]) -> None:
        with self._lock:
            self._by_id[job_id] = message
            while len(self._by_id) > self.LIMIT:
                del self._by_id[next(iter(self._by_id))]

    def get(self, job_id: str) -> dramatiq.Message[Any] | None:
        with self._lock:
            return self._by_id.get(job_id)


SENT: Final = Sent()


def amqp_url(url: str, timeout_s: float) -> str:
    """The URL with pika's bounded-connection options: one attempt, socket timeouts."""
    parts = urlsplit(url)
    scheme = "amqps" if parts.scheme == "amqps" else "amqp"
    options = {
        "connection_attempts": 1,
        "retry_delay": 0,
        "socket_timeout": timeout_s,
        "blocked_connection_timeout": timeout_s,
        "stack_timeout": timeout_s,
    }
    query = "&".join(q for q in (parts.query, urlencode(options)) if q)
    return parts._replace(scheme=scheme, query=query).geturl()


class DramatiqAdapter(fw.AdapterBase):
    framework = "dramatiq"

    def __init__(
        self,
        url: str,
        *,
        backend_url: str | None = None,
        timeout_s: float = fw.DEFAULT_TIMEOUT_S,
        control_timeout_s: float = fw.CONTROL_TIMEOUT_S,
    ) -> None:
        del control_timeout_s
        super().__init__()
        self.broker_url = parse_broker(url)
        self.backend_url = parse_broker(backend_url) if backend_url else None
        if self.backend_url is not None and not self.backend_url.is_redis:
            raise CheckError(
                f"backend_url {self.backend_url.masked!r}: jobcheck reads Dramatiq's Results "
                "from its Redis backend (redis://...)"
            )
        self.where = self.broker_url.where
        self.timeout_s = timeout_s
        self._client: redis.Redis | None = None
        self._backend_client: redis.Redis | None = None
        self._broker: dramatiq.Broker | None = None
        self._messages = SENT

    # --- connections -------------------------------------------------------------------------

    @property
    def is_redis(self) -> bool:
        return self.broker_url.is_redis

    @property
    def client(self) -> redis.Redis:
        if not self.is_redis:
            raise CheckError(f"{self.where} is not Redis")  # a bug, not the user's doing
        if self._client is None:
            self._client = redis_client(self.broker_url.url, self.timeout_s)
        return self._client

    @property
    def broker(self) -> dramatiq.Broker:
        """Dramatiq's own broker, without middleware: jobcheck only enqueues through it."""
        if self._broker is None:
            if self.is_redis:
                broker = RedisBroker(client=self.client, middleware=[])  # type: ignore[no-untyped-call]
                # Every call heartbeats the broker's id: jobcheck's own is told by its prefix
                # and never counted as a worker (this run's or an earlier check's).
                broker.broker_id = f"{OWN_PREFIX}{broker.broker_id}"
                self._broker = broker
            else:
                # lazy: dramatiq, only dramatiq checks
                from dramatiq.brokers.rabbitmq import RabbitmqBroker

                url = amqp_url(self.broker_url.url, self.timeout_s)
                self._broker = RabbitmqBroker(url=url, middleware=[], confirm_delivery=True)
        return self._broker

    def close(self) -> None:
        if self._broker is not None and not self.is_redis:
            with contextlib.suppress(Exception):  # a connection that already failed
                self._broker.close()
        for client in (self._client, self._backend_client):
            if client is not None:
                client.close()
        self._broker = self._client = self._backend_client = None

    def redis_broker(self) -> redis.Redis | None:
        """The Redis broker's client; None on AMQP, where the passive declare says whether the
        queue exists."""
        return self.client if self.is_redis else None

    def own_keys(self, queue: str) -> str:
        return f"Dramatiq keys (dramatiq:{queue})"

    # --- queues ------------------------------------------------------------------------------

    def counts(self, queue: str) -> tuple[int, int, int]:
        """(waiting, delayed for a retry or an eta, dead-lettered)."""
        self.require_own(queue)
        if not self.is_redis:
            return (
                self._declare(queue)[0],
                self._declare(f"{queue}.DQ")[0],
                self._declare(f"{queue}.XQ")[0],
            )
        keys = key_shapes.dramatiq_keys(queue)
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            pipe.llen(keys["queue"])
            pipe.zcard(keys["delayed"])
            pipe.zcard(keys["dead"])
            waiting, delayed, dead = pipe.execute()
        return int(waiting), int(delayed), int(dead)

    def depth(self, queue: str) -> int:
        """Messages waiting in the queue and its delayed queue (``Q.DQ``)."""
        waiting, delayed, _dead = self.counts(queue)
        return waiting + delayed

    def failed_count(self, queue: str) -> int:
        """Dead-lettered messages (``Q.XQ``): an actor failed past ``max_retries``."""
        return self.counts(queue)[2]

    def live_workers(self, queue: str) -> tuple[str, ...]:
        """Redis: broker ids whose heartbeat is under ``LIVE_WINDOW_S`` old (the broker keeps
        one heartbeat set for every queue; jobcheck's own id left out). AMQP: the queue's
        consumers, by count (RabbitMQ does not name them to a passive declare)."""
        self.require_own(queue)
        if not self.is_redis:
            consumers = self._declare(queue)[1]
            return tuple(f"consumer {n + 1} of {queue!r}" for n in range(consumers))
        since = (time.time() - LIVE_WINDOW_S) * 1000
        with self.redis_errors():
            found: list[bytes] = self.client.zrangebyscore(HEARTBEATS, since, "+inf")  # type: ignore[assignment]
            ids = [_text(i) for i in found]
        return tuple(f"broker {i}" for i in ids if not i.startswith(OWN_PREFIX))

    def _declare(self, queue: str) -> tuple[int, int]:
        """(messages, consumers) of an AMQP queue, by a passive declare (creates nothing)."""
        import pika  # type: ignore[import-untyped]
        import pika.exceptions as px  # type: ignore[import-untyped]

        def declare() -> tuple[int, int]:
            params = pika.URLParameters(amqp_url(self.broker_url.url, self.timeout_s))
            connection = pika.BlockingConnection(params)
            try:
                reply = connection.channel().queue_declare(queue, passive=True)
                return int(reply.method.message_count), int(reply.method.consumer_count)
            finally:
                if connection.is_open:
                    connection.close()

        try:
            return bounded(declare, self.timeout_s * 2, f"{self.where}: declare {queue!r}")
        except px.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise CheckError(
                    f"queue {queue!r} does not exist on {self.where}: no Dramatiq worker or "
                    "producer declared it (check the queue name and the actor's queue_name)"
                ) from None
            raise CheckError(f"{self.where} refused: {exc.reply_text}") from None
        except (px.ProbableAuthenticationError, px.ProbableAccessDeniedError) as exc:
            raise CheckError(f"{self.where} rejected the credentials: {exc}") from None
        except (px.AMQPConnectionError, OSError) as exc:
            raise CheckFailed(f"{self.where} is unreachable: {exc or type(exc).__name__}") from None

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
        """Send a message for the actor named ``task``; ``job_timeout_s`` becomes the
        message's ``time_limit`` (ms), as ``actor.send_with_options(time_limit=...)`` does."""
        self.require_own(queue)
        options: dict[str, Any] = {"jobcheck": True}
        if job_timeout_s:
            options["time_limit"] = int(job_timeout_s * 1000)
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue,
            actor_name=task,
            args=tuple(args),
            kwargs=dict(kwargs or {}),
            options=options,
        )
        if self.is_redis:
            with self.redis_errors():
                sent = self.broker.enqueue(message)
        else:
            sent = self._amqp_enqueue(message)
        self._messages[sent.message_id] = sent
        return str(sent.message_id)

    def _amqp_enqueue(self, message: dramatiq.Message[Any]) -> dramatiq.Message[Any]:
        import pika.exceptions as px  # lazy: dramatiq's RabbitMQ client

        try:
            return bounded(
                lambda: self.broker.enqueue(message), self.timeout_s * 2, f"{self.where}: enqueue"
            )
        except (px.ProbableAuthenticationError, px.ProbableAccessDeniedError) as exc:
            raise CheckError(f"{self.where} rejected the credentials: {exc}") from None
        except (px.AMQPError, dramatiq.errors.ConnectionError, OSError) as exc:
            raise CheckFailed(
                f"{self.where}: enqueue failed: {exc or type(exc).__name__}"
            ) from None

    def job_state(self, job_id: str) -> fw.JobState | None:
        message = self._messages.get(job_id)
        if message is None:
            raise CheckError(
                f"Dramatiq message {job_id} was not sent by this run: only messages jobcheck "
                "sent can be followed (their queue and actor name the result)"
            )
        found = self._result(message)
        if found is not None and found.state != "finished":
            return found
        if not self.is_redis:
            if self.backend_url is None:
                raise CheckError(
                    "following a Dramatiq message on RabbitMQ needs backend_url: the Results "
                    "middleware's Redis backend (and store_results=True on the actor)"
                )
            # RabbitMQ shows no message by id: until its result is stored, it is not done.
            return found or fw.JobState(job_id, "queued", "no result yet")
        broker = self._broker_state(message)
        if found is not None and broker.state in ("queued", "started"):
            return broker  # an old result of a re-sent message: the broker knows better
        if found is None and broker.state in ("finished", "failed"):
            # The worker stores the result, then acks or dead-letters: a result missing when
            # read before the broker's state may be there now.
            found = self._result(message)
        return found or broker

    def _result(self, message: dramatiq.Message[Any]) -> fw.JobState | None:
        """From the Results backend: finished or failed; None when it holds no result."""
        if self.backend_url is None:
            return None
        if self._backend_client is None:
            self._backend_client = redis_client(self.backend_url.url, self.timeout_s)
        backend = RedisBackend(client=self._backend_client)  # type: ignore[no-untyped-call]
        job_id = message.message_id
        with redis_errors(self.backend_url.where, self.timeout_s):
            try:
                backend.get_result(message, block=False)  # type: ignore[no-untyped-call]
            except ResultMissing:
                return None
            except ResultFailure as exc:
                failure = f"{exc.orig_exc_type}: {exc.orig_exc_msg}".strip(": ")
                return fw.JobState(job_id, "failed", "result: failure", failure)
        return fw.JobState(job_id, "finished", "result stored")

    def _broker_state(self, message: dramatiq.Message[Any]) -> fw.JobState:
        """Waiting, delivered but not acked, dead-lettered, else acked (the actor returned)."""
        job_id = message.message_id
        keys = key_shapes.dramatiq_keys(message.queue_name)
        redis_id = str(message.options.get("redis_message_id", ""))
        with self.redis_errors(), self.client.pipeline(False) as pipe:
            pipe.hexists(keys["msgs"], redis_id)
            pipe.lpos(keys["queue"], redis_id)
            held, waiting = pipe.execute()
        if held:
            if waiting is not None:
                return fw.JobState(job_id, "queued", "enqueued")
            return fw.JobState(job_id, "started", "delivered, not acked")
        if self._holds(keys["delayed_msgs"], job_id) or self._holds(keys["msgs"], job_id):
            return fw.JobState(job_id, "queued", "delayed for a retry")
        dead = self._holds(keys["dead_msgs"], job_id)
        if dead is not None:
            retries = dead.get("options", {}).get("retries", 0)
            if not retries:
                failed = self._late_result(message)
                if failed is not None:
                    return failed
                raise CheckError(
                    f"message {job_id} for actor {message.actor_name!r} was dead-lettered on "
                    "its first delivery: the workers have no actor of that name (Dramatiq "
                    "rejects unknown actors), or it failed with max_retries=0"
                )
            return fw.JobState(
                job_id, "failed", "dead-lettered", f"failed {retries + 1} times (max_retries)"
            )
        return fw.JobState(job_id, "finished", "acked")

    def _late_result(self, message: dramatiq.Message[Any]) -> fw.JobState | None:
        """The result of a message just dead-lettered, read for at most RESULT_AFTER_NACK_S:
        the Results middleware stores a failure in ``after_nack``, after the broker moved the
        message, so its result can lag its dead-letter by a moment on a loaded machine."""
        if self.backend_url is None:
            return None
        until = time.monotonic() + RESULT_AFTER_NACK_S
        while True:
            found = self._result(message)
            if found is not None or time.monotonic() >= until:
                return found
            time.sleep(0.1)

    def _holds(self, key: str, message_id: str) -> dict[str, Any] | None:
        """The message body with ``message_id`` in the hash ``key`` (a re-sent message gets a
        new Redis id, so the hash is searched by the body's id), or None."""
        needle = message_id.encode()
        with self.redis_errors():
            for n, (_field, body) in enumerate(self.client.hscan_iter(key, count=500)):
                if n >= SCAN_LIMIT:
                    break
                if needle in body:
                    decoded: dict[str, Any] = dramatiq.Message.decode(body).asdict()
                    return decoded
        return None

    @property
    def running_unseen(self) -> str:
        """'' when this adapter can see a message in progress; else why it cannot (a drill
        that must stop a worker mid-job cannot run blind)."""
        if self.is_redis:
            return ""
        return (
            "cannot tell on RabbitMQ without a view of the message in progress: RabbitMQ "
            "shows a client only the ready messages and the consumers (a passive declare), "
            "never which delivered message an actor is running, and the Results backend holds "
            "a result only once the actor returned; so jobcheck could not stop the worker "
            "mid-job, nor tell a message finished during the stop from one never started. "
            "Run this drill against the same actors on a Redis broker (the Redis broker keeps "
            "each delivered, unacked message), or via http with a status route that reports "
            "the message started"
        )

    def was_started(self, job_id: str) -> bool:
        state = self.job_state(job_id)
        return state is not None and state.state != "queued"

    def whereabouts(self, job_id: str, queue: str) -> tuple[str, bool]:
        """After its worker was killed: where the message is, in Dramatiq's words."""
        message = self._messages.get(job_id)
        if message is None or not self.is_redis:
            return "", False
        state = self._broker_state(message)
        if state.raw == "delivered, not acked":
            return (
                "delivered to the killed worker and not acked: the Redis broker requeues it once "
                "that worker's heartbeat is older than heartbeat_timeout (60s by default), at a "
                "maintenance (maintenance_chance: 1000 broker calls in a million by default)",
                False,
            )
        if state.state == "queued":
            return "waiting in the broker again (requeued)", False
        if state.state == "failed":
            return f"dead-lettered in {queue}.XQ ({state.failure})", False
        return "acked: the broker holds it no more", False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
