"""Tasks run by the Celery worker, registered as app.tasks.<function>."""

from __future__ import annotations

import time

from app.celery_app import app


class CanaryFailure(RuntimeError):
    """Raised by app.tasks.fail: a task that fails on purpose."""


@app.task(name="app.tasks.canary")
def canary() -> str:
    """A no-op round-trip probe: proves the broker, a worker and the result backend work."""
    return "ok"


@app.task(name="app.tasks.sleep")
def sleep(seconds: float) -> float:
    """Hold the worker for `seconds` (the graceful-shutdown drill); returns the time slept."""
    started = time.monotonic()
    time.sleep(seconds)
    return round(time.monotonic() - started, 3)


@app.task(name="app.tasks.fail")
def fail(message: str = "failing on purpose") -> None:
    """Always raises: the failure path (FAILURE state, traceback in the backend)."""
    raise CanaryFailure(message)
