"""The release drills against the real RQ stack (docker/compose.yaml), each with a passing case
on the staging services and a failing one made by a test-only override
(docker/overrides/itest-drills*.yaml).

Compose project ``jobcheck-itest-drills-rq`` on 127.0.0.1:18400 (API) and :16400 (Redis),
brought up once for the module and removed with its volume at the end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds import shutdown, stop_config
from jobcheck.results import Outcome, Status

from ._compose import DOCKER, Stack, env_file_values
from ._drills import TIMINGS, expect, override, run_kind, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PROJECT = os.environ.get("JOBCHECK_ITEST_DRILLS_RQ_PROJECT", "jobcheck-itest-drills-rq")
API_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS_RQ_API_PORT", "18400")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS_RQ_REDIS_PORT", "16400")
API = f"http://127.0.0.1:{API_PORT}"
PASSWORD = env_file_values(DOCKER / "staging.env")["REDIS_PASSWORD"]
REDIS = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
NAME = rf"{PROJECT}[_-]{{}}[_-]1"


@pytest.fixture(scope="module")
def stack(engine_client: DockerClient) -> Iterator[Stack]:
    files = [DOCKER / "compose.yaml", override("overrides", "itest-drills.yaml")]
    with stack_up(engine_client, Stack(PROJECT, files, ports())) as up:
        yield up
    print("\ndrill wall times (RQ): " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def ports() -> dict[str, str]:
    return {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT}


def check(kind: Any, options: dict[str, Any], stack: Stack, label: str, **kw: Any) -> Outcome:
    return run_kind(kind, options, stack, secrets=[PASSWORD], label=label, **kw)


# --- 3. stop configuration ---------------------------------------------------------------------


def test_stop_config_passes_on_the_staging_worker(stack: Stack) -> None:
    options = {"service": "worker", "max_task_duration": "25s"}
    expect(
        check(stop_config.KIND, options, stack, "stop_config rq pass"),
        Status.PASS,
        r"worker stops cleanly \(1 container\): SIGTERM, grace 30s, PID 1 "
        r"`python -m app\.worker` >= longest task 25s",
    )


def test_stop_config_fails_on_a_worker_behind_a_shell(stack: Stack) -> None:
    outcome = check(stop_config.KIND, {"service": "worker-shell"}, stack, "stop_config rq fail")
    expect(
        outcome,
        Status.FAIL,
        r"stop configuration of 'worker-shell': 1 finding \(1 pid1\), expected none",
    )
    assert re.search(
        NAME.format("worker-shell")
        + r": PID 1 is a shell \(`sh -c python -m app\.worker; echo 'worker exited'`\): "
        r"`docker stop` signals the shell, which does not pass SIGTERM on",
        outcome.message,
    ), outcome.message


def test_stop_config_fails_when_the_grace_is_shorter_than_the_longest_task(stack: Stack) -> None:
    outcome = check(
        stop_config.KIND,
        {"service": "worker", "max_task_duration": "2m"},
        stack,
        "stop_config rq grace",
    )
    expect(outcome, Status.FAIL, r".*1 finding \(1 stop_grace_period\), expected none")
    assert "stop_grace_period 30s is shorter than the longest task (2m)" in outcome.message


# --- 1. hard kill (last: a killed job stays claimed for a minute) ------------------------------

SLEEP = {
    "service": "worker",
    "via": "http",
    "enqueue_url": f"{API}/jobs/sleep?seconds={{seconds}}",
    "status_url": f"{API}/jobs/{{id}}",
    "redis_url": REDIS,
    "seconds": 4,
    "stop_after": "1s",
    "kill": True,
}
JOB = r"job [0-9a-f-]{36} \(sleep 4s\)"


def test_hard_kill_passes_the_job_is_swept_and_retried(stack: Stack) -> None:
    """The API enqueues with Retry(max=2): once the killed worker's claim expired (heartbeat
    TTL 65 s here) the restarted worker's maintenance re-queues the job, which finishes."""
    outcome = check(shutdown.KIND, {**SLEEP, "deadline": "100s"}, stack, "kill rq pass")
    expect(
        outcome,
        Status.PASS,
        rf"{JOB} was redelivered and finished after the SIGKILL \(\d+\.\ds after it was "
        r"queued\); worker healthy again \S+ after the restart",
    )


def test_hard_kill_fails_when_the_job_stays_claimed_past_the_bound(stack: Stack) -> None:
    outcome = check(shutdown.KIND, {**SLEEP, "deadline": "12s"}, stack, "kill rq fail")
    expect(
        outcome,
        Status.FAIL,
        rf"{JOB} is stuck started \d+\.\ds after it was queued, neither redelivered nor failed: "
        r"still claimed in RQ's StartedJobRegistry by the killed worker \(its entry has not "
        r"expired; .*\); worker healthy again \S+ after the restart; to fix: enqueue with Retry .*",
    )
