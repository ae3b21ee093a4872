"""The arq and Dramatiq options of the framework kinds: what loads, what is refused and why."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from jobcheck.kinds import broker_restart, job, queue, scheduler, shutdown, worker_limits
from jobcheck.probes.arq_adapter import CronRun, duplicates

REDIS = "redis://:pw@127.0.0.1:6379/0"


def load(kind: Any, options: dict[str, Any]) -> Any:
    return kind.KIND.options.model_validate(options)


def refused(kind: Any, options: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        load(kind, options)
    return str(caught.value)


def test_queue_defaults_per_framework() -> None:
    assert load(queue, {"framework": "arq", "redis_url": REDIS, "min_workers": 1}).queue_name == (
        "arq:queue"
    )
    dramatiq = load(queue, {"framework": "dramatiq", "broker_url": REDIS, "max_failed": 0})
    assert dramatiq.queue_name == "default"
    assert "framework arq needs redis_url" in refused(queue, {"framework": "arq", "max_depth": 1})
    assert "arq keeps no failed-job list" in refused(
        queue, {"framework": "arq", "redis_url": REDIS, "max_failed": 0}
    )


def test_job_and_shutdown_via_arq_and_dramatiq() -> None:
    arq = load(job, {"via": "arq", "redis_url": REDIS, "task": "send_email", "args": ["a"]})
    assert (arq.framework_name, arq.queue_name) == ("arq", "arq:queue")
    drill = load(shutdown, {"via": "dramatiq", "broker_url": REDIS, "task": "sleep"})
    assert (drill.framework_name, drill.queue_name) == ("dramatiq", "default")
    assert "via arq needs redis_url and task" in refused(job, {"via": "arq", "task": "x"})
    assert "via dramatiq needs broker_url and task" in refused(job, {"via": "dramatiq"})


def test_broker_restart_takes_arq_and_dramatiq() -> None:
    drill = load(broker_restart, {"framework": "dramatiq", "broker_url": REDIS, "task": "c"})
    assert drill.queue_name == "default"
    assert "framework arq needs redis_url" in refused(
        broker_restart, {"framework": "arq", "task": "canary"}
    )


def test_worker_limits_for_arq_needs_a_task_and_only_arqs_settings() -> None:
    base = {"framework": "arq", "redis_url": REDIS}
    assert load(worker_limits, {**base, "task": "sleep", "time_limit": "5m"}).task == "sleep"
    assert "framework arq needs task" in refused(worker_limits, {**base, "time_limit": "5m"})
    assert "max_prefetch: not arq's settings" in refused(
        worker_limits, {**base, "task": "sleep", "max_prefetch": 1}
    )


def test_worker_limits_for_dramatiq_reads_the_worker_not_a_broker() -> None:
    base = {"framework": "dramatiq"}
    loaded = load(worker_limits, {**base, "time_limit": "required", "max_retries": 3})
    assert (loaded.service, loaded.project, loaded.max_retries) == ("worker", None, 3)
    assert "broker_url: not read for Dramatiq" in refused(
        worker_limits, {**base, "broker_url": REDIS, "time_limit": "5m"}
    )
    assert "max_prefetch: not read for Dramatiq" in refused(
        worker_limits, {**base, "max_prefetch": 1}
    )
    assert "nothing to check: set time_limit, max_retries" in refused(worker_limits, base)
    assert "max_retries: framework dramatiq's options only" in refused(
        worker_limits, {"framework": "rq", "redis_url": REDIS, "max_retries": 3}
    )


def test_scheduler_arq_needs_redis_and_dramatiq_counts_periodiq() -> None:
    assert "framework arq needs redis_url" in refused(scheduler, {"framework": "arq"})
    dramatiq = load(scheduler, {"framework": "dramatiq"})
    assert any(re.search(r, "periodiq app.tasks") for r in dramatiq.regexes())
    assert any(re.search(r, "periodiq app.tasks") for r in load(scheduler, {}).regexes())


def test_duplicate_cron_runs_are_runs_of_one_tick() -> None:
    tick = datetime(2026, 12, 7, 5, 0, 10)
    runs = [
        CronRun("cron:report", "a", tick),
        CronRun("cron:report", "b", tick + timedelta(milliseconds=300)),
        CronRun("cron:report", "c", tick + timedelta(seconds=10)),
        CronRun("cron:other", "d", tick),
    ]
    (doubled,) = duplicates(runs)
    assert [r.job_id for r in doubled] == ["a", "b"]
    assert duplicates(runs[2:]) == []
