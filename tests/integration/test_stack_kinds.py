"""Every integration kind against the real staging stack: passing when it is healthy, failing
with a precise message when it is broken on purpose. Destructive tests heal the stack after."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.attempts import attempt
from jobcheck.kinds import http, job, queue, service, shutdown
from jobcheck.kinds.base import KindContext
from jobcheck.results import Outcome, Status

from ._stack import API, PROJECT, REDIS_PORT, container, redis_url

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

Check = Callable[..., Outcome]

HEALTH = {
    "url": f"{API}/health",
    "status": 200,
    "json": {"ok": True, "redis": "ok"},
    "headers": {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"},
    "max_latency": "1s",
}
CANARY_HTTP = {
    "enqueue_url": f"{API}/jobs/canary",
    "status_url": f"{API}/jobs/{{id}}",
    "deadline": "20s",
}
SLEEP_HTTP = {
    "enqueue_url": f"{API}/jobs/sleep?seconds={{seconds}}",
    "status_url": f"{API}/jobs/{{id}}",
}
SERVICES = {
    "api": {"env_keys": ["REDIS_URL", "APP_ENV"], "exec": "python -m app.healthcheck api"},
    "worker": {"env_keys": ["REDIS_URL", "QUEUE_NAME"], "exec": "python -m app.healthcheck worker"},
    "redis": {
        "env_keys": ["REDIS_PASSWORD"],
        "exec": ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'],
    },
}
JOB_ID = r"[0-9a-f-]{36}"


def expect(outcome: Outcome, status: Status, pattern: str) -> None:
    assert outcome.status is status, f"{outcome.status}: {outcome.message}"
    assert "\n" not in outcome.message
    assert re.fullmatch(pattern, outcome.message), outcome.message


# --- the healthy stack -------------------------------------------------------------------------


def test_http_health_passes(check: Check) -> None:
    expect(check(http.KIND, HEALTH), Status.PASS, rf"GET {API}/health answered 200 in \d+ms")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_passes(check: Check, name: str) -> None:
    options = {
        "service": name,
        "healthy": True,
        "max_restarts": 0,
        "non_root": True,
        **SERVICES[name],
    }
    expect(
        check(service.KIND, options),
        Status.PASS,
        rf"service '{name}': 1 container\(s\) running, healthy, at most 0 restarts, non-root, "
        rf"{len(SERVICES[name]['env_keys'])} env keys? set, exec exited 0",
    )


def test_job_round_trip_via_http(check: Check) -> None:
    outcome = check(job.KIND, {**CANARY_HTTP, "redis_url": redis_url()})
    expect(
        outcome,
        Status.PASS,
        rf"job {JOB_ID} finished in \d+\.\d\ds via http(, picked up within .*)?",
    )
    assert outcome.details["latency_s"] < 20


def test_job_round_trip_via_rq(check: Check) -> None:
    outcome = check(
        job.KIND, {"via": "rq", "redis_url": redis_url(), "function": "app.jobs.canary"}
    )
    expect(outcome, Status.PASS, rf"job {JOB_ID} finished in \d+\.\d\ds via rq(, .*)?")


def test_job_that_raises_fails_with_its_error(check: Check) -> None:
    outcome = check(
        job.KIND, {"via": "rq", "redis_url": redis_url(), "function": "app.jobs.missing"}
    )
    expect(
        outcome,
        Status.FAIL,
        rf"job {JOB_ID} failed \d+\.\ds after it was queued: \w+Error: .*missing.*",
    )


def test_queue_passes(check: Check) -> None:
    options = {
        "redis_url": redis_url(),
        "max_depth": 10,
        "failed_not_grown": True,
        "min_workers": 1,
        "maxmemory_policy": "noeviction",
    }
    expect(
        check(queue.KIND, options),
        Status.PASS,
        r"queue 'default': depth \d+ \(max 10\), failed (\d+) \(run started with \1\), "
        r"1 live worker \(min 1\): \S+, maxmemory-policy noeviction",
    )


def test_queue_sees_the_failed_registry_grow_during_the_run(
    check: Check, make_ctx: Callable[..., KindContext]
) -> None:
    ctx = make_ctx()  # one run: the first look records the baseline
    options = {"redis_url": redis_url(), "failed_not_grown": True}
    assert check(queue.KIND, options, ctx).status is Status.PASS
    check(job.KIND, {"via": "rq", "redis_url": redis_url(), "function": "app.jobs.missing"})
    expect(
        check(queue.KIND, options, ctx),
        Status.FAIL,
        r"queue 'default': failed registry grew from (\d+) to \d+ during this run",
    )


def test_shutdown_drill_passes(check: Check, healed: None) -> None:
    outcome = check(shutdown.KIND, {**SLEEP_HTTP, "redis_url": redis_url(), "seconds": 3})
    expect(
        outcome,
        Status.PASS,
        rf"job {JOB_ID} \(sleep 3s\) finished during the graceful stop: the worker stopped in "
        r"[\d.]+m?s \(exit 0, grace 30s\); worker healthy again [\d.]+m?s after the restart",
    )
    assert "job started" in outcome.output and "exited (exit 0)" in outcome.output


# --- broken on purpose -------------------------------------------------------------------------


@pytest.fixture
def worker_stopped(engine_client: DockerClient, healed: None) -> Iterator[None]:
    container(engine_client, "worker").stop(timeout=30)
    yield


def test_worker_stopped_fails_job_queue_and_service(
    check: Check, engine_client: DockerClient, worker_stopped: None
) -> None:
    # jobcheck_itest_worker_1 (Compose v1) or jobcheck-itest-worker-1 (v2): found by labels.
    worker = re.escape(container(engine_client, "worker").name)
    expect(
        check(job.KIND, {**CANARY_HTTP, "redis_url": redis_url(), "deadline": "3s"}),
        Status.FAIL,
        rf"job {JOB_ID} queued 3\.\ds ago, still queued at the 3s deadline: no worker took it "
        r"\(0 live workers on queue 'default', \d+ waiting\)",
    )
    expect(
        check(queue.KIND, {"redis_url": redis_url(), "min_workers": 1}),
        Status.FAIL,
        r"queue 'default': 0 live workers, expected at least 1( \(\d+ waiting\))?",
    )
    expect(
        check(service.KIND, {"service": "worker"}),
        Status.FAIL,
        rf"{worker} is exited \(exit code 0\); {worker} ended and will not "
        r"start again by itself",
    )
    expect(
        check(shutdown.KIND, {**SLEEP_HTTP}),
        Status.FAIL,
        rf"service 'worker' of project '{PROJECT}' has no running container to stop",
    )


def test_redis_stopped_fails_health_queue_and_job(
    check: Check, engine_client: DockerClient, healed: None
) -> None:
    container(engine_client, "redis").stop(timeout=10)
    expect(
        check(http.KIND, HEALTH),
        Status.FAIL,
        rf"GET {API}/health answered 503, expected 200; "
        r'body: {"ok":false,"redis":"\w+Error: .*"}',
    )
    expect(
        check(queue.KIND, {"redis_url": redis_url(), "min_workers": 1}),
        Status.FAIL,
        rf"queue 'default': Redis at 127\.0\.0\.1:{REDIS_PORT}/0 refused the connection",
    )
    expect(
        check(job.KIND, CANARY_HTTP),
        Status.FAIL,
        rf"POST {API}/jobs/canary answered 503, expected 2xx; body: .*queue unavailable.*",
    )


def test_http_wait_sees_the_api_come_back(
    check: Check, engine_client: DockerClient, healed: None
) -> None:
    api = container(engine_client, "api")
    api.stop(timeout=10)
    expect(
        check(http.KIND, {**HEALTH, "timeout": "1s"}),
        Status.FAIL,
        rf"GET {API}/health: connection refused \(nothing listening on 127\.0\.0\.1:\d+\)",
    )
    api.start()
    expect(
        check(http.KIND, {**HEALTH, "max_latency": "5s", "wait": "60s", "interval": "250ms"}),
        Status.PASS,
        rf"GET {API}/health answered 200 in \d+m?s \(ready after [\d.]+m?s, \d+ attempts\)",
    )


@pytest.fixture
def unhealthy_probe(engine_client: DockerClient) -> Iterator[str]:
    """A container labelled as service `probe` of its own project, whose healthcheck fails."""
    project = f"{PROJECT}-probe"
    image = container(engine_client, "api").image.id
    for stale in engine_client.containers.list(all=True, filters={"name": f"{project}_probe_1"}):
        stale.remove(force=True)
    probe = engine_client.containers.run(
        image,
        ["python", "-c", "import time; time.sleep(300)"],
        name=f"{project}_probe_1",
        labels={"com.docker.compose.project": project, "com.docker.compose.service": "probe"},
        healthcheck={
            "test": ["CMD", "python", "-c", "import sys; print('queue backlog'); sys.exit(1)"],
            "interval": 300_000_000,
            "timeout": 2_000_000_000,
            "retries": 1,
        },
        user="10001",
        network_mode="none",
        detach=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe.reload()
            if probe.attrs["State"].get("Health", {}).get("Status") == "unhealthy":
                break
            time.sleep(0.2)
        yield project
    finally:
        probe.remove(force=True)


def test_unhealthy_container_fails_the_service_check(check: Check, unhealthy_probe: str) -> None:
    expect(
        check(service.KIND, {"service": "probe", "project": unhealthy_probe}),
        Status.FAIL,
        rf"{unhealthy_probe}_probe_1 is unhealthy \(last check exit 1: queue backlog\)",
    )
    expect(
        check(service.KIND, {"service": "probe", "project": unhealthy_probe, "wait": "1s"}),
        Status.FAIL,
        rf"{unhealthy_probe}_probe_1 is unhealthy \(last check exit 1: queue backlog\) "
        r"\(after 1(\.\d)?s\)",  # a loaded machine may see 1.1s
    )


def test_service_exec_failure_shows_masked_output(
    check: Check, engine_client: DockerClient
) -> None:
    options = {"service": "redis", "exec": ["sh", "-c", 'echo "pw=$REDIS_PASSWORD"; exit 4']}
    redis = re.escape(container(engine_client, "redis").name)
    expect(
        check(service.KIND, options),
        Status.FAIL,
        rf"{redis} `sh -c 'echo \"pw=\$REDIS_PASSWORD\"; exit 4'` exited 4: pw=\*\*\*",
    )


def test_engine_unreachable_errors_every_docker_check_in_one_line(
    make_ctx: Callable[..., KindContext], tmp_path: Any
) -> None:
    """The stack is up, but this run's DOCKER_HOST points nowhere: no check may pass or hang."""
    from ._stack import stack_env

    ctx = make_ctx(env={**stack_env(), "DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    cases: list[tuple[Any, dict[str, Any]]] = [
        (service.KIND, {"service": "api"}),
        (job.KIND, CANARY_HTTP),
        (queue.KIND, {"redis_url": redis_url(), "min_workers": 1}),
        (shutdown.KIND, SLEEP_HTTP),
    ]
    for kind, with_ in cases:
        outcome = attempt(kind, kind.options.model_validate(with_), ctx)
        expect(
            outcome,
            Status.ERROR,
            rf"Docker engine unreachable at unix://{tmp_path}/docker\.sock \(DOCKER_HOST\): "
            r"no such socket; start it with `sudo dockerd &`, `bash scripts/engine\.sh` "
            r"or `systemctl start docker`",
        )


def test_shutdown_with_too_short_a_grace_period_loses_the_job(check: Check, healed: None) -> None:
    """Last: the abandoned job lands in the failed registry later."""
    outcome = check(
        shutdown.KIND,
        {"via": "rq", "redis_url": redis_url(), "seconds": 6, "grace": "1s", "deadline": "3s"},
    )
    expect(
        outcome,
        Status.FAIL,
        rf"job {JOB_ID} \(sleep 6s\) was lost: still started [\d.]+s after it was queued, never "
        r"finished after the restart \(abandoned by the stopped worker, not re-queued\); "
        r"the worker was killed at the end of its 1s grace period \(exit 137\); "
        r"worker healthy again .*",
    )
