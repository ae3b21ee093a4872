"""The sample apps under docker/samples/ on a real engine: shaped like public projects, they
answer the way those projects do, so jobcheck's adapters can be tested against them.

flask-rq runs as compose project ``jobcheck-itest-flaskrq`` on 127.0.0.1:18200 (web) and :16381
(Redis), brought up once per module and removed with its volume at the end
(JOBCHECK_KEEP_STACK=1 keeps it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._compose import (
    DOCKER,
    Stack,
    answering,
    env_file_values,
    get,
    post_form,
    prepare_images,
    wait_for,
)

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

FLASK_RQ = DOCKER / "samples" / "flask-rq"
PROJECT = os.environ.get("JOBCHECK_ITEST_FLASKRQ_PROJECT", "jobcheck-itest-flaskrq")
API_PORT = os.environ.get("JOBCHECK_ITEST_FLASKRQ_API_PORT", "18200")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_FLASKRQ_REDIS_PORT", "16381")
WEB = f"http://127.0.0.1:{API_PORT}"
TASK_DEADLINE_S = 30.0
FINAL = {"finished", "failed", "stopped", "canceled"}


@pytest.fixture(scope="module")
def flask_rq(engine_client: DockerClient) -> Iterator[Stack]:
    prepare_images()
    stack = Stack(
        PROJECT, [FLASK_RQ / "compose.yaml"], {"API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT}
    )
    stack.down()
    try:
        built = stack.build()
        start = time.monotonic()
        stack.up()
        stack.wait_ready(engine_client)
        # No /health and no healthcheck on web: ready is "answers HTTP at all".
        wait_for("web answering", lambda: answering(f"{WEB}/tasks/readiness"), 60.0)
        print(f"\n{PROJECT}: build {built:.1f}s, up and answering {time.monotonic() - start:.1f}s")
        yield stack
    finally:
        if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
            stack.down()


def send(task_type: str) -> str:
    answer = post_form(f"{WEB}/tasks", {"type": task_type})
    assert answer.status == 202, answer
    assert answer.body["status"] == "success", answer.body
    assert set(answer.body["data"]) == {"task_id"}
    return str(answer.body["data"]["task_id"])


def finished(task_id: str) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        answer = get(f"{WEB}/tasks/{task_id}")
        assert answer.status == 200, answer
        data = answer.body["data"]
        return dict(data) if data["task_status"] in FINAL else None

    return wait_for(f"task {task_id} finished", final, TASK_DEADLINE_S, interval_s=0.25)


def test_flask_rq_task_posted_as_a_form_finishes(flask_rq: Stack) -> None:
    task_id = send("1")
    assert finished(task_id) == {"task_id": task_id, "task_status": "finished", "task_result": True}


def test_flask_rq_status_passes_through_queued_or_started(flask_rq: Stack) -> None:
    task_id = send("2")
    first = get(f"{WEB}/tasks/{task_id}").body
    assert first["status"] == "success"
    assert first["data"]["task_status"] in {"queued", "started"}
    assert first["data"]["task_result"] is None
    assert finished(task_id)["task_status"] == "finished"


def test_flask_rq_failing_task_is_failed(flask_rq: Stack) -> None:
    task_id = send("fail")
    assert finished(task_id) == {"task_id": task_id, "task_status": "failed", "task_result": None}


def test_flask_rq_refuses_a_bad_type_and_an_unknown_id(flask_rq: Stack) -> None:
    bad = post_form(f"{WEB}/tasks", {"type": "soon"})
    assert bad.status == 400 and bad.body["status"] == "fail"
    unknown = get(f"{WEB}/tasks/no-such-task")
    assert unknown.status == 404 and unknown.body == {"status": "error"}


def test_flask_rq_has_no_health_route_on_purpose(flask_rq: Stack) -> None:
    assert get(f"{WEB}/health").status == 404


def test_flask_rq_runs_non_root_on_loopback_ports(
    flask_rq: Stack, engine_client: DockerClient
) -> None:
    published = set()
    for container in flask_rq.containers(engine_client):
        service = container.labels["com.docker.compose.service"]
        code, uid = container.exec_run(["id", "-u"])
        assert code == 0 and uid.decode().strip() != "0", service
        for bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).values():
            published |= {(service, b["HostIp"], b["HostPort"]) for b in bindings or []}
    assert published == {("web", "127.0.0.1", API_PORT), ("redis", "127.0.0.1", REDIS_PORT)}
    worker = flask_rq.container(engine_client, "worker")
    code, cmdline = worker.exec_run(["cat", "/proc/1/cmdline"])
    assert "/opt/venv/bin/rq" in cmdline.decode().split("\0"), "rq worker must be PID 1"


# --- jobcheck's kinds against the sample ----------------------------------------------------------


def test_jobcheck_canary_through_the_flask_rq_api_form_and_nested_ids(flask_rq: Stack) -> None:
    """The job kind drives the app's own API as a client would: a form-encoded POST, the id at
    data.task_id, the status at data.task_status; the queue kind counts its RQ worker."""
    import re
    from pathlib import Path

    from jobcheck.attempts import attempt
    from jobcheck.kinds import job, queue
    from jobcheck.kinds.base import KindContext
    from jobcheck.results import Status
    from jobcheck.secrets import Masker

    password = env_file_values(FLASK_RQ / "staging.env")["REDIS_PASSWORD"]
    redis_url = f"redis://:{password}@127.0.0.1:{REDIS_PORT}/0"
    ctx = KindContext("itest", Path.cwd(), dict(os.environ), 60.0, Masker([password]))
    canary = {
        "enqueue_url": f"{WEB}/tasks",
        "form": {"type": 1},
        "status_url": f"{WEB}/tasks/{{id}}",
        "id_field": "data.task_id",
        "status_field": "data.task_status",
        "redis_url": redis_url,
    }
    passed = attempt(job.KIND, job.KIND.options.model_validate(canary), ctx)
    assert passed.status is Status.PASS, passed.message
    assert re.fullmatch(r"job [0-9a-f-]{36} finished in [\d.]+s via http.*", passed.message)
    failing = {**canary, "form": {"type": "fail"}}
    failed = attempt(job.KIND, job.KIND.options.model_validate(failing), ctx)
    assert failed.status is Status.FAIL and " failed " in failed.message, failed.message
    workers = {"redis_url": redis_url, "min_workers": 1}
    counted = attempt(queue.KIND, queue.KIND.options.model_validate(workers), ctx)
    assert counted.status is Status.PASS, counted.message
    assert password not in passed.message + failed.message + counted.message
