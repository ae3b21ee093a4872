"""The Celery application: `celery -A app.celery_app worker` finds it as `app`.

Every delivery setting that decides what happens to a task when its worker stops comes from
the environment (app.settings), so one image serves the three shutdown drills: warm shutdown
(the default), acks late with reject-on-worker-lost (redelivered), acks early with a short
grace period (lost).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from app.settings import Settings

# Short timeouts: /health and the healthchecks must answer fast when Redis is gone.
_SOCKET_TIMEOUT_S = 5.0


def transport_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout_s,
        "socket_connect_timeout": _SOCKET_TIMEOUT_S,
    }
    if settings.unacked_restore_interval_s > 0:
        # kombu sweeps every `interval` seconds but scans Redis only every `throttle`-th time.
        options["unacked_restore_interval"] = settings.unacked_restore_interval_s
        options["unacked_restore_throttle"] = 1
    return options


def create_app(settings: Settings) -> Celery:
    celery = Celery(
        "app",
        broker=settings.broker_url,
        backend=settings.result_backend,
        include=["app.tasks"],
    )
    celery.conf.update(
        task_acks_late=settings.acks_late,
        task_reject_on_worker_lost=settings.reject_on_worker_lost,
        task_track_started=settings.track_started,
        # A task stuck past its limit is ended (soft: SoftTimeLimitExceeded; hard: the
        # process is killed and replaced), never holding the worker forever. None: no limit.
        task_time_limit=settings.task_time_limit_s or None,
        task_soft_time_limit=settings.task_soft_time_limit_s or None,
        task_default_delivery_mode=settings.delivery_mode,
        # One task at a time, and no reserved second one to lose or strand.
        worker_concurrency=1,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=_SOCKET_TIMEOUT_S,
        redis_socket_connect_timeout=_SOCKET_TIMEOUT_S,
        redis_socket_timeout=_SOCKET_TIMEOUT_S,
        result_expires=24 * 3600,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
    )
    return celery


settings = Settings.from_env()
app = create_app(settings)
