"""Configuration from the environment, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    broker_url: str
    result_backend: str
    app_env: str = "development"
    debug: bool = False
    log_level: str = "info"
    max_sleep_s: int = 25
    # Request bodies above this are refused with 413 (0: no limit, test-only).
    max_body_bytes: int = 1024 * 1024
    # Celery's own defaults: ack on receipt, nothing tracked between PENDING and the end.
    acks_late: bool = False
    reject_on_worker_lost: bool = False
    track_started: bool = False
    # Redis transport: an unacked message goes back to the queue after this long.
    visibility_timeout_s: int = 3600
    # Seconds between sweeps for such messages; 0 keeps kombu's default (about 100 s).
    unacked_restore_interval_s: int = 0
    # Hard and soft time limits of every task (0: none, Celery's default).
    task_time_limit_s: int = 0
    task_soft_time_limit_s: int = 0
    # AMQP: persistent messages survive a RabbitMQ restart (Celery's default); transient: not.
    delivery_mode: str = "persistent"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        broker_url = _required(environ, "CELERY_BROKER_URL", "redis://:PASSWORD@HOST:6379/0")
        return cls(
            broker_url=broker_url,
            result_backend=environ.get("CELERY_RESULT_BACKEND", "").strip() or broker_url,
            app_env=environ.get("APP_ENV", "development"),
            debug=_bool(environ, "DEBUG", False),
            log_level=environ.get("LOG_LEVEL", "info").strip().lower(),
            max_sleep_s=_int(environ, "JOB_MAX_SLEEP_S", 25),
            max_body_bytes=_int(environ, "MAX_BODY_BYTES", 1024 * 1024),
            acks_late=_bool(environ, "CELERY_TASK_ACKS_LATE", False),
            reject_on_worker_lost=_bool(environ, "CELERY_TASK_REJECT_ON_WORKER_LOST", False),
            track_started=_bool(environ, "CELERY_TASK_TRACK_STARTED", False),
            visibility_timeout_s=_int(environ, "CELERY_VISIBILITY_TIMEOUT_S", 3600),
            unacked_restore_interval_s=_int(environ, "CELERY_UNACKED_RESTORE_INTERVAL_S", 0),
            task_time_limit_s=_int(environ, "CELERY_TASK_TIME_LIMIT_S", 0),
            task_soft_time_limit_s=_int(environ, "CELERY_TASK_SOFT_TIME_LIMIT_S", 0),
            delivery_mode=environ.get("CELERY_TASK_DEFAULT_DELIVERY_MODE", "persistent").strip()
            or "persistent",
        )


def _required(environ: Mapping[str, str], name: str, shape: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (expected {shape})")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
