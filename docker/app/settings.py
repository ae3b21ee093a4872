"""Configuration from the environment, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TRUE = {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    redis_url: str
    queue_name: str = "default"
    app_env: str = "development"
    debug: bool = False
    log_level: str = "info"
    max_sleep_s: int = 25
    # Request bodies above this are refused with 413 (0: no limit, test-only).
    max_body_bytes: int = 1024 * 1024
    worker_ttl_s: int = 60
    maintenance_interval_s: int = 60
    # How often a busy worker renews its claim on the job it runs (RQ's default, 30 s).
    job_monitoring_interval_s: int = 30
    # Every job's timeout instead of each endpoint's own (0: the endpoint's; -1: none, as a
    # test-only override shows what jobcheck's worker_limits reports then).
    job_timeout_s: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        redis_url = environ.get("REDIS_URL", "").strip()
        if not redis_url:
            raise ConfigError("REDIS_URL is not set (expected redis://:PASSWORD@HOST:6379/0)")
        return cls(
            redis_url=redis_url,
            queue_name=environ.get("QUEUE_NAME", "default"),
            app_env=environ.get("APP_ENV", "development"),
            debug=environ.get("DEBUG", "false").strip().lower() in _TRUE,
            log_level=environ.get("LOG_LEVEL", "info").strip().lower(),
            max_sleep_s=_int(environ, "JOB_MAX_SLEEP_S", 25),
            max_body_bytes=_int(environ, "MAX_BODY_BYTES", 1024 * 1024),
            worker_ttl_s=_int(environ, "WORKER_TTL_S", 60),
            maintenance_interval_s=_int(environ, "WORKER_MAINTENANCE_INTERVAL_S", 60),
            job_monitoring_interval_s=_int(environ, "WORKER_JOB_MONITORING_INTERVAL_S", 30),
            job_timeout_s=_int(environ, "JOB_TIMEOUT_S", 0),
        )


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
