"""Redis, shared by the adapters whose broker (or result backend) is Redis: a redis-py client
that fails fast, redis-py's exceptions as the check's, and the server's settings a kind judges
(``CONFIG GET``, ``Persistence``).

redis-py is imported inside the functions that use it: kinds import this module (through
``framework``) on every run, Redis-backed or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobcheck.outcomes import CheckError, CheckFailed
from jobcheck.probes.deadline import seconds

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True)
class Persistence:
    """Redis's persistence settings: does a queued job survive a Redis restart?"""

    appendonly: bool
    save: str  # RDB snapshot rules, e.g. "3600 1 300 100"; "" means no snapshots
    appendfsync: str = ""

    @property
    def durable(self) -> bool:
        return self.appendonly or bool(self.save.strip())

    def describe(self) -> str:
        aof = f"appendonly yes (fsync {self.appendfsync})" if self.appendonly else "appendonly no"
        return f"{aof}, save {self.save.strip() or 'off'!r}"


def redis_client(url: str, timeout_s: float) -> redis.Redis:
    """A redis-py client that fails fast: socket timeouts, and no retries (redis-py retries
    three times by default, which would triple the wait on a Redis that is down)."""
    import redis  # lazy: redis-py, only Redis-backed checks
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


@contextmanager
def redis_errors(where: str, timeout_s: float) -> Iterator[None]:
    """redis-py's exceptions as the check's: Redis down is a failure, rejected is an error."""
    import redis.exceptions as rx  # lazy: redis-py, only Redis-backed checks

    try:
        yield
    except (rx.AuthenticationError, rx.AuthenticationWrongNumberOfArgsError) as exc:
        raise CheckError(f"{where} rejected the password: {exc}") from None
    except rx.TimeoutError:
        raise CheckFailed(f"{where} did not answer within {seconds(timeout_s)}") from None
    except rx.ConnectionError as exc:
        raise CheckFailed(_unreachable(where, exc)) from None
    except rx.ResponseError as exc:
        text = str(exc)
        if text.startswith(("NOAUTH", "WRONGPASS")):
            raise CheckError(f"{where} rejected the password: {text}") from None
        raise CheckError(f"{where} rejected a command: {text}") from None


def _unreachable(where: str, exc: BaseException) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return f"{where} refused the connection"
    return f"{where} is unreachable: {text.splitlines()[0] if text else type(exc).__name__}"


def redis_config(client: redis.Redis, name: str) -> str:
    """One CONFIG GET value ('' when Redis does not know it)."""
    reply: Mapping[Any, Any] = client.config_get(name)
    value = reply.get(name, reply.get(name.encode(), ""))
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_persistence(client: redis.Redis) -> Persistence:
    return Persistence(
        appendonly=redis_config(client, "appendonly") == "yes",
        save=redis_config(client, "save"),
        appendfsync=redis_config(client, "appendfsync"),
    )
