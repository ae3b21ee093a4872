"""Jobs followed through a broker restart (``broker_restart``): polled until they ended, or
until the framework shows they are gone.

"Gone" is said only on evidence read after a fresh, successful poll, twice in a row at least a
second apart: RQ has no hash for the job; Celery's task is still PENDING, not running on any
worker, and its message is neither waiting in the broker nor delivered-unacknowledged (the
broker is read first, the state again after, so a task taken in between is not called lost).
While the broker or the workers come back, a failed read is no answer: the deadline decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from jobcheck.kinds.base import KindContext
from jobcheck.outcomes import CheckFailed
from jobcheck.probes import lost_jobs
from jobcheck.probes.framework import Adapter, JobState

T = TypeVar("T")
CONFIRM_S = 1.0  # two "gone" readings at least this far apart


@dataclass
class Job:
    job_id: str
    role: str  # running, waiting, canary
    state: JobState | None = None
    read: bool = False  # the last poll answered
    gone: bool = False
    where: str = ""
    suspected_at: float | None = None  # first "gone" reading, not yet confirmed
    trouble: str = ""  # the last read that failed, for the timeline

    @property
    def word(self) -> str:
        if self.gone or self.suspected_at is not None:
            return "gone"
        return self.state.state if self.state is not None else "unknown"

    @property
    def ended(self) -> bool:
        return self.gone or (self.state is not None and self.state.ended)


def _read(call: Callable[[], T], job: Job) -> tuple[bool, T | None]:
    try:
        return True, call()
    except CheckFailed as exc:
        job.trouble = exc.message
        return False, None


def poll(adapter: Adapter, job: Job) -> None:
    """A fresh reading of the job's state (kept as it was when the read fails)."""
    ok, state = _read(lambda: adapter.job_state(job.job_id), job)
    job.read = ok
    if ok:
        job.state = state


def _pending_celery(adapter: Adapter, job: Job) -> bool:
    state = job.state
    return (
        adapter.framework == "celery"
        and state is not None
        and state.state == "queued"
        and state.raw == "PENDING"
    )


def _gone_now(adapter: Adapter, job: Job, queue: str) -> bool:
    """Does a fresh look say the job is nowhere? (state read after the broker)"""
    if adapter.framework == "rq":
        return job.read and job.state is None
    if not (job.read and _pending_celery(adapter, job)):
        return False
    ok, found = _read(lambda: lost_jobs.whereabouts(adapter, job.job_id, queue), job)
    if not ok or found is None:
        return False
    job.where, nowhere = found
    if not nowhere:
        return False
    poll(adapter, job)  # taken (and maybe finished) while the broker was read?
    return job.read and _pending_celery(adapter, job)


def check(adapter: Adapter, job: Job, queue: str) -> None:
    """One step: poll, then look for evidence that the job is gone (confirmed twice)."""
    poll(adapter, job)
    if job.ended:
        return
    if not _gone_now(adapter, job, queue):
        job.suspected_at = None
        return
    now = time.monotonic()
    if job.suspected_at is None:
        job.suspected_at = now
    elif now - job.suspected_at >= CONFIRM_S:
        job.gone = True


def follow(
    adapter: Adapter, jobs: list[Job], queue: str, ctx: KindContext, until: float, interval: float
) -> None:
    """Check every job until each ended or is gone, or ``until`` (monotonic)."""
    while True:
        for job in jobs:
            if not job.ended:
                check(adapter, job, queue)
        if all(job.ended for job in jobs):
            return
        if time.monotonic() >= until or not ctx.sleep(interval):
            return
