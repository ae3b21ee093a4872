"""The broker-restart, worker-limits and scheduler drills against the real Celery stack
(docker/celery/compose.yaml), each with a passing case and a failing one made by a test-only
override (docker/celery/overrides/drill2.yaml and the overrides on top of it).

Compose project ``jc-drill2-celery`` on 127.0.0.1:18700 (API), :16700 (Redis) and, for the
AMQP broker, :15673 (RabbitMQ); brought up once for the module and removed with its volumes at
the end. The broker restarts come last, the RabbitMQ one at the very end.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from jobcheck.kinds import broker_restart, scheduler, worker_limits
from jobcheck.results import Outcome, Status
from jobcheck.scaffold import capabilities
from jobcheck.scaffold.detect import detect
from jobcheck.scaffold.render import render
from jobcheck.scaffold.setting import Setting

from ._compose import DOCKER, Stack, env_file_values, rabbitmq_base
from ._drills import TIMINGS, amqp_answers, expect, redis_answers, run_kind, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

CELERY = DOCKER / "celery"
OVERRIDES = CELERY / "overrides"
BASE = OVERRIDES / "drill2.yaml"
PROJECT = os.environ.get("JOBCHECK_ITEST_DRILLS2_CELERY_PROJECT", "jc-drill2-celery")
API_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS2_CELERY_API_PORT", "18700")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS2_CELERY_REDIS_PORT", "16700")
AMQP_PORT = os.environ.get("JOBCHECK_ITEST_DRILLS2_CELERY_AMQP_PORT", "15673")
PASSWORD = env_file_values(CELERY / "staging.env")["REDIS_PASSWORD"]
AMQP_PASSWORD = env_file_values(OVERRIDES / "amqp.env")["RABBITMQ_PASSWORD"]
BROKER = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
BACKEND = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/1"
AMQP = f"amqp://jobcheck:{AMQP_PASSWORD}@127.0.0.1:{AMQP_PORT}//"
NAME = rf"{PROJECT}[_-]{{}}[_-]1"
WORKER = r"celery@[0-9a-f]{12}"


@pytest.fixture(scope="module")
def stack(engine_client: DockerClient) -> Iterator[Stack]:
    files = [CELERY / "compose.yaml", BASE]
    ports = {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT, "AMQP_PORT": AMQP_PORT}
    with stack_up(engine_client, Stack(PROJECT, files, ports)) as up:
        yield up
    print("\ndrill wall times (Celery): " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def configured(stack: Stack, sdk: DockerClient, *extra: Any, fresh: bool = False) -> None:
    """The stack with these overrides (names in docker/celery/overrides/, or paths) on top of
    drill2.yaml, changed services recreated, orphans removed, and healthy."""
    files = [
        extra_file if not isinstance(extra_file, str) else OVERRIDES / extra_file
        for extra_file in extra
    ]
    with_extra = stack.with_files(BASE, *files)
    if fresh:  # Redis recreated: the workers too, on fresh connections
        with_extra.compose("up", "-d", "--no-build", "--remove-orphans", "--force-recreate")
    else:
        with_extra.up()
    with_extra.wait_ready(sdk)
    redis_answers(BROKER)


def check(kind: Any, options: dict[str, Any], stack: Stack, label: str, **kw: Any) -> Outcome:
    kw.setdefault("timeout_s", 400.0)  # the drills' own bounds decide, not the attempt's
    return run_kind(kind, options, stack, secrets=[PASSWORD, AMQP_PASSWORD], label=label, **kw)


# --- single scheduler --------------------------------------------------------------------------

SCHEDULER = {"framework": "celery", "max": 1}
BEAT = r"`/opt/venv/bin/python3? /opt/venv/bin/celery -A app\.celery_app beat .*`"


def test_scheduler_passes_with_one_beat(stack: Stack) -> None:
    outcome = check(scheduler.KIND, SCHEDULER, stack, "scheduler celery pass")
    expect(
        outcome,
        Status.PASS,
        rf"1 scheduler in '{PROJECT}': {NAME.format('beat')}: {BEAT}; Celery beat keeps no "
        r"lock: every beat sends every periodic task \(at most 1\)",
    )


def test_scheduler_fails_with_two_beats(stack: Stack, engine_client: DockerClient) -> None:
    configured(stack, engine_client, "two-schedulers.yaml")
    try:
        outcome = check(scheduler.KIND, SCHEDULER, stack, "scheduler celery fail")
    finally:
        configured(stack, engine_client)
    expect(
        outcome,
        Status.FAIL,
        rf"2 schedulers in '{PROJECT}': {NAME.format('beat')}: {BEAT}; "
        rf"{NAME.format('beat-2')}: {BEAT}; Celery beat keeps no lock: every beat sends every "
        r"periodic task; expected at most 1: .*",
    )


# --- time limits -------------------------------------------------------------------------------

LIMITS = {
    "framework": "celery",
    "broker_url": BROKER,
    "time_limit": "required",
    "soft_time_limit": "required",
    "max_prefetch": 1,
}


def test_worker_limits_pass_on_the_staging_worker(stack: Stack) -> None:
    outcome = check(worker_limits.KIND, LIMITS, stack, "worker_limits celery pass")
    expect(
        outcome,
        Status.PASS,
        rf"1 worker on 'celery': {WORKER}: time limit 30s \(soft 28s\), max tasks per child "
        r"none, max memory per child none, prefetch multiplier 1 x concurrency 1, prefetch "
        r"count 1",
    )


def test_the_limits_check_init_writes_for_this_app_passes(stack: Stack, tmp_path: Path) -> None:
    """`jobcheck init` on the Celery app (its limits come from settings at run time): a
    blocker asking for both limits, which passes on the running workers."""
    root = Path(shutil.copytree(CELERY, tmp_path / "celery"))
    drafted = render(Setting(detect(root, {}), capabilities()))
    limits = {c["id"]: c for c in yaml.safe_load(drafted)["checks"]}["worker-limits"]
    assert "severity" not in limits
    options = {**limits["with"], "broker_url": BROKER}  # ${stack.redis.6379}: this stack's port
    assert options == {
        "framework": "celery", "broker_url": BROKER, "queue": "celery",
        "time_limit": "required", "soft_time_limit": "required",
    }  # fmt: skip
    outcome = check(worker_limits.KIND, options, stack, "worker_limits celery init")
    expect(
        outcome,
        Status.PASS,
        rf"1 worker on 'celery': {WORKER}: time limit 30s \(soft 28s\), max tasks per child "
        r"none, max memory per child none, prefetch multiplier 1 x concurrency 1, prefetch "
        r"count 1",
    )


def test_worker_limits_fail_without_a_time_limit(stack: Stack, engine_client: DockerClient) -> None:
    configured(stack, engine_client, "no-time-limit.yaml")
    try:
        outcome = check(worker_limits.KIND, LIMITS, stack, "worker_limits celery fail")
    finally:
        configured(stack, engine_client)
    expect(
        outcome,
        Status.FAIL,
        r"limits of the Celery workers on 'celery': 2 findings \(1 soft_time_limit, "
        r"1 time_limit\), expected none",
    )
    assert re.search(
        rf"{WORKER}: time limit unset \(task_time_limit is None: a stuck task holds its worker "
        r"process forever\), expected one",
        outcome.message,
    ), outcome.message


def test_worker_limits_error_when_no_worker_answers(stack: Stack) -> None:
    outcome = check(
        worker_limits.KIND, {**LIMITS, "queue": "nobody"}, stack, "worker_limits celery error"
    )
    assert outcome.status is Status.FAIL, outcome.message
    assert re.fullmatch(
        r"worker limits on 'nobody': none of the 1 live Celery workers \(.*\) consumes queue "
        r"'nobody' on Redis at 127\.0\.0\.1:\d+/0",
        outcome.message,
    ), outcome.message


# --- broker restart (last: it restarts Redis, then RabbitMQ) -----------------------------------

RESTART = {
    "framework": "celery",
    "broker_url": BROKER,
    "backend_url": BACKEND,
    "task": "app.tasks.canary",
    "sleep_task": "app.tasks.sleep",
    "seconds": 4,
    "waiting": 3,
    "deadline": "60s",
    # A loaded 2-core machine runs the healthchecks (a Python process each) slowly.
    "worker_ready": "3m",
}


def test_broker_restart_passes_with_an_append_only_redis(stack: Stack) -> None:
    outcome = check(broker_restart.KIND, RESTART, stack, "broker_restart celery pass")
    expect(
        outcome,
        Status.PASS,
        r"redis restarted: workers reconnected, canary finished \S+ after the broker was back; "
        r"3 of 3 waiting jobs still there \(.*\); the running job: \w+; Redis has "
        r"appendonly yes \(appendfsync everysec\) and save ''",
    )


def test_broker_restart_fails_when_redis_keeps_nothing(
    stack: Stack, engine_client: DockerClient
) -> None:
    configured(stack, engine_client, DOCKER / "overrides" / "redis-no-persistence.yaml", fresh=True)
    try:
        outcome = check(broker_restart.KIND, RESTART, stack, "broker_restart celery fail")
    finally:
        configured(stack, engine_client, fresh=True)
    expect(
        outcome,
        Status.FAIL,
        r"[1-3] of 3 waiting jobs gone after the restart: Redis has appendonly no and save ''; "
        r".*to fix: give the broker persistence .*",
    )


# --- broker restart on RabbitMQ (overrides/amqp.yaml) ------------------------------------------

AMQP_RESTART = {
    **RESTART,
    "broker_url": AMQP,
    "service": "rabbitmq",
    "broker_ready": "2m",
    "deadline": "90s",
}


def on_rabbitmq(stack: Stack, sdk: DockerClient, *extra: str) -> None:
    """The broker moved to RabbitMQ (Redis stays the result backend), every service fresh."""
    amqp = Stack(
        stack.project,
        [CELERY / "compose.yaml", BASE, OVERRIDES / "amqp.yaml", *(OVERRIDES / e for e in extra)],
        {**stack.variables, "RABBITMQ_IMAGE": rabbitmq_base()},
    )
    amqp.build("rabbitmq")  # a cache hit, unless no module has built it on this machine yet
    amqp.compose("up", "-d", "--no-build", "--remove-orphans", "--force-recreate")
    amqp.wait_ready(sdk)
    amqp_answers(AMQP_PORT)
    redis_answers(BROKER)


def test_broker_restart_passes_on_rabbitmq_with_persistent_messages(
    stack: Stack, engine_client: DockerClient
) -> None:
    on_rabbitmq(stack, engine_client)
    outcome = check(broker_restart.KIND, AMQP_RESTART, stack, "broker_restart amqp pass")
    expect(
        outcome,
        Status.PASS,
        r"rabbitmq restarted: workers reconnected, canary finished \S+ after the broker was "
        r"back; 3 of 3 waiting jobs still there \(3 finished\); the running job: \w+; queue "
        r"'celery' is durable, task messages are persistent",
    )


def test_broker_restart_fails_on_rabbitmq_with_transient_messages(
    stack: Stack, engine_client: DockerClient
) -> None:
    on_rabbitmq(stack, engine_client, "amqp-transient.yaml")
    try:
        outcome = check(broker_restart.KIND, AMQP_RESTART, stack, "broker_restart amqp fail")
    finally:
        configured(stack, engine_client, fresh=True)
    expect(
        outcome,
        Status.FAIL,
        r"[1-3] of 3 waiting jobs not seen again after the restart \(still queued, and the broker "
        r"cannot be searched for them\): queue 'celery' is durable, task messages are not "
        r"persistent \(delivery mode transient\); .*",
    )
