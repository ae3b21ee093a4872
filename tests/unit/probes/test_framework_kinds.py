"""The queue and job kinds through the framework adapters, against a real redis-server and real
RQ and Celery workers, and through two small APIs shaped the way public projects write them:
Flask + RQ (form-encoded, ``{"data": {"task_id": ...}}``) and FastAPI + Celery (a JSON body,
``{"task_id": ...}``, ``{"task_status": "SUCCESS"}``)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds import job, queue
from jobcheck.kinds.base import Kind, KindContext
from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

from .realparts import PASSWORD, CeleryWorker

JOB_ID = r"[0-9a-f-]{36}"


def run(kind: Kind[Any], options: dict[str, Any], timeout_s: float = 60.0) -> Outcome:
    ctx = KindContext(
        check_id="t", base_dir=Path.cwd(), env={}, timeout_s=timeout_s, mask=Masker([PASSWORD])
    )
    outcome = attempt(kind, kind.options.model_validate(options), ctx)
    assert PASSWORD not in outcome.message + outcome.output
    return outcome


def expect(outcome: Outcome, status: Status, pattern: str) -> None:
    assert outcome.status is status, f"{outcome.status}: {outcome.message}"
    assert re.fullmatch(pattern, outcome.message), outcome.message


# --- queue -------------------------------------------------------------------------------------


def test_rq_queue_counts_the_live_worker(rq_worker: str) -> None:
    expect(
        run(queue.KIND, {"redis_url": rq_worker, "min_workers": 1, "max_depth": 50}),
        Status.PASS,
        r"queue 'default': depth \d+ \(max 50\), 1 live worker \(min 1\): jc-rq-1\S*",
    )


def test_celery_queue_counts_the_live_worker_by_name(celery_worker: CeleryWorker) -> None:
    options = {"framework": "celery", "broker_url": celery_worker.broker_url, "min_workers": 1}
    expect(
        run(queue.KIND, options),
        Status.PASS,
        rf"queue 'celery': 1 live worker \(min 1\): {re.escape(celery_worker.name)}",
    )


def test_a_stopped_celery_worker_with_three_tasks_waiting_fails(scratch_url: str) -> None:
    with CeleryAdapter(scratch_url, timeout_s=2.0) as adapter:
        for n in range(3):
            adapter.send("fixture.add", [n, n], queue="celery")
    options = {
        "framework": "celery",
        "broker_url": scratch_url,
        "max_depth": 0,
        "min_workers": 1,
    }
    expect(
        run(queue.KIND, options),
        Status.FAIL,
        r"queue 'celery': 3 jobs waiting, expected at most 0; "
        r"0 live workers, expected at least 1 \(3 waiting\)",
    )


def test_priority_lists_count_in_celery_depth(scratch_url: str) -> None:
    with CeleryAdapter(scratch_url, timeout_s=2.0) as adapter:
        for priority in (0, 3, 6, 9):
            adapter.send("fixture.add", [1, 1], queue="celery", priority=priority)
    outcome = run(queue.KIND, {"framework": "celery", "broker_url": scratch_url, "max_depth": 10})
    expect(outcome, Status.PASS, r"queue 'celery': depth 4 \(max 10\)")


def test_rq_pointed_at_a_celery_queue_is_an_error_not_depth_zero(scratch_url: str) -> None:
    with CeleryAdapter(scratch_url, timeout_s=2.0) as adapter:
        adapter.send("fixture.add", [1, 1], queue="celery")
    outcome = run(queue.KIND, {"redis_url": scratch_url, "queue": "celery", "max_depth": 0})
    assert outcome.status is Status.ERROR, outcome.message
    assert "looks like a Celery queue" in outcome.message
    assert "framework: celery" in outcome.message


def test_celery_pointed_at_an_rq_queue_is_an_error(rq_worker: str) -> None:
    options = {"framework": "celery", "broker_url": rq_worker, "queue": "default", "min_workers": 1}
    outcome = run(queue.KIND, options)
    assert outcome.status is Status.ERROR, outcome.message
    assert "framework: rq" in outcome.message


# --- job via the frameworks --------------------------------------------------------------------


def test_job_via_rq_finishes(rq_worker: str) -> None:
    options = {
        "via": "rq",
        "redis_url": rq_worker,
        "task": "tests.fixtures.rq_app.jobs.add",
        "args": [1, 2],
    }
    expect(run(job.KIND, options), Status.PASS, rf"job {JOB_ID} finished in [\d.]+s via rq.*")


def test_job_via_celery_finishes(celery_worker: CeleryWorker) -> None:
    options = {
        "via": "celery",
        "broker_url": celery_worker.broker_url,
        "backend_url": celery_worker.backend_url,
        "task": "fixture.add",
        "args": [2, 3],
    }
    expect(run(job.KIND, options), Status.PASS, rf"job {JOB_ID} finished in [\d.]+s via celery.*")


def test_a_celery_task_no_worker_knows_is_an_error(celery_worker: CeleryWorker) -> None:
    options = {
        "via": "celery",
        "broker_url": celery_worker.broker_url,
        "backend_url": celery_worker.backend_url,
        "task": "app.tasks.nonexistent",
    }
    outcome = run(job.KIND, options)
    assert outcome.status is Status.ERROR, outcome.message
    assert "no worker on queue 'celery' knows task 'app.tasks.nonexistent'" in outcome.message
    assert "fixture.add" in outcome.message  # the registered ones are listed


def test_a_failing_celery_task_fails_with_its_error(celery_worker: CeleryWorker) -> None:
    options = {
        "via": "celery",
        "broker_url": celery_worker.broker_url,
        "backend_url": celery_worker.backend_url,
        "task": "fixture.boom",
        "args": ["the canary broke"],
    }
    expect(
        run(job.KIND, options),
        Status.FAIL,
        rf"job {JOB_ID} failed [\d.]+s after it was queued: .*the canary broke.*",
    )


def test_a_celery_job_with_no_worker_fails_at_once(scratch_url: str) -> None:
    options = {"via": "celery", "broker_url": scratch_url, "task": "fixture.add", "deadline": "20s"}
    outcome = run(job.KIND, options)
    assert outcome.status is Status.FAIL, outcome.message
    assert outcome.message.startswith("no live Celery worker answered a ping within 1s")
    assert "nothing would take a job from queue 'celery'" in outcome.message


# --- job via the service's own API -------------------------------------------------------------


Handler = Callable[[BaseHTTPRequestHandler, str, bytes], tuple[int, Any]]


@pytest.fixture
def api() -> Iterator[Callable[[Handler], str]]:
    """A tiny HTTP API on 127.0.0.1 whose answers a test writes; yields ``serve(handler)``."""
    servers: list[ThreadingHTTPServer] = []

    def serve(handle: Handler) -> str:
        class One(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, document = handle(self, self.path, self.rfile.read(length))
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), One)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def flask_rq_app(redis_url: str) -> Handler:
    """As flask-redis-queue writes it: a form POST, ids and states under "data"."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    connection = Redis.from_url(redis_url)

    def handle(request: BaseHTTPRequestHandler, path: str, body: bytes) -> tuple[int, Any]:
        if request.command == "POST" and path == "/tasks":
            if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                return 400, {"status": "error", "message": "form expected"}
            kind = parse_qs(body.decode()).get("type", [""])[0]
            if kind != "1":
                return 400, {"status": "error", "message": "type required"}
            queued = Queue("default", connection=connection).enqueue(
                "tests.fixtures.rq_app.jobs.add", 1, 1
            )
            return 202, {"status": "success", "data": {"task_id": queued.id}}
        found = Job.fetch(path.rsplit("/", 1)[1], connection=connection)
        state = found.get_status()
        data = {"task_id": found.id, "task_status": str(getattr(state, "value", state))}
        return 200, {"status": "success", "data": data}

    return handle


