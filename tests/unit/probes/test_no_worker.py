"""Waits that cannot succeed end early: a canary (job) or the drill's job (shutdown) still
queued on a queue no live worker listens to fails within its grace (default 5 s), not at its
deadline, via the service's API over RQ or Celery and via RQ directly; against a real
redis-server and the real framework clients (no worker runs on the scratch database)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobcheck.kinds import job, shutdown
from jobcheck.kinds.base import KindContext
from jobcheck.probes import canary
from jobcheck.probes.framework import NoLiveWorkers
from jobcheck.results import Status
from jobcheck.secrets import Masker

from .realparts import CeleryWorker
from .test_framework_kinds import (
    JOB_ID,
    Handler,
    api,  # noqa: F401  (the fixture)
    expect,
    fastapi_celery_app,
    flask_rq_app,
    run,
)

GIVES_UP_WITHIN_S = 9.0  # the 5 s grace, a worker count (up to 2 s apart) and a slow machine


def http_options(base: str, **more: Any) -> dict[str, Any]:
    return {
        "enqueue_url": f"{base}/tasks",
        "status_url": f"{base}/tasks/{{id}}",
        "deadline": "60s",
        **more,
    }


def test_a_canary_via_an_rq_api_with_no_worker_gives_up_within_the_default_grace(
    api: Callable[[Handler], str],  # noqa: F811
    scratch_url: str,
) -> None:
    base = api(flask_rq_app(scratch_url))
    options = http_options(
        base,
        form={"type": 1},
        id_field="data.task_id",
        status_field="data.task_status",
        redis_url=scratch_url,
    )
    started = time.monotonic()
    outcome = run(job.KIND, options)
    took = time.monotonic() - started
    expect(
        outcome,
        Status.FAIL,
        rf"job {JOB_ID} queued [\d.]+s ago, still queued: no worker took it "
        r"\(0 live workers on queue 'default', 1 waiting\); gave up before the 60s deadline: "
        r"with no live worker, waiting cannot help",
    )
    assert 5.0 <= took < GIVES_UP_WITHIN_S, f"gave up after {took:.1f}s"


def test_a_canary_via_a_celery_api_with_no_worker_gives_up_within_the_default_grace(
    api: Callable[[Handler], str],  # noqa: F811
    scratch_url: str,
) -> None:
    base = api(fastapi_celery_app(CeleryWorker(scratch_url, scratch_url, "none")))
    options = http_options(
        base,
        body={"type": 1},
        id_field="task_id",
        status_field="task_status",
        framework="celery",
        broker_url=scratch_url,
    )
    started = time.monotonic()
    outcome = run(job.KIND, options)
    took = time.monotonic() - started
    expect(
        outcome,
        Status.FAIL,
        rf"job {JOB_ID} queued [\d.]+s ago, still queued \(PENDING\): no worker took it "
        r"\(0 live workers on queue 'celery', 1 waiting\); gave up before the 60s deadline: "
        r"with no live worker, waiting cannot help",
    )
    assert 5.0 <= took < GIVES_UP_WITHIN_S, f"gave up after {took:.1f}s"


def test_without_a_broker_url_the_http_canary_cannot_count_workers_and_says_so(
    api: Callable[[Handler], str],  # noqa: F811
    scratch_url: str,
) -> None:
    """No way to count workers: the deadline decides, and the message says what would help."""
    base = api(flask_rq_app(scratch_url))
    options = http_options(
        base,
        form={"type": 1},
        id_field="data.task_id",
        status_field="data.task_status",
        deadline="2s",
    )
    outcome = run(job.KIND, options)
    assert outcome.status is Status.FAIL
    assert "set broker_url (or redis_url) to count the workers" in outcome.message


def drill_options(scratch_url: str, via: str) -> shutdown.Options:
    broker = {"redis_url": scratch_url} if via == "rq" else {"broker_url": scratch_url}
    task = {"task": "fixture.sleep"} if via == "celery" else {}
    return shutdown.Options.model_validate({"via": via, **broker, **task, "start_deadline": "60s"})


def drill_context() -> KindContext:
    return KindContext(check_id="t", base_dir=Path.cwd(), env={}, timeout_s=90.0, mask=Masker())


def test_the_drill_gives_up_waiting_for_its_rq_job_to_start_when_no_worker_listens(
    scratch_url: str,
) -> None:
    """The part of the drill before any container is touched: the job must start first."""
    options, ctx = drill_options(scratch_url, "rq"), drill_context()
    adapter = options.adapter()
    assert adapter is not None and options.queue_name == "default"
    try:
        channel = shutdown.channel_of(options, ctx, adapter)
        trace = canary.Trace(channel.enqueue(), time.monotonic(), channel.vocabulary)
        started = time.monotonic()
        gave_up = shutdown.wait_started(channel, trace, ctx, options, adapter)
        took = time.monotonic() - started
    finally:
        adapter.close()
    assert gave_up and trace.status == "queued"
    assert took < GIVES_UP_WITHIN_S, f"gave up after {took:.1f}s, not within the 5s grace"


def test_the_celery_drill_with_no_worker_ends_before_it_enqueues(scratch_url: str) -> None:
    """Celery's adapter pings the workers before sending: no consumer, no job, at once."""
    options, ctx = drill_options(scratch_url, "celery"), drill_context()
    adapter = options.adapter()
    assert adapter is not None
    started = time.monotonic()
    try:
        channel = shutdown.channel_of(options, ctx, adapter)
        with pytest.raises(NoLiveWorkers, match="nothing would take a job from queue 'celery'"):
            channel.enqueue()
    finally:
        adapter.close()
    assert time.monotonic() - started < 5.0
