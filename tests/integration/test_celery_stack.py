"""The Celery staging stack (docker/celery) on a real engine: its API round-trips tasks, and the
three graceful-shutdown outcomes really happen — (a) warm shutdown finishes the task,
(b) acks late + reject on worker lost redelivers it after a kill, (c) acks early + a short grace
period loses it.

Runs as compose project ``jobcheck-itest-celery`` on 127.0.0.1:18100 (API) and :16380 (Redis),
brought up once per module and removed with its volume at the end (JOBCHECK_KEEP_STACK=1 keeps
it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from jobcheck.attempts import attempt
from jobcheck.kinds import job as job_kind
from jobcheck.kinds import queue as queue_kind
from jobcheck.kinds import shutdown as shutdown_kind
from jobcheck.kinds.base import KindContext
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

from ._compose import (
    DOCKER,
    ROOT,
    Stack,
    attempt_twice_if_dropped,
    env_file_values,
    get,
    log_lines,
    post_json,
    prepare_images,
    rabbitmq_base,
    stop,
    wait_for,
)

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

pytestmark = pytest.mark.docker

CELERY = DOCKER / "celery"
PROJECT = os.environ.get("JOBCHECK_ITEST_CELERY_PROJECT", "jobcheck-itest-celery")
API_PORT = os.environ.get("JOBCHECK_ITEST_CELERY_API_PORT", "18100")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_CELERY_REDIS_PORT", "16380")
AMQP_PORT = os.environ.get("JOBCHECK_ITEST_CELERY_AMQP_PORT", "15672")
API = f"http://127.0.0.1:{API_PORT}"
PASSWORD = env_file_values(CELERY / "staging.env")["REDIS_PASSWORD"]
WORKER_GRACE_S = 30  # compose.yaml: the worker's stop_grace_period
DRILL_GRACE_S = 3  # overrides/*.yaml
TASK_DEADLINE_S = 30.0
RESTART_WAIT_S = 90.0
FINAL = {"SUCCESS", "FAILURE", "REVOKED"}
PUBLIC_RABBITMQ = "rabbitmq:3.13"  # overrides/amqp.yaml's default RABBITMQ_IMAGE


@pytest.fixture(scope="module")
def celery_stack(engine_client: DockerClient) -> Iterator[Stack]:
    prepare_images()
    stack = Stack(
        PROJECT, [CELERY / "compose.yaml"], {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT}
    )
    stack.down()  # leftovers of an interrupted session would skew the broker checks
    try:
        built = stack.build()
        start = time.monotonic()
        stack.up()
        stack.wait_ready(engine_client)
        print(f"\n{PROJECT}: build {built:.1f}s, up and healthy {time.monotonic() - start:.1f}s")
        yield stack
    finally:
        if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
            stack.down()


# --- helpers -----------------------------------------------------------------------------------


def send(payload: dict[str, Any]) -> str:
    answer = post_json(f"{API}/tasks", payload)
    assert answer.status == 202, answer
    assert set(answer.body) == {"task_id"}, answer.body
    return str(answer.body["task_id"])


def task(task_id: str) -> dict[str, Any]:
    answer = get(f"{API}/tasks/{task_id}")
    assert answer.status == 200, answer
    assert answer.body["task_id"] == task_id
    return dict(answer.body)


def finished(task_id: str, deadline_s: float = TASK_DEADLINE_S) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        body = task(task_id)
        return body if body["task_status"] in FINAL else None

    return wait_for(f"task {task_id} finished", final, deadline_s, interval_s=0.25)


def broker() -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=int(REDIS_PORT),
        password=PASSWORD,
        db=0,
        socket_timeout=5,
        socket_connect_timeout=5,
    )


def in_broker(task_id: str) -> dict[str, int]:
    """How many messages of this task wait in a queue, and how many are delivered unacked."""
    with broker() as r:
        queued = [
            json.loads(raw)
            for key in r.scan_iter(match="celery*")
            if r.type(key) == b"list"
            for raw in r.lrange(key, 0, -1)
        ]
        # kombu's Redis transport keeps [message, exchange, routing_key] per delivery tag.
        unacked = [json.loads(raw)[0] for raw in r.hvals("unacked")]
    return {
        "queued": sum(m["headers"]["id"] == task_id for m in queued),
        "unacked": sum(m["headers"]["id"] == task_id for m in unacked),
    }


def worker_with(stack: Stack, sdk: DockerClient, *overrides: str) -> Container:
    """The worker recreated (only if its config changed) with these override files, healthy."""
    configured = stack.with_files(*(CELERY / "overrides" / name for name in overrides))
    configured.up()
    configured.wait_ready(sdk)
    return configured.container(sdk, "worker")


def received(worker: Container, task_id: str) -> list[str]:
    return log_lines(worker, f"[{task_id}] received")


def running(worker: Container, task_id: str) -> None:
    """The worker took the task (concurrency 1, idle worker: received means running)."""
    wait_for(f"worker received {task_id}", lambda: received(worker, task_id) or None, 20.0)


# --- the API ---------------------------------------------------------------------------------


def test_health_answers_with_security_headers(celery_stack: Stack) -> None:
    answer = get(f"{API}/health")
    assert answer.status == 200
    assert answer.body == {"ok": True, "broker": "ok", "backend": "ok"}
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "server" not in answer.headers


@pytest.mark.parametrize("payload", [{"type": 1}, {"type": "canary"}])
def test_canary_posted_through_the_api_reaches_success(
    celery_stack: Stack, payload: dict[str, Any]
) -> None:
    body = finished(send(payload))
    assert body["task_status"] == "SUCCESS", body
    assert body["task_result"] == "ok"


def test_sleep_task_posted_with_seconds_reaches_success(celery_stack: Stack) -> None:
    body = finished(send({"seconds": 0.2}))
    assert body["task_status"] == "SUCCESS", body
    assert body["task_result"] == pytest.approx(0.2, abs=0.1)


def test_failing_task_reaches_failure_with_its_error(celery_stack: Stack) -> None:
    body = finished(send({"type": 3}))
    assert body == {
        "task_id": body["task_id"],
        "task_status": "FAILURE",
        "task_result": "CanaryFailure: failing on purpose",
    }


def test_unknown_task_reads_pending_as_asyncresult_does(celery_stack: Stack) -> None:
    assert task("no-such-task")["task_status"] == "PENDING"


@pytest.mark.parametrize(
    "payload", [{"type": 9}, {"seconds": 26}, {"type": 1, "seconds": 2}, {"seconds": -1}]
)
def test_bad_requests_are_refused(celery_stack: Stack, payload: dict[str, Any]) -> None:
    assert post_json(f"{API}/tasks", payload).status == 422


# --- the containers ------------------------------------------------------------------------------


def test_worker_is_celery_as_pid_1_non_root_and_healthy(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker = celery_stack.container(engine_client, "worker")
    assert worker.attrs["Config"]["User"] == "10001:10001"
    assert worker.attrs["State"]["Health"]["Status"] == "healthy"
    code, cmdline = worker.exec_run(["cat", "/proc/1/cmdline"])
    argv = cmdline.decode().split("\0")
    assert code == 0 and "/opt/venv/bin/celery" in argv and "worker" in argv, argv
    code, uid = worker.exec_run(["id", "-u"])
    assert uid.decode().strip() == "10001"


def test_ports_are_published_on_loopback_only(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    published = {
        (c.labels["com.docker.compose.service"], binding["HostIp"], binding["HostPort"])
        for c in celery_stack.containers(engine_client)
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values()
        for binding in bindings or []
    }
    assert published == {("api", "127.0.0.1", API_PORT), ("redis", "127.0.0.1", REDIS_PORT)}


@pytest.mark.skipif("BASE_IMAGE" in os.environ, reason="BASE_IMAGE set in the shell wins")
def test_compose_reads_the_base_images_from_docker_env(celery_stack: Stack) -> None:
    chosen = env_file_values(DOCKER / ".env")
    config = celery_stack.compose("config")
    assert f"BASE_IMAGE: {chosen['BASE_IMAGE']}" in config
    assert f"REDIS_IMAGE: {chosen['REDIS_IMAGE']}" in config


# --- the graceful-shutdown drill: three outcomes --------------------------------------------------


def test_a_warm_shutdown_finishes_the_running_task(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker = worker_with(celery_stack, engine_client)  # staging defaults: acks early, grace 30 s
    task_id = send({"seconds": 5})
    running(worker, task_id)
    time.sleep(1.0)
    took, exit_code = stop(worker)
    after_stop = task(task_id)
    worker.start()
    celery_stack.wait_ready(engine_client, RESTART_WAIT_S)

    print(f"\n(a) stop took {took:.1f}s (grace {WORKER_GRACE_S}s), exit {exit_code}: {after_stop}")
    assert exit_code == 0
    assert took < WORKER_GRACE_S
    assert after_stop["task_status"] == "SUCCESS"
    assert after_stop["task_result"] == pytest.approx(5.0, abs=0.5)
    assert log_lines(worker, "Warm shutdown")
    assert len(received(worker, task_id)) == 1


def test_b_acks_late_task_is_redelivered_after_the_worker_is_killed(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker = worker_with(celery_stack, engine_client, "acks-late.yaml")
    task_id = send({"seconds": 6})  # below the override's 10 s visibility timeout
    running(worker, task_id)
    wait_for("task STARTED", lambda: task(task_id)["task_status"] == "STARTED" or None, 10.0)
    took, exit_code = stop(worker)
    after_kill = task(task_id)["task_status"]
    kept = in_broker(task_id)
    worker.start()
    start = time.monotonic()
    body = finished(task_id, RESTART_WAIT_S)
    redelivered_after = time.monotonic() - start

    print(
        f"\n(b) stop took {took:.1f}s, exit {exit_code}; after the kill: {after_kill}, "
        f"broker {kept}; {body['task_status']} {redelivered_after:.1f}s after the restart"
    )
    assert exit_code == 137, "the grace period should end in SIGKILL, mid-task"
    assert took < DRILL_GRACE_S + 3
    assert after_kill == "STARTED"
    assert kept == {"queued": 0, "unacked": 1}, "the unacked message must survive the kill"
    assert body["task_status"] == "SUCCESS"
    assert body["task_result"] == pytest.approx(6.0, abs=0.5)
    assert len(received(worker, task_id)) == 2, "delivered once before the kill, once after"
    assert in_broker(task_id) == {"queued": 0, "unacked": 0}
    celery_stack.with_files(CELERY / "overrides" / "acks-late.yaml").wait_ready(engine_client)


def test_c_acks_early_with_a_short_grace_period_loses_the_task(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker = worker_with(celery_stack, engine_client, "short-grace.yaml")
    task_id = send({"seconds": 6})
    running(worker, task_id)
    wait_for("task STARTED", lambda: task(task_id)["task_status"] == "STARTED" or None, 10.0)
    took, exit_code = stop(worker)
    after_kill = in_broker(task_id)
    worker.start()
    celery_stack.with_files(CELERY / "overrides" / "short-grace.yaml").wait_ready(
        engine_client, RESTART_WAIT_S
    )
    # Longer than the task and than any redelivery in (b): nothing may bring it back.
    watch_until = time.monotonic() + 15.0
    statuses = set()
    while time.monotonic() < watch_until:
        statuses.add(task(task_id)["task_status"])
        time.sleep(0.5)

    print(
        f"\n(c) stop took {took:.1f}s, exit {exit_code}; broker after the kill {after_kill}; "
        f"statuses seen in the 15 s after the restart: {sorted(statuses)}"
    )
    assert exit_code == 137
    assert after_kill == {"queued": 0, "unacked": 0}, "acked early: nothing left to redeliver"
    assert statuses == {"STARTED"}, "lost: stuck at STARTED, never finished"
    assert len(received(worker, task_id)) == 1
    assert in_broker(task_id) == {"queued": 0, "unacked": 0}


# --- jobcheck's kinds against the Celery stack ----------------------------------------------------

BROKER = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/0"
BACKEND = f"redis://:{PASSWORD}@127.0.0.1:{REDIS_PORT}/1"
CELERY_JOB = {"via": "celery", "broker_url": BROKER, "backend_url": BACKEND}
HTTP_JOB = {
    "enqueue_url": f"{API}/tasks",
    "body": {"type": 1},
    "status_url": f"{API}/tasks/{{id}}",
    "id_field": "task_id",
    "status_field": "task_status",
    "framework": "celery",
    "broker_url": BROKER,
}
JOB_ID = r"[0-9a-f-]{36}"


def check(kind: Any, options: dict[str, Any], timeout_s: float = 120.0) -> Outcome:
    """One attempt of a jobcheck kind, as the runner makes it (mapped and masked)."""
    ctx = KindContext(
        check_id="itest-celery",
        base_dir=ROOT,
        env=dict(os.environ),
        timeout_s=timeout_s,
        mask=Masker([PASSWORD]),
    )
    outcome = attempt_twice_if_dropped(
        lambda: attempt(kind, kind.options.model_validate(options), ctx)
    )
    assert PASSWORD not in outcome.message + outcome.output
    print(f"\n{kind.name}: {outcome.status} {outcome.message}")
    return outcome


def expect(outcome: Outcome, status: Status, pattern: str) -> None:
    assert outcome.status is status, f"{outcome.status}: {outcome.message}"
    assert re.fullmatch(pattern, outcome.message), outcome.message


def test_kinds_pass_on_the_healthy_celery_stack(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker_with(celery_stack, engine_client)  # the staging worker, whatever ran before
    expect(
        check(queue_kind.KIND, {"framework": "celery", "broker_url": BROKER, "min_workers": 1}),
        Status.PASS,
        r"queue 'celery': 1 live worker \(min 1\): celery@\w+",
    )
    expect(
        check(job_kind.KIND, {**CELERY_JOB, "task": "app.tasks.canary"}),
        Status.PASS,
        rf"job {JOB_ID} finished in [\d.]+s via celery.*",
    )
    expect(
        check(job_kind.KIND, HTTP_JOB), Status.PASS, rf"job {JOB_ID} finished in [\d.]+s via http.*"
    )


def test_a_task_no_celery_worker_knows_is_an_error(celery_stack: Stack) -> None:
    outcome = check(job_kind.KIND, {**CELERY_JOB, "task": "app.tasks.nothere"})
    assert outcome.status is Status.ERROR, outcome.message
    assert outcome.message.startswith("no worker on queue 'celery' knows task 'app.tasks.nothere'")
    assert "app.tasks.canary" in outcome.message


def test_a_failing_task_fails_the_job_with_its_error(celery_stack: Stack) -> None:
    expect(
        check(job_kind.KIND, {**HTTP_JOB, "body": {"type": 3}}),
        Status.FAIL,
        rf"job {JOB_ID} failed \(FAILURE\) [\d.]+s after it was queued: .*failing on purpose.*",
    )


def test_a_stopped_worker_with_three_tasks_waiting(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker = celery_stack.container(engine_client, "worker")
    stop(worker)
    try:
        for _ in range(3):
            send({"type": 1})
        expect(
            check(
                queue_kind.KIND,
                {"framework": "celery", "broker_url": BROKER, "max_depth": 0, "min_workers": 1},
            ),
            Status.FAIL,
            r"queue 'celery': 3 jobs waiting, expected at most 0; "
            r"0 live workers, expected at least 1 \(3 waiting\)",
        )
        started = time.monotonic()
        outcome = check(
            job_kind.KIND, {**CELERY_JOB, "task": "app.tasks.canary", "deadline": "30s"}
        )
        assert outcome.status is Status.FAIL, outcome.message
        assert outcome.message.startswith("no live Celery worker answered a ping")
        assert time.monotonic() - started < 10, "no worker: fail at once, not at the deadline"
        expect(
            check(job_kind.KIND, {**HTTP_JOB, "deadline": "3s"}),
            Status.FAIL,
            rf"job {JOB_ID} queued [\d.]+s ago, still queued \(PENDING\) at the 3s deadline: "
            r"no worker took it \(0 live workers on queue 'celery', 4 waiting\)",
        )
    finally:
        worker.start()
        celery_stack.wait_ready(engine_client, RESTART_WAIT_S)
    expect(
        check(queue_kind.KIND, {"framework": "celery", "broker_url": BROKER, "min_workers": 1}),
        Status.PASS,
        r"queue 'celery': 1 live worker \(min 1\): celery@\w+",
    )


DRILL = {
    **CELERY_JOB,
    "task": "app.tasks.sleep",
    "project": PROJECT,
    "service": "worker",
    "seconds": 6,
    "stop_after": 1,
    "deadline": "45s",
}


def test_drill_a_the_task_finishes_during_the_warm_shutdown(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker_with(celery_stack, engine_client)
    expect(
        check(shutdown_kind.KIND, {**DRILL, "seconds": 4}),
        Status.PASS,
        rf"job {JOB_ID} \(sleep 4s\) finished during the graceful stop: the worker stopped in "
        r"[\d.]+m?s \(exit 0, grace 30s\); worker healthy again [\d.]+m?s after the restart",
    )


def test_drill_b_acks_late_redelivers_the_task_after_the_kill(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker_with(celery_stack, engine_client, "acks-late.yaml")
    expect(
        check(shutdown_kind.KIND, DRILL),
        Status.PASS,
        rf"job {JOB_ID} \(sleep 6s\) was re-queued and finished after the restart: the worker "
        r"was killed at the end of its 3s grace period \(exit 137\); "
        r"worker healthy again [\d.]+m?s after the restart",
    )


def test_drill_c_an_early_ack_and_a_short_grace_lose_the_task(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    worker_with(celery_stack, engine_client, "short-grace.yaml")
    try:
        expect(
            check(shutdown_kind.KIND, {**DRILL, "deadline": "15s"}),
            Status.FAIL,
            rf"job {JOB_ID} \(sleep 6s\) was lost: still started [\d.]+s after it was queued, "
            r"never finished after the restart \(abandoned by the stopped worker, not re-queued\); "
            r"the worker was killed at the end of its 3s grace period \(exit 137\); "
            r"worker healthy again [\d.]+m?s after the restart; "
            r"to fix: set task_acks_late=True and task_reject_on_worker_lost=True \(redelivered\), "
            r"or a longer stop_grace_period \(longer than the longest job\)",
        )
    finally:
        worker_with(celery_stack, engine_client)


def test_a_stopped_broker_fails_queue_and_job(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    redis_container = celery_stack.container(engine_client, "redis")
    redis_container.stop(timeout=10)
    try:
        expect(
            check(queue_kind.KIND, {"framework": "celery", "broker_url": BROKER, "min_workers": 1}),
            Status.FAIL,
            rf"queue 'celery': Redis at 127\.0\.0\.1:{REDIS_PORT}/0 refused the connection",
        )
        outcome = check(job_kind.KIND, {**CELERY_JOB, "task": "app.tasks.canary"})
        assert outcome.status is Status.FAIL, outcome.message
        assert f"Redis at 127.0.0.1:{REDIS_PORT}/0 refused the connection" in outcome.message
    finally:
        redis_container.start()
        celery_stack.wait_ready(engine_client, RESTART_WAIT_S)
        # Healthy containers are not yet a broker that answers the host: wait for the queue.
        healthy = {"framework": "celery", "broker_url": BROKER, "min_workers": 1}
        wait_for(
            "the queue answering again",
            lambda: check(queue_kind.KIND, healthy).status is Status.PASS or None,
            RESTART_WAIT_S,
            interval_s=2.0,
        )


# --- the broker on RabbitMQ (overrides/amqp.yaml) -------------------------------------------------


def rabbitmq_image(sdk: DockerClient) -> str:
    """RABBITMQ_IMAGE if set, else the public image if present, else the offline one (built by
    scripts/base-images.sh from Debian's rabbitmq-server: a few minutes the first time)."""
    import docker.errors

    if os.environ.get("RABBITMQ_IMAGE"):
        return os.environ["RABBITMQ_IMAGE"]
    try:
        sdk.images.get(PUBLIC_RABBITMQ)
        return PUBLIC_RABBITMQ
    except docker.errors.ImageNotFound:
        return rabbitmq_base()


def speaks_amqp(port: str) -> bool:
    """The published port answers the AMQP 0-9-1 header with a method frame (Connection.Start)."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as conn:
        conn.sendall(b"AMQP\x00\x00\x09\x01")
        return conn.recv(1) == b"\x01"


@pytest.mark.slow
def test_amqp_broker_carries_a_canary_task(
    celery_stack: Stack, engine_client: DockerClient
) -> None:
    amqp = Stack(
        PROJECT,
        [CELERY / "compose.yaml", CELERY / "overrides" / "amqp.yaml"],
        {
            **celery_stack.variables,
            "AMQP_PORT": AMQP_PORT,
            "RABBITMQ_IMAGE": rabbitmq_image(engine_client),
        },
    )
    try:
        amqp.build("rabbitmq")
        amqp.up()
        amqp.wait_ready(engine_client)
        health = get(f"{API}/health")
        body = finished(send({"type": 1}))
        worker = amqp.container(engine_client, "worker")
        rabbitmq = amqp.container(engine_client, "rabbitmq")
        code, guest = worker.exec_run(
            [
                "python",
                "-c",
                "import kombu; kombu.Connection('amqp://guest:guest@rabbitmq//')"
                ".ensure_connection(max_retries=1)",
            ]
        )

        assert health.status == 200 and health.body["broker"] == "ok", health
        assert body["task_status"] == "SUCCESS" and body["task_result"] == "ok", body
        assert in_broker(body["task_id"]) == {"queued": 0, "unacked": 0}
        assert log_lines(worker, "Connected to amqp://jobcheck:**@rabbitmq:5672//")
        assert log_lines(worker, f"[{body['task_id']}] received")
        assert speaks_amqp(AMQP_PORT)
        amqp_password = env_file_values(CELERY / "overrides" / "amqp.env")["RABBITMQ_PASSWORD"]
        amqp_url = f"amqp://jobcheck:{amqp_password}@127.0.0.1:{AMQP_PORT}//"
        reading = check(
            queue_kind.KIND,
            {"framework": "celery", "broker_url": amqp_url, "max_depth": 10, "min_workers": 1},
        )
        assert amqp_password not in reading.message
        expect(reading, Status.PASS, r"queue 'celery': depth 0 \(max 10\), 1 live worker .*")
        assert rabbitmq.attrs["Config"]["User"] == "rabbitmq"
        assert code != 0 and b"ACCESS_REFUSED" in guest, "the guest user must not exist"
        assert not any(
            b.get("HostIp") != "127.0.0.1"
            for bindings in rabbitmq.attrs["NetworkSettings"]["Ports"].values()
            for b in bindings or []
        )
    finally:
        celery_stack.up()  # back on the Redis broker; --remove-orphans drops rabbitmq
        celery_stack.wait_ready(engine_client)
