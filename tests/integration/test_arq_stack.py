"""arq on a real engine: the FastAPI + arq sample (docker/samples/fastapi-arq) as compose
project ``jc-h23-arq-itest`` on 127.0.0.1:25080 (API) and :25379 (Redis), and jobcheck's kinds with
``framework: arq`` / ``via: arq`` against it, each pass and fail.

Ports and project come from JOBCHECK_ITEST_ARQ_{PROJECT,API_PORT,REDIS_PORT}; the image is
``jobcheck/sample-fastapi-arq:staging`` unless JOBCHECK_ITEST_ARQ_IMAGE names another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds import broker_restart, job, queue, scheduler, shutdown, worker_limits
from jobcheck.probes.framework import adapter_for

from ._compose import Stack, env_file_values, wait_for
from ._framework_stacks import recreate, run_check, sample, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SAMPLE = sample("fastapi-arq")
PROJECT = os.environ.get("JOBCHECK_ITEST_ARQ_PROJECT", "jc-h23-arq-itest")
API_PORT = os.environ.get("JOBCHECK_ITEST_ARQ_API_PORT", "25080")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_ARQ_REDIS_PORT", "25379")
IMAGE = os.environ.get("JOBCHECK_ITEST_ARQ_IMAGE", "jobcheck/sample-fastapi-arq:staging")
PASSWORD = env_file_values(SAMPLE / "staging.env")["REDIS_PASSWORD"]
REDIS = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
WEB = f"http://127.0.0.1:{API_PORT}"


def check(kind: Any, options: dict[str, Any]) -> Any:
    return run_check(kind, options, [PASSWORD])


def worker_live() -> None:
    """Wait for the worker's health-check key: the worker polls the queue from then on."""

    def live() -> bool | None:
        with adapter_for("arq", REDIS) as arq:
            return True if arq.live_workers("arq:queue") else None

    wait_for("arq worker's health check", live, 60.0)


@pytest.fixture(scope="module")
def arq_stack(engine_client: DockerClient) -> Iterator[Stack]:
    variables = {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT, "SAMPLE_IMAGE": IMAGE}
    stack = Stack(PROJECT, [SAMPLE / "compose.yaml"], variables)
    for up in stack_up(engine_client, stack, f"{WEB}/health"):
        worker_live()
        yield up


def test_queue_served_by_a_live_worker_passes(arq_stack: Stack) -> None:
    outcome = check(
        queue.KIND,
        {
            "framework": "arq",
            "redis_url": REDIS,
            "min_workers": 1,
            "max_depth": 10,
            "maxmemory_policy": "noeviction",
        },
    )
    assert outcome.status == "pass", outcome.message
    assert "queue 'arq:queue': depth 0 (max 10), 1 live worker (min 1)" in outcome.message
    assert "arq:queue:health-check" in outcome.message
    assert PASSWORD not in outcome.message


def test_job_round_trip_via_arq_with_arguments(arq_stack: Stack) -> None:
    outcome = check(
        job.KIND,
        {
            "via": "arq",
            "redis_url": REDIS,
            "task": "send_email",
            "args": ["ops@example.com"],
            "kwargs": {"subject": "canary"},
            "deadline": "20s",
        },
    )
    assert outcome.status == "pass", outcome.message
    assert "finished" in outcome.message and "via arq" in outcome.message


def test_job_round_trip_through_the_api(arq_stack: Stack) -> None:
    outcome = check(
        job.KIND,
        {
            "via": "http",
            "framework": "arq",
            "redis_url": REDIS,
            "enqueue_url": f"{WEB}/tasks",
            "body": {"function": "send_email", "args": ["ops@example.com"]},
            "status_url": f"{WEB}/tasks/{{id}}",
            "done": ["complete"],
            "deadline": "20s",
        },
    )
    assert outcome.status == "pass", outcome.message


def test_unknown_function_is_an_error(arq_stack: Stack) -> None:
    outcome = check(
        job.KIND, {"via": "arq", "redis_url": REDIS, "task": "no_such_job", "deadline": "20s"}
    )
    assert outcome.status == "error", outcome.message
    assert "no such function" in outcome.message
    assert "WorkerSettings.functions" in outcome.message


def test_failing_job_fails_with_its_exception(arq_stack: Stack) -> None:
    outcome = check(job.KIND, {"via": "arq", "redis_url": REDIS, "task": "fail", "deadline": "20s"})
    assert outcome.status == "fail", outcome.message
    assert "this job always fails" in outcome.message


@pytest.mark.parametrize("other", ["rq", "celery", "dramatiq"])
def test_arq_queue_read_as_another_framework_is_an_error(arq_stack: Stack, other: str) -> None:
    url = {"redis_url": REDIS} if other == "rq" else {"broker_url": REDIS}
    outcome = check(queue.KIND, {"framework": other, **url, "queue": "arq:queue", "min_workers": 1})
    assert outcome.status == "error", outcome.message
    assert "this looks like an arq queue, set framework: arq" in outcome.message


def test_rq_queue_read_as_arq_is_an_error(arq_stack: Stack) -> None:
    with adapter_for("rq", REDIS) as rq:
        rq.enqueue("app.jobs.nothing", queue="reports")
    try:
        outcome = check(
            queue.KIND, {"framework": "arq", "redis_url": REDIS, "queue": "reports", "max_depth": 0}
        )
        assert outcome.status == "error", outcome.message
        assert "this looks like an RQ queue, set framework: rq" in outcome.message
    finally:
        with adapter_for("rq", REDIS) as rq:
            keys = list(rq.client.scan_iter(match="rq:*"))
            if keys:
                rq.client.delete(*keys)