def fastapi_celery_app(worker: CeleryWorker) -> Handler:
    """As fastapi-celery writes it: a JSON body, {"task_id"}, Celery's states as they are."""
    from celery import Celery  # type: ignore[import-untyped]

    app = Celery(broker=worker.broker_url, backend=worker.backend_url)

    def handle(request: BaseHTTPRequestHandler, path: str, body: bytes) -> tuple[int, Any]:
        if request.command == "POST" and path == "/tasks":
            try:
                document = json.loads(body or b"null")
            except ValueError:
                document = None
            if not isinstance(document, dict) or "type" not in document:
                return 422, {"detail": [{"loc": ["body", "type"], "msg": "field required"}]}
            sent = app.send_task("fixture.add", args=[1, int(document["type"])])
            return 201, {"task_id": sent.id}
        result = app.AsyncResult(path.rsplit("/", 1)[1])
        return 200, {"task_id": result.id, "task_status": result.status, "task_result": None}

    return handle


def test_job_via_a_flask_rq_api_with_a_form_and_nested_ids(
    api: Callable[[Handler], str], rq_worker: str
) -> None:
    base = api(flask_rq_app(rq_worker))
    options = {
        "enqueue_url": f"{base}/tasks",
        "status_url": f"{base}/tasks/{{id}}",
        "form": {"type": 1},
        "id_field": "data.task_id",
        "status_field": "data.task_status",
        "redis_url": rq_worker,
    }
    expect(run(job.KIND, options), Status.PASS, rf"job {JOB_ID} finished in [\d.]+s via http.*")


