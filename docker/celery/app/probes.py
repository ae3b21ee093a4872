"""Reachability of the broker and the result backend, shared by /health and the healthchecks."""

from __future__ import annotations

from urllib.parse import urlsplit

TIMEOUT_S = 3.0


def ping(url: str) -> str | None:
    """None when the server at `url` answers, else what went wrong (never the URL: it has the
    password)."""
    scheme = urlsplit(url).scheme
    try:
        if scheme in ("redis", "rediss"):
            _ping_redis(url)
        else:
            _ping_kombu(url)
    except Exception as exc:  # any failure to reach it means unhealthy
        return f"{type(exc).__name__}: {exc}"
    return None


def _ping_redis(url: str) -> None:
    from redis import Redis

    client = Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()


def _ping_kombu(url: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=TIMEOUT_S) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT_S)
