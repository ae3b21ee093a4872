"""Settings from the environment, read once: the API and the worker share them."""

from __future__ import annotations

import os

from arq.connections import RedisSettings

REDIS_SETTINGS = RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
QUEUE_NAME = os.environ.get("ARQ_QUEUE", "arq:queue")


def flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")


def number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value is None or not value.strip() else float(value)
