"""Job functions run by the RQ worker. Enqueued by dotted name: app.jobs.<function>."""

from __future__ import annotations

import time


def canary() -> str:
    """A no-op round-trip probe: proves the queue and a worker are alive."""
    return "ok"


def sleep(seconds: float) -> float:
    """Hold the worker for `seconds` (the graceful-shutdown drill); returns the time slept."""
    started = time.monotonic()
    time.sleep(seconds)
    return round(time.monotonic() - started, 3)
