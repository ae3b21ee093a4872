"""The sample's one job function, enqueued by dotted name: app.tasks.create_task."""

from __future__ import annotations

import time


def create_task(task_type: str) -> bool:
    """Sleep `task_type` seconds and return True; `fail` raises (the failure path)."""
    if task_type == "fail":
        raise ValueError("task type 'fail' fails on purpose")
    time.sleep(int(task_type))
    return True
