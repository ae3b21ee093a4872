"""Dramatiq on a real engine: the Flask + Dramatiq sample (docker/samples/flask-dramatiq) as
compose project ``jc-h23-dramatiq-itest`` on 127.0.0.1:25180 (API) and :25479 (Redis: broker and
Results backend), and on RabbitMQ (overrides/rabbitmq.yaml) as ``jc-h23-dramatiq-amqp-itest`` on
:25181, :25480 and :25672 (AMQP); jobcheck's kinds with ``framework: dramatiq`` /
``via: dramatiq`` against them, each pass and fail.

Ports and projects come from JOBCHECK_ITEST_DRAMATIQ_*; the image is
``jobcheck/sample-flask-dramatiq:staging`` unless JOBCHECK_ITEST_DRAMATIQ_IMAGE names another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds import broker_restart, job, queue, scheduler, shutdown, worker_limits
from jobcheck.probes.framework import adapter_for

from ._compose import Stack, env_file_values, rabbitmq_base, wait_for
from ._framework_stacks import recreate, run_check, sample, stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SAMPLE = sample("flask-dramatiq")
ENV = os.environ.get
PROJECT = ENV("JOBCHECK_ITEST_DRAMATIQ_PROJECT", "jc-h23-dramatiq-itest")
AMQP_PROJECT = ENV("JOBCHECK_ITEST_DRAMATIQ_AMQP_PROJECT", "jc-h23-dramatiq-amqp-itest")
API_PORT = ENV("JOBCHECK_ITEST_DRAMATIQ_API_PORT", "25180")
REDIS_PORT = ENV("JOBCHECK_ITEST_DRAMATIQ_REDIS_PORT", "25479")
AMQP_API_PORT = ENV("JOBCHECK_ITEST_DRAMATIQ_AMQP_API_PORT", "25181")
AMQP_REDIS_PORT = ENV("JOBCHECK_ITEST_DRAMATIQ_AMQP_REDIS_PORT", "25480")
AMQP_PORT = ENV("JOBCHECK_ITEST_DRAMATIQ_AMQP_PORT", "25672")
IMAGE = ENV("JOBCHECK_ITEST_DRAMATIQ_IMAGE", "jobcheck/sample-flask-dramatiq:staging")
PASSWORD = env_file_values(SAMPLE / "staging.env")["REDIS_PASSWORD"]
AMQP_PASSWORD = env_file_values(SAMPLE / "overrides" / "rabbitmq.env")["RABBITMQ_PASSWORD"]
BROKER = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
RESULTS = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/1"
AMQP = f"amqp://jobcheck:{AMQP_PASSWORD}@127.0.0.1:{AMQP_PORT}/%2F"
AMQP_RESULTS = f"redis://:{PASSWORD}@127.0.0.1:{AMQP_REDIS_PORT}/1"
WEB = f"http://127.0.0.1:{API_PORT}"
LIVE_WINDOW_S = 10.0  # dramatiq_adapter.LIVE_WINDOW_S: a stopped worker's heartbeat ages out


def check(kind: Any, options: dict[str, Any]) -> Any:
    return run_check(kind, options, [PASSWORD, AMQP_PASSWORD])


def worker_live(url: str = BROKER) -> None:
    def live() -> bool | None:
        with adapter_for("dramatiq", url) as dramatiq:
            return True if dramatiq.live_workers("default") else None

    wait_for("a Dramatiq worker polling", live, 60.0)


@pytest.fixture(scope="module")
def dramatiq_stack(engine_client: DockerClient) -> Iterator[Stack]:
    variables = {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT, "SAMPLE_IMAGE": IMAGE}
    stack = Stack(PROJECT, [SAMPLE / "compose.yaml"], variables)
    for up in stack_up(engine_client, stack, f"{WEB}/health"):
        worker_live()
        yield up


def test_queue_served_by_a_live_worker_passes(dramatiq_stack: Stack) -> None:
    outcome = check(
        queue.KIND,
        {
            "framework": "dramatiq",
            "broker_url": BROKER,
            "min_workers": 1,
            "max_depth": 10,
            "failed_not_grown": True,
            "maxmemory_policy": "noeviction",
        },
    )
    assert outcome.status == "pass", outcome.message
    assert "depth 0 (max 10)" in outcome.message and "live worker" in outcome.message
    assert PASSWORD not in outcome.message


@pytest.mark.parametrize("backend", [True, False], ids=["results", "broker-only"])
def test_job_round_trip_via_dramatiq_with_arguments(dramatiq_stack: Stack, backend: bool) -> None:
    outcome = check(
        job.KIND,
        {
            "via": "dramatiq",
            "broker_url": BROKER,
            **({"backend_url": RESULTS} if backend else {}),
            "task": "send_email",
            "args": ["ops@example.com"],
            "kwargs": {"subject": "canary"},
            "deadline": "20s",
        },
    )
    assert outcome.status == "pass", outcome.message
    assert "via dramatiq" in outcome.message


def test_job_round_trip_through_the_api(dramatiq_stack: Stack) -> None:
    outcome = check(
        job.KIND,
        {
            "via": "http",
            "framework": "dramatiq",
            "broker_url": BROKER,
            "enqueue_url": f"{WEB}/tasks",
            "body": {"actor": "canary"},
            "status_url": f"{WEB}/tasks/canary/{{id}}",
            "done": ["done"],
            "deadline": "20s",
        },
    )
    assert outcome.status == "pass", outcome.message


def test_unknown_actor_is_an_error(dramatiq_stack: Stack) -> None:
    outcome = check(
        job.KIND,
        {"via": "dramatiq", "broker_url": BROKER, "task": "no_such_actor", "deadline": "20s"},
    )
    assert outcome.status == "error", outcome.message
    assert "no actor of that name" in outcome.message


def test_failing_actor_fails_with_its_exception(dramatiq_stack: Stack) -> None:
    outcome = check(
        job.KIND,
        {
            "via": "dramatiq",
            "broker_url": BROKER,
            "backend_url": RESULTS,
            "task": "fail",
            "deadline": "20s",
        },
    )
    assert outcome.status == "fail", outcome.message
    assert "RuntimeError: this actor always fails" in outcome.message


def test_dead_letters_fail_the_queue_check(dramatiq_stack: Stack) -> None:
    outcome = check(queue.KIND, {"framework": "dramatiq", "broker_url": BROKER, "max_failed": 0})
    assert outcome.status == "fail", outcome.message  # the tests above dead-lettered two
    assert "failed jobs, expected at most 0" in outcome.message


@pytest.mark.parametrize("other", ["rq", "celery", "arq"])
def test_dramatiq_queue_read_as_another_framework_is_an_error(
    dramatiq_stack: Stack, other: str
) -> None:
    url = {"redis_url": BROKER} if other in ("rq", "arq") else {"broker_url": BROKER}
    outcome = check(queue.KIND, {"framework": other, **url, "queue": "default", "max_depth": 0})
    assert outcome.status == "error", outcome.message
    assert "this looks like a Dramatiq queue, set framework: dramatiq" in outcome.message


def test_queue_with_its_worker_stopped_fails(
    engine_client: DockerClient, dramatiq_stack: Stack
) -> None:
    worker = dramatiq_stack.container(engine_client, "worker")
    worker.stop(timeout=10)
    try:
        time.sleep(LIVE_WINDOW_S + 1)  # the stopped worker's last heartbeat ages out
        outcome = check(
            queue.KIND, {"framework": "dramatiq", "broker_url": BROKER, "min_workers": 1}
        )
        assert outcome.status == "fail", outcome.message
        assert "0 live workers, expected at least 1" in outcome.message
    finally:
        worker.start()
        worker_live()


DRILL = {
    "via": "dramatiq",
    "broker_url": BROKER,
    "backend_url": RESULTS,
    "task": "sleep",
    "seconds": 5,
    "stop_after": 1,
    "deadline": "40s",
    "project": PROJECT,
}


def test_shutdown_drill_actor_finishes_during_the_graceful_stop(dramatiq_stack: Stack) -> None:
    outcome = check(shutdown.KIND, DRILL)
    assert outcome.status == "pass", f"{outcome.message}\n{outcome.output}"
    assert "finished during the graceful stop" in outcome.message


def test_shutdown_drill_short_grace_message_requeued_by_the_broker(
    engine_client: DockerClient, dramatiq_stack: Stack
) -> None:
    # A 1 s grace kills the worker mid-actor: its message was never acked, and the Redis
    # broker requeues it once the dead worker's heartbeat is heartbeat_timeout old.
    fast = {"DRAMATIQ_HEARTBEAT_TIMEOUT": "5000", "DRAMATIQ_MAINTENANCE_CHANCE": "1000000"}
    recreate(engine_client, dramatiq_stack, "worker", **fast)
    worker_live()
    try:
        outcome = check(shutdown.KIND, {**DRILL, "grace": "1s"})
        assert outcome.status == "pass", f"{outcome.message}\n{outcome.output}"
        assert "re-queued and finished after the restart" in outcome.message
        assert "killed at the end of its 1s grace period" in outcome.message
    finally:
        recreate(engine_client, dramatiq_stack, "worker")
        worker_live()


def test_shutdown_drill_loses_the_message_of_an_actor_told_to_shut_down(
    engine_client: DockerClient, dramatiq_stack: Stack
) -> None:
    # notify_shutdown=True raises Shutdown in the running actor; with max_retries=0 the
    # message is dead-lettered, not requeued: lost, and the message names Dramatiq's settings.
    lossy = {"DRAMATIQ_NOTIFY_SHUTDOWN": "1", "DRAMATIQ_SLEEP_RETRIES": "0"}
    recreate(engine_client, dramatiq_stack, "worker", **lossy)
    worker_live()
    try:
        outcome = check(shutdown.KIND, DRILL)
        assert outcome.status == "fail", f"{outcome.message}\n{outcome.output}"
        assert "was lost" in outcome.message
        assert "acks late" in outcome.message and "max_retries" in outcome.message
    finally:
        recreate(engine_client, dramatiq_stack, "worker")
        worker_live()


def test_broker_restart_loses_no_dramatiq_message(dramatiq_stack: Stack) -> None:
    outcome = check(
        broker_restart.KIND,
        {
            "framework": "dramatiq",
            "broker_url": BROKER,
            "backend_url": RESULTS,
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


# --- worker limits, read in the worker's container; periodiq --------------------------------

LIMITS = {"framework": "dramatiq", "project": PROJECT}
OVERRIDES = SAMPLE / "overrides"


def test_worker_limits_read_from_the_actors_pass(dramatiq_stack: Stack) -> None:
    outcome = check(worker_limits.KIND, {**LIMITS, "time_limit": "10m", "max_retries": 20})
    assert outcome.status == "pass", outcome.message
    # send_email sets its own 60 s; sleep and canary get the TimeLimit middleware's 600,000 ms
    # default, and canary the Retries middleware's 20: read from the worker, not assumed.
    assert "send_email (time_limit 60s, max_retries 3)" in outcome.message
    assert "canary (time_limit 10m, max_retries 20)" in outcome.message
    assert "(RedisBroker)" in outcome.message


def test_worker_limits_fail_on_a_worker_with_a_longer_default(
    engine_client: DockerClient, dramatiq_stack: Stack
) -> None:
    # The override raises the TimeLimit middleware's default to an hour in the worker only.
    longer = dramatiq_stack.with_files(OVERRIDES / "long-time-limit.yaml")
    longer.up("worker")
    longer.wait_ready(engine_client)
    try:
        outcome = check(worker_limits.KIND, {**LIMITS, "time_limit": "10m", "max_retries": 3})
        assert outcome.status == "fail", outcome.message
        assert "actor canary (queue 'default'): time_limit 60m, expected at most 10m " in (
            outcome.message
        )
        assert "(middleware default)" in outcome.message
        assert "actor canary (queue 'default'): max_retries 20, expected at most 3" in (
            outcome.message
        )
        assert "send_email" not in outcome.message  # its own 60 s and 3 retries hold
    finally:
        dramatiq_stack.up("worker")
        dramatiq_stack.wait_ready(engine_client)
        worker_live()


def test_worker_limits_without_a_dramatiq_worker_is_an_error(dramatiq_stack: Stack) -> None:
    outcome = check(worker_limits.KIND, {**LIMITS, "service": "web", "time_limit": "required"})
    assert outcome.status == "error", outcome.message
    assert "no dramatiq worker process" in outcome.message


def test_periodiq_one_scheduler_passes_two_fail(
    engine_client: DockerClient, dramatiq_stack: Stack
) -> None:
    scheduled = dramatiq_stack.with_files(OVERRIDES / "periodiq.yaml")
    scheduled.up("scheduler")
    scheduled.wait_ready(engine_client)
    options = {"framework": "dramatiq", "project": PROJECT}
    try:
        one = check(scheduler.KIND, options)
        assert one.status == "pass", one.message
        assert "periodiq app.tasks" in one.message
        scheduled.compose("up", "-d", "--no-build", "--scale", "scheduler=2", "scheduler")
        scheduled.wait_ready(engine_client)
        two = check(scheduler.KIND, options)
        assert two.status == "fail", two.message
        assert two.message.startswith("2 schedulers in ")
    finally:
        dramatiq_stack.up()  # --remove-orphans: the scheduler goes


# --- on RabbitMQ ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def amqp_stack(engine_client: DockerClient) -> Iterator[Stack]:
    variables = {
        "API_PORT": AMQP_API_PORT,
        "REDIS_PORT": AMQP_REDIS_PORT,
        "AMQP_PORT": AMQP_PORT,
        "SAMPLE_IMAGE": IMAGE,
        "RABBITMQ_IMAGE": rabbitmq_base(),
    }
    files = [SAMPLE / "compose.yaml", SAMPLE / "overrides" / "rabbitmq.yaml"]
    stack = Stack(AMQP_PROJECT, files, variables)
    ready = f"http://127.0.0.1:{AMQP_API_PORT}/health"
    for up in stack_up(engine_client, stack, ready):
        wait_for("a consumer on RabbitMQ", lambda: _consumers() or None, 90.0)
        yield up


def _consumers() -> int:
    with adapter_for("dramatiq", AMQP) as dramatiq:
        try:
            return len(dramatiq.live_workers("default"))
        except Exception:  # the worker has not declared the queue yet
            return 0


def test_amqp_queue_and_job_pass(amqp_stack: Stack) -> None:
    seen = check(queue.KIND, {"framework": "dramatiq", "broker_url": AMQP, "min_workers": 1})
    assert seen.status == "pass", seen.message
    assert "1 live worker (min 1)" in seen.message
    assert AMQP_PASSWORD not in seen.message
    ran = check(
        job.KIND,
        {
            "via": "dramatiq",
            "broker_url": AMQP,
            "backend_url": AMQP_RESULTS,
            "task": "send_email",
            "args": ["ops@example.com"],
            "deadline": "30s",
        },
    )
    assert ran.status == "pass", ran.message


def test_amqp_job_without_a_results_backend_is_an_error(amqp_stack: Stack) -> None:
    outcome = check(
        job.KIND, {"via": "dramatiq", "broker_url": AMQP, "task": "canary", "deadline": "10s"}
    )
    assert outcome.status == "error", outcome.message
    assert "needs backend_url" in outcome.message


def test_amqp_shutdown_drill_is_an_error_it_cannot_see_the_running_message(
    engine_client: DockerClient, amqp_stack: Stack
) -> None:
    worker = amqp_stack.container(engine_client, "worker")
    started_at = worker.attrs["State"]["StartedAt"]
    outcome = check(
        shutdown.KIND,
        {**DRILL, "broker_url": AMQP, "backend_url": AMQP_RESULTS, "project": AMQP_PROJECT},
    )
    assert outcome.status == "error", outcome.message
    assert "cannot tell on RabbitMQ without a view of the message in progress" in outcome.message
    worker.reload()
    assert worker.status == "running" and worker.attrs["State"]["StartedAt"] == started_at


def test_amqp_unknown_queue_is_an_error(amqp_stack: Stack) -> None:
    outcome = check(
        queue.KIND,
        {"framework": "dramatiq", "broker_url": AMQP, "queue": "nosuch", "max_depth": 0},
    )
    assert outcome.status == "error", outcome.message
    assert "does not exist" in outcome.message


def test_amqp_queue_with_its_worker_stopped_fails(
    engine_client: DockerClient, amqp_stack: Stack
) -> None:
    worker = amqp_stack.container(engine_client, "worker")
    worker.stop(timeout=10)
    try:
        outcome = check(queue.KIND, {"framework": "dramatiq", "broker_url": AMQP, "min_workers": 1})
        assert outcome.status == "fail", outcome.message
        assert "0 live workers, expected at least 1" in outcome.message
    finally:
        worker.start()
        wait_for("a consumer on RabbitMQ", lambda: _consumers() or None, 90.0)
