"""The jobs and the worker's settings, as arq's docs write them: ``arq app.worker.WorkerSettings``.

Tunable per stack (env): ``ARQ_JOB_TIMEOUT``, ``ARQ_MAX_JOBS``, ``ARQ_KEEP_RESULT``,
``ARQ_RETRY_JOBS`` (a cancelled job is run again), ``ARQ_HEALTH_CHECK_INTERVAL`` and
``ARQ_CRON`` (a report job every 10 s, for the scheduler check).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from arq import cron

from app.settings import QUEUE_NAME, REDIS_SETTINGS, flag, number

Context = dict[str, Any]


async def send_email(ctx: Context, to: str, subject: str = "hello") -> dict[str, str]:
    """A job that takes arguments, as real apps' do."""
    await asyncio.sleep(0.1)
    return {"to": to, "subject": subject, "status": "sent"}


async def sleep(ctx: Context, seconds: float) -> float:
    """Runs ``seconds``: the shutdown drill stops the worker while it does."""
    await asyncio.sleep(float(seconds))
    return float(seconds)


async def canary(ctx: Context) -> str:
    return "ok"


async def fail(ctx: Context) -> None:
    raise RuntimeError("this job always fails")


async def report(ctx: Context) -> str:
    await asyncio.sleep(0.1)
    return "report"


class WorkerSettings:
    functions: ClassVar[list[Any]] = [send_email, sleep, canary, fail, report]
    cron_jobs: ClassVar[list[Any]] = (
        [
            cron(
                report,
                second={0, 10, 20, 30, 40, 50},
                unique=flag("ARQ_CRON_UNIQUE", True),
                keep_result=3600,  # arq keeps no cron result by default
            )
        ]
        if flag("ARQ_CRON", False)
        else []
    )
    redis_settings = REDIS_SETTINGS
    queue_name = QUEUE_NAME
    job_timeout = number("ARQ_JOB_TIMEOUT", 300)
    max_jobs = int(number("ARQ_MAX_JOBS", 10))
    keep_result = number("ARQ_KEEP_RESULT", 3600)
    retry_jobs = flag("ARQ_RETRY_JOBS", True)
    health_check_interval = number("ARQ_HEALTH_CHECK_INTERVAL", 5)
