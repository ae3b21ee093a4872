"""The release drills against the real Celery stack (docker/celery/compose.yaml), each with a
passing case and a failing one made by a test-only override (docker/celery/overrides/).

Compose project ``jobcheck-itest-drills-celery`` on 127.0.0.1:18500 (API) and :16500 (Redis),
brought up once for the module and removed with its volume at the end. Tests that need another
worker configuration recreate only the worker, and the ones on the staging worker run first.
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
from ._drills import TIMINGS, expect, run_kind, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

CELERY = DOCKER / "celery"
OVERRIDES = CELERY / "overrides"
PROJECT = os.environ.get("JOBCHECK_ITEST_DRILLS_CELERY_PROJECT", "jobcheck-itest-drills-celery")
API_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS_CELERY_API_PORT", "18500")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS_CELERY_REDIS_PORT", "16500")
API = f"http://127.0.0.1:{API_PORT}"
PASSWORD = env_file_values(CELERY / "staging.env")["REDIS_PASSWORD"]
BROKER = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
BACKEND = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/1"
NAME = rf"{PROJECT}[_-]{{}}[_-]1"
JOB = r"job [0-9a-f-]{36} \(sleep 4s\)"
SLEEP = {
    "service": "worker",
    "via": "celery",
    "task": "app.tasks.sleep",
    "broker_url": BROKER,
    "backend_url": BACKEND,
    "queue": "celery",
    "seconds": 4,
    "stop_after": "1s",
}


@pytest.fixture(scope="module")
def stack(engine_client: DockerClient) -> Iterator[Stack]:
    files = [CELERY / "compose.yaml", OVERRIDES / "itest-drills.yaml"]
    ports = {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT}
    with stack_up(engine_client, Stack(PROJECT, files, ports)) as up:
        yield up
    print("\ndrill wall times (Celery): " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def worker_with(stack: Stack, sdk: DockerClient, *overrides: str) -> None:
    """The worker recreated (only when its configuration changed) with these overrides on top
    of the drills' own, and healthy."""
    configured = stack.with_files(
        OVERRIDES / "itest-drills.yaml", *(OVERRIDES / o for o in overrides)
    )
    configured.up()
    configured.wait_ready(sdk)


def check(kind: Any, options: dict[str, Any], stack: Stack, label: str, **kw: Any) -> Outcome:
    return run_kind(kind, options, stack, secrets=[PASSWORD], label=label, **kw)


# --- 3. stop configuration ---------------------------------------------------------------------


def test_stop_config_passes_on_the_staging_worker(stack: Stack) -> None:
    options = {"service": "worker", "max_task_duration": "25s"}
    expect(
        check(stop_config.KIND, options, stack, "stop_config celery pass"),
        Status.PASS,
        r"worker stops cleanly \(1 container\): SIGTERM, grace 30s, PID 1 "
        r"`/opt/venv/bin/python3? /opt/venv/bin/celery -A app\.celery_...` "
        r">= longest task 25s",
    )


def test_stop_config_fails_on_a_worker_behind_a_shell(stack: Stack) -> None:
    outcome = check(stop_config.KIND, {"service": "worker-shell"}, stack, "stop_config celery fail")
    expect(
        outcome,
        Status.FAIL,
        r"stop configuration of 'worker-shell': 1 finding \(1 pid1\), expected none",
    )
    assert re.search(
        NAME.format("worker-shell") + r": PID 1 is a shell \(`sh -c celery -A app\.celery_app "
        r"worker -Q wrapped .*`\): `docker stop` signals the shell",
        outcome.message,
    ), outcome.message


# --- 1. hard kill ------------------------------------------------------------------------------


def test_hard_kill_fails_with_acks_early_the_task_is_silently_lost(
    stack: Stack, engine_client: DockerClient
) -> None:
    """Celery's default (staging): the message is acknowledged on receipt, so a SIGKILL
    leaves nothing anywhere: no message, no result."""
    worker_with(stack, engine_client)
    outcome = check(
        shutdown.KIND, {**SLEEP, "kill": True, "deadline": "12s"}, stack, "kill celery fail"
    )
    expect(
        outcome,
        Status.FAIL,
        rf"{JOB} was silently lost after the SIGKILL: gone: no message in the broker "
        r"\(acknowledged when the worker received it\), no result \(\d+\.\ds after it was "
        r"queued\); worker healthy again \S+ after the restart; to fix: set "
        r"task_acks_late=True and task_reject_on_worker_lost=True, and a broker "
        r"visibility_timeout shorter than the bound \(Redis\)",
    )


def test_hard_kill_passes_with_acks_late_the_task_is_redelivered(
    stack: Stack, engine_client: DockerClient
) -> None:
    worker_with(stack, engine_client, "acks-late.yaml")
    outcome = check(
        shutdown.KIND, {**SLEEP, "kill": True, "deadline": "40s"}, stack, "kill celery pass"
    )
    expect(
        outcome,
        Status.PASS,
        rf"{JOB} was redelivered and finished after the SIGKILL \(\d+\.\ds after it was "
        r"queued\); worker healthy again \S+ after the restart",
    )
