"""Redis and RQ access shared by the API, the worker and the healthchecks."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

from app.settings import Settings

# Short socket timeouts: /health and the healthchecks must answer fast when Redis is gone.
_SOCKET_TIMEOUT_S = 3.0


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def connect(redis_url: str, socket_timeout_s: float | None = _SOCKET_TIMEOUT_S) -> Redis:
    return Redis.from_url(
        redis_url,
        socket_connect_timeout=_SOCKET_TIMEOUT_S,
        socket_timeout=socket_timeout_s,
        health_check_interval=30,
    )


@lru_cache(maxsize=1)
def connection() -> Redis:
    return connect(settings().redis_url)


def queue() -> Queue:
    return Queue(settings().queue_name, connection=connection())
