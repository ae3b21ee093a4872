"""The broker-restart, worker-limits and scheduler drills against the real RQ stack
(docker/compose.yaml), each with a passing case and a failing one made by a test-only override
(docker/overrides/drill2.yaml and the overrides on top of it).

Compose project ``jc-drill2-rq`` on 127.0.0.1:18600 (API) and :16600 (Redis), brought up once
for the module and removed with its volume at the end. The broker restarts come last.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds import broker_restart, scheduler, worker_limits
from jobcheck.results import Outcome, Status

from ._compose import DOCKER, Stack, env_file_values, request, wait_for
from ._drills import TIMINGS, expect, override, redis_answers, run_kind, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PROJECT = os.environ.get("JOBCHECK_ITEST_DRILLS2_RQ_PROJECT", "jc-drill2-rq")
API_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS2_RQ_API_PORT", "18600")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS2_RQ_REDIS_PORT", "16600")
API = f"http://127.0.0.1:{API_PORT}"
PASSWORD = env_file_values(DOCKER / "staging.env")["REDIS_PASSWORD"]
REDIS = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
NAME = rf"{PROJECT}[_-]{{}}[_-]1"
BASE = override("overrides", "drill2.yaml")


@pytest.fixture(scope="module")
def stack(engine_client: DockerClient) -> Iterator[Stack]:
    files = [DOCKER / "compose.yaml", BASE]
    ports = {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT}
    with stack_up(engine_client, Stack(PROJECT, files, ports)) as up:
        yield up
    print("\ndrill wall times (RQ): " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def configured(stack: Stack, sdk: DockerClient, *extra: str, fresh: bool = False) -> None:
    """The stack with these overrides on top of drill2.yaml (services recreated only where
    their configuration changed, every one with ``fresh``; orphans removed), and healthy."""
    with_extra = stack.with_files(BASE, *(override("overrides", name) for name in extra))
    up(with_extra, fresh)
    with_extra.wait_ready(sdk)
    redis_answers(REDIS)


def up(stack: Stack, fresh: bool) -> None:
    """A Redis replaced by a new container (another address) sends the worker no reset: RQ's
    blocking dequeue, without a socket timeout, would wait on the old connection forever. So
    when Redis is recreated, every service is. Stopped first, while their Redis still runs: the
    workers deregister there (Compose v2 recreates Redis before the workers, whose names would
    then stay registered in the Redis they leave, and a later Redis reloading that data refuses
    the new `scheduler-a`: "There exists an active worker named 'scheduler-a' already")."""
    if fresh:
        stack.compose("stop")
        stack.compose("up", "-d", "--no-build", "--remove-orphans", "--force-recreate")
    else:
        stack.up()


def check(kind: Any, options: dict[str, Any], stack: Stack, label: str, **kw: Any) -> Outcome:
    kw.setdefault("timeout_s", 400.0)  # the drills' own bounds decide, not the attempt's
    return run_kind(kind, options, stack, secrets=[PASSWORD], label=label, **kw)


def canary_through_the_api() -> None:
    """A job of the API's, finished (so it is in a registry, not between two)."""
    answer = request(f"{API}/jobs/canary", data=b"")
    assert answer.status == 202, answer
    job = answer.body["id"]
    wait_for(
        f"canary {job} finished",
        lambda: True if request(f"{API}/jobs/{job}").body.get("status") == "finished" else None,
        30,
    )


# --- single scheduler --------------------------------------------------------------------------

SCHEDULER = {"framework": "rq", "redis_url": REDIS, "max": 1}


def test_scheduler_passes_with_one_rq_scheduler(stack: Stack) -> None:
    outcome = check(scheduler.KIND, SCHEDULER, stack, "scheduler rq pass")
    expect(
        outcome,
        Status.PASS,
        rf"1 scheduler in '{PROJECT}': {NAME.format('scheduler')}: `.*rq worker "
        r"--with-scheduler --name scheduler-a scheduled`; rq:scheduler-lock:scheduled held by "
        rf"{NAME.format('scheduler')} pid \d+ \(at most 1\)",
    )