def test_queue_with_its_worker_stopped_fails(engine_client: DockerClient, arq_stack: Stack) -> None:
    worker = arq_stack.container(engine_client, "worker")
    worker.stop(timeout=10)  # a graceful stop: arq deletes its health-check key
    try:
        outcome = check(queue.KIND, {"framework": "arq", "redis_url": REDIS, "min_workers": 1})
        assert outcome.status == "fail", outcome.message
        assert "0 live workers, expected at least 1" in outcome.message
    finally:
        worker.start()
        arq_stack.wait_ready(engine_client)
        worker_live()


DRILL = {
    "via": "arq",
    "redis_url": REDIS,
    "task": "sleep",
    "seconds": 5,
    "stop_after": 1,
    "deadline": "40s",
    "project": PROJECT,
}


def test_shutdown_drill_job_cancelled_and_run_again(arq_stack: Stack) -> None:
    outcome = check(shutdown.KIND, DRILL)
    assert outcome.status == "pass", f"{outcome.message}\n{outcome.output}"
    assert "re-queued and finished after the restart" in outcome.message


def test_shutdown_drill_loses_the_job_with_retry_jobs_off(
    engine_client: DockerClient, arq_stack: Stack
) -> None:
    recreate(engine_client, arq_stack, "worker", ARQ_RETRY_JOBS="0")
    worker_live()
    try:
        outcome = check(shutdown.KIND, DRILL)
        assert outcome.status == "fail", f"{outcome.message}\n{outcome.output}"
        assert "was lost: it ended failed" in outcome.message
        assert "retry_jobs=True" in outcome.message
    finally:
        recreate(engine_client, arq_stack, "worker")
        worker_live()


def test_kill_drill_job_run_again_after_job_timeout(
    engine_client: DockerClient, arq_stack: Stack
) -> None:
    recreate(engine_client, arq_stack, "worker", ARQ_JOB_TIMEOUT="8")
    worker_live()
    try:
        outcome = check(shutdown.KIND, {**DRILL, "kill": True, "deadline": "45s"})
        assert outcome.status == "pass", f"{outcome.message}\n{outcome.output}"
        assert "redelivered and finished after the SIGKILL" in outcome.message
    finally:
        recreate(engine_client, arq_stack, "worker")
        worker_live()


def test_broker_restart_loses_no_arq_job(arq_stack: Stack) -> None:
    outcome = check(
        broker_restart.KIND,
        {
            "framework": "arq",
            "redis_url": REDIS,
            "task": "canary",
            "sleep_task": "sleep",
            "seconds": 3,
            "waiting": 2,
            "project": PROJECT,
            "deadline": "60s",
        },
    )
    assert outcome.status == "pass", f"{outcome.message}\n{outcome.output}"
    assert "appendonly yes" in outcome.message


LIMITS = {"framework": "arq", "redis_url": REDIS, "task": "sleep", "args": [2]}


def test_worker_limits_read_from_a_job_arq_ran(arq_stack: Stack) -> None:
    outcome = check(worker_limits.KIND, {**LIMITS, "time_limit": "10m", "result_ttl": "2h"})
    assert outcome.status == "pass", outcome.message
    assert "job_timeout 5m" in outcome.message and "keep_result 60m" in outcome.message


def test_worker_limits_too_long_a_job_timeout_fails(arq_stack: Stack) -> None:
    outcome = check(worker_limits.KIND, {**LIMITS, "time_limit": "1m"})
    assert outcome.status == "fail", outcome.message
    assert "job_timeout 5m, expected at most 60s" in outcome.message


def _cron_workers(engine_client: DockerClient, stack: Stack, unique: str) -> Stack:
    """Two workers that both run the sample's cron job (every 10 s)."""
    with adapter_for("arq", REDIS) as arq:  # a clean slate: no earlier cron results
        keys = list(arq.client.scan_iter(match="arq:result:*"))
        if keys:
            arq.client.delete(*keys)
    changed = Stack(stack.project, stack.files, {**stack.variables, "ARQ_CRON": "1"})
    changed.variables["ARQ_CRON_UNIQUE"] = unique
    changed.compose("up", "-d", "--no-build", "--scale", "worker=2", "worker")
    changed.wait_ready(engine_client)
    return changed


def _scheduler_verdict(want: str) -> Any:
    options = {"framework": "arq", "redis_url": REDIS}

    def settled() -> Any:
        outcome = check(scheduler.KIND, options)
        runs = outcome.message.split(" cron run")[0]
        return outcome if outcome.status == want and runs.isdigit() and int(runs) >= 2 else None

    return wait_for(f"scheduler {want}", settled, 45.0, interval_s=2.0)


def test_scheduler_arq_unique_cron_runs_once_per_tick(
    engine_client: DockerClient, arq_stack: Stack
) -> None:
    _cron_workers(engine_client, arq_stack, unique="1")
    try:
        outcome = _scheduler_verdict("pass")
        assert "of cron:report: each tick ran once" in outcome.message
    finally:
        arq_stack.compose("up", "-d", "--no-build", "--scale", "worker=1", "worker")
        worker_live()


def test_scheduler_arq_cron_without_unique_runs_twice(
    engine_client: DockerClient, arq_stack: Stack
) -> None:
    _cron_workers(engine_client, arq_stack, unique="0")
    try:
        outcome = _scheduler_verdict("fail")
        assert "cron:report ran 2 times" in outcome.message
        assert "unique=True" in outcome.message
    finally:
        arq_stack.compose("up", "-d", "--no-build", "--scale", "worker=1", "worker")
        worker_live()