def test_job_via_a_fastapi_celery_api_with_a_json_body(
    api: Callable[[Handler], str], celery_worker: CeleryWorker
) -> None:
    base = api(fastapi_celery_app(celery_worker))
    options = {
        "enqueue_url": f"{base}/tasks",
        "status_url": f"{base}/tasks/{{id}}",
        "body": {"type": 1},
        "id_field": "task_id",
        "status_field": "task_status",
        "framework": "celery",
        "broker_url": celery_worker.broker_url,
    }
    expect(run(job.KIND, options), Status.PASS, rf"job {JOB_ID} finished in [\d.]+s via http.*")


def test_without_the_body_the_api_says_why_and_the_message_shows_it(
    api: Callable[[Handler], str], celery_worker: CeleryWorker
) -> None:
    base = api(fastapi_celery_app(celery_worker))
    options = {"enqueue_url": f"{base}/tasks", "status_url": f"{base}/tasks/{{id}}"}
    expect(
        run(job.KIND, options),
        Status.FAIL,
        rf"POST {base}/tasks answered 422, expected 2xx; body: .*field required.*",
    )


def test_a_wrong_id_field_names_the_option_to_set(
    api: Callable[[Handler], str], celery_worker: CeleryWorker
) -> None:
    base = api(fastapi_celery_app(celery_worker))
    options = {
        "enqueue_url": f"{base}/tasks",
        "status_url": f"{base}/t/{{id}}",
        "body": {"type": 1},
    }
    outcome = run(job.KIND, options)
    assert outcome.status is Status.FAIL, outcome.message
    assert 'expected a JSON body with the job id at "id" (set id_field)' in outcome.message


def test_a_celery_job_stuck_pending_counts_the_workers(
    api: Callable[[Handler], str], scratch_url: str
) -> None:
    """The API accepts the task, but no worker consumes the broker: PENDING until the
    deadline, and the message says 0 live workers and how many wait."""
    worker = CeleryWorker(scratch_url, scratch_url, "none")
    base = api(fastapi_celery_app(worker))
    options = {
        "enqueue_url": f"{base}/tasks",
        "status_url": f"{base}/tasks/{{id}}",
        "body": {"type": 1},
        "id_field": "task_id",
        "status_field": "task_status",
        "framework": "celery",
        "broker_url": scratch_url,
        "deadline": "2s",
    }
    expect(
        run(job.KIND, options),
        Status.FAIL,
        rf"job {JOB_ID} queued [\d.]+s ago, still queued \(PENDING\) at the 2s deadline: "
        r"no worker took it \(0 live workers on queue 'celery', 1 waiting\)",
    )


def test_two_checks_ask_celery_workers_at_once_and_both_get_answers(
    celery_worker: CeleryWorker,
) -> None:
    """The runner runs checks in threads: two broadcasts at once once went unanswered."""
    options = {"framework": "celery", "broker_url": celery_worker.broker_url, "min_workers": 1}
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(run(queue.KIND, options))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [o.status for o in outcomes] == [Status.PASS] * 3, [o.message for o in outcomes]


def test_a_job_on_a_queue_with_no_worker_gives_up_after_its_grace(scratch_url: str) -> None:
    """No live worker on the queue: fail after no_worker_grace, not at the 30s deadline."""
    options = {
        "via": "rq",
        "redis_url": scratch_url,
        "task": "tests.fixtures.rq_app.jobs.add",
        "args": [1, 1],
        "deadline": "30s",
        "no_worker_grace": "1s",
    }
    started = time.monotonic()
    outcome = run(job.KIND, options)
    took = time.monotonic() - started
    expect(
        outcome,
        Status.FAIL,
        rf"job {JOB_ID} queued [\d.]+s ago, still queued: no worker took it "
        r"\(0 live workers on queue 'default', 1 waiting\); gave up before the 30s deadline: "
        r"with no live worker, waiting cannot help",
    )
    assert took < 6, f"gave up after {took:.1f}s"