def test_scheduler_fails_with_two_rq_schedulers(stack: Stack, engine_client: DockerClient) -> None:
    configured(stack, engine_client, "two-schedulers.yaml")
    try:
        outcome = check(scheduler.KIND, SCHEDULER, stack, "scheduler rq fail")
    finally:
        configured(stack, engine_client)
    expect(
        outcome,
        Status.FAIL,
        rf"2 schedulers in '{PROJECT}': {NAME.format('scheduler')}: `.*--name scheduler-a "
        rf"scheduled`; {NAME.format('scheduler-2')}: `.*--name scheduler-b scheduled`; "
        rf"rq:scheduler-lock:scheduled held by {NAME.format('scheduler(-2)?')} pid \d+; "
        r"expected at most 1: .*",
    )


# --- time limits -------------------------------------------------------------------------------

LIMITS = {
    "framework": "rq",
    "redis_url": REDIS,
    "time_limit": "5m",
    "result_ttl": "required",
    "failure_ttl": "required",
}


def test_worker_limits_pass_on_the_staging_jobs(stack: Stack) -> None:
    canary_through_the_api()
    outcome = check(worker_limits.KIND, LIMITS, stack, "worker_limits rq pass")
    expect(
        outcome,
        Status.PASS,
        r"\d+ jobs? of 'default' read: timeout 30s(\.\.\S+)?, result_ttl 60m, failure_ttl 24h",
    )


def test_worker_limits_fail_when_jobs_have_no_time_limit(
    stack: Stack, engine_client: DockerClient
) -> None:
    configured(stack, engine_client, "no-time-limit.yaml")
    try:
        canary_through_the_api()
        outcome = check(worker_limits.KIND, {**LIMITS, "sample": 1}, stack, "worker_limits rq fail")
    finally:
        configured(stack, engine_client)
    expect(
        outcome,
        Status.FAIL,
        r"limits of the RQ jobs on 'default': 1 finding \(1 time_limit\), expected none",
    )
    assert re.search(
        r"timeout none \(-1\), expected at most 5m on 1 job \(app\.jobs\.canary\)",
        outcome.message,
    ), outcome.message


def test_worker_limits_error_without_jobs_to_read(stack: Stack) -> None:
    outcome = check(
        worker_limits.KIND, {**LIMITS, "queue": "nothing-here"}, stack, "worker_limits rq error"
    )
    expect(
        outcome,
        Status.ERROR,
        r"worker limits on 'nothing-here': queue 'nothing-here' has no job to read limits "
        r"from .*",
    )


# --- broker restart (last: it restarts Redis) ---------------------------------------------------

RESTART = {
    "framework": "rq",
    "redis_url": REDIS,
    "task": "app.jobs.canary",
    "sleep_task": "app.jobs.sleep",
    "seconds": 4,
    "waiting": 3,
    "deadline": "60s",
    # A loaded 2-core machine runs the healthchecks (a Python process each) slowly.
    "worker_ready": "3m",
}


def test_broker_restart_passes_with_an_append_only_redis(stack: Stack) -> None:
    outcome = check(broker_restart.KIND, RESTART, stack, "broker_restart rq pass")
    expect(
        outcome,
        Status.PASS,
        r"redis restarted: workers reconnected, canary finished \S+ after the broker was back; "
        r"3 of 3 waiting jobs still there \(3 finished\); the running job: \w+; Redis has "
        r"appendonly yes \(appendfsync everysec\) and save ''",
    )


def test_broker_restart_fails_when_redis_keeps_nothing(
    stack: Stack, engine_client: DockerClient
) -> None:
    configured(stack, engine_client, "redis-no-persistence.yaml", fresh=True)
    try:
        outcome = check(broker_restart.KIND, RESTART, stack, "broker_restart rq fail")
    finally:
        configured(stack, engine_client, fresh=True)
    expect(
        outcome,
        Status.FAIL,
        r"3 of 3 waiting jobs gone after the restart: Redis has appendonly no and save ''; "
        r".*to fix: give the broker persistence .*",
    )
