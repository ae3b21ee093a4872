"""The actors (``dramatiq app.tasks``). ``DRAMATIQ_NOTIFY_SHUTDOWN=1`` makes ``sleep`` hear a
worker's shutdown (it is interrupted instead of finishing), ``DRAMATIQ_SLEEP_RETRIES`` sets its
max_retries. ``tick`` is periodic (periodiq)."""

from __future__ import annotations

import os
import time

import dramatiq
from periodiq import cron

from app.broker import broker  # noqa: F401  (sets the global broker first)

NOTIFY = os.environ.get("DRAMATIQ_NOTIFY_SHUTDOWN", "0") == "1"
SLEEP_RETRIES = int(os.environ.get("DRAMATIQ_SLEEP_RETRIES", "3"))


@dramatiq.actor(store_results=True, max_retries=3, time_limit=60_000)
def send_email(to: str, subject: str = "hello") -> dict[str, str]:
    time.sleep(0.1)
    return {"to": to, "subject": subject, "status": "sent"}


@dramatiq.actor(
    store_results=True, max_retries=SLEEP_RETRIES, min_backoff=500, notify_shutdown=NOTIFY
)
def sleep(seconds: float) -> float:
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        time.sleep(0.1)
    return float(seconds)


@dramatiq.actor(store_results=True)
def canary() -> str:
    return "ok"


@dramatiq.actor(store_results=True, max_retries=0)
def fail() -> None:
    raise RuntimeError("this actor always fails")


@dramatiq.actor(periodic=cron("* * * * *"), max_retries=0, time_limit=30_000)
def tick() -> None:
    """Sent every minute by periodiq (`periodiq app.tasks`), when a scheduler runs."""
