"""How the Celery adapter talks: a Celery app that only talks (no retries, every socket with a
timeout, JSON only), kombu connections, and every call under a hard deadline with the
libraries' exceptions turned into the check's (``broker_trouble``), passwords masked.

``CeleryClient`` is the one connection to a service's broker and result backend;
``celery_workers.CeleryWorkers`` (the control side) and ``celery_adapter.CeleryAdapter`` (queues
and jobs) both call through it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

from celery import Celery  # type: ignore[import-untyped]
from kombu.connection import Connection
from kombu.exceptions import OperationalError

from jobcheck.outcomes import CheckEnded, CheckError, CheckFailed
from jobcheck.probes.broker_url import BrokerURL, parse_broker
from jobcheck.probes.deadline import bounded, seconds
from jobcheck.probes.redis_broker import redis_client, redis_errors

T = TypeVar("T")

PASSWORD_WORDS: Final = ("AccessRefused", "AuthenticationError", "WRONGPASS", "NOAUTH")


class CeleryClient:
    """The app, the broker and backend URLs, and the calls through them."""

    def __init__(
        self, url: str, backend_url: str | None, *, timeout_s: float, control_timeout_s: float
    ) -> None:
        self.broker = parse_broker(url, option="broker_url")
        self.backend = parse_broker(backend_url, option="backend_url") if backend_url else None
        self.where = self.broker.where
        self.timeout_s = timeout_s
        self.control_timeout_s = control_timeout_s
        self.app = _configured_app(url, backend_url, timeout_s)
        self._redis: Any = None
        self._secrets = [u.password for u in (self.broker, self.backend) if u and u.password]
        self._reachable: set[str] = set()

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
            self._redis = redis_client(self.broker.url, self.timeout_s)
        return self._redis

    def call(self, what: str, call: Callable[[], T], where: str | None = None) -> T:
        """``call()`` under a hard deadline, with the libraries' exceptions as the check's."""
        where = where or self.where

        def translated() -> T:
            try:
                return call()
            except _connection_errors() as exc:
                raise broker_trouble(where, exc, self.timeout_s, self._secrets) from None

        return bounded(translated, self.limit_s, f"{what} on {where}")

    def reach(self, target: BrokerURL) -> None:
        """Connect once to the broker (or backend) with a short timeout, so a Redis or RabbitMQ
        that is down is one clear line before Celery's own connection handling is involved."""
        if target.url in self._reachable:
            return
        if target.is_redis:
            client = redis_client(target.url, self.timeout_s)
            try:
                with redis_errors(target.where, self.timeout_s):
                    client.ping()
            finally:
                client.close()
        else:
            self.call("connecting", lambda: self._amqp_connect(target), target.where)
        self._reachable.add(target.url)

    def _amqp_connect(self, target: BrokerURL) -> None:
        with connection(target.url, self.timeout_s) as conn:
            conn.ensure_connection(max_retries=0, timeout=self.timeout_s)


def connection(url: str, timeout_s: float) -> Any:
    """A kombu connection to ``url`` that gives up connecting after ``timeout_s``."""
    return Connection(url, connect_timeout=timeout_s)  # type: ignore[no-untyped-call]


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
        return CheckFailed(f"{where} did not answer within {seconds(timeout_s)}")
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
