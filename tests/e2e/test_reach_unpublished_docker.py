"""Stacks that publish NO port, checked anyway: `${stack.SERVICE.PORT}` forwards through the
local engine (a loopback listener relayed by `docker exec` into a lease container on the
stack's network), for the RQ stack, the Celery stack on Redis and on RabbitMQ. Their queue,
canary and drill checks pass; a stopped worker still fails the queue check with the waiting
jobs; after the run, after Ctrl-C and after SIGKILL nothing is left — no forwarder container,
no listening port, no process.

Own compose projects (jc-h19-reach-*), no published port at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reach_stacks import (
    DOCKER,
    assert_nothing_left,
    checks,
    down,
    forwarded_ports,
    jobcheck,
    lease_containers,
    published_ports,
    unpublished,
    wait_for,
)

from jobcheck.probes import engine

pytestmark = pytest.mark.docker

VIA = "via the engine (not published)"
# The queue checks' broker calls get 15 s, not 5: each connection through the engine is a
# `docker exec` when no relay is waiting, which took over 5 s in CI on a loaded machine.
HEADER = """\
version: 1
name: reach {name}
env_files: {env_files}
secrets: [REDIS_PASSWORD, RABBITMQ_PASSWORD]
defaults: {{owner: "@team", expect: works, rollback: redeploy, timeout: 2m}}
stack: {{compose: [{compose}], project: {project}, up: true, build: false, wait: 4m}}
"""
RQ = """\
vars:
  api: "http://${stack.api.8000}"
  redis: "redis://:${REDIS_PASSWORD}@${stack.redis.6379}/0"
checks:
  - {id: api-health, kind: http, with: {url: "${api}/health", status: 200, wait: 60s}}
  - id: queue
    kind: queue
    with: {redis_url: "${redis}", queue: default, max_depth: 50, min_workers: 1,
           maxmemory_policy: noeviction, timeout: 15s}
  - id: canary-http
    kind: job
    needs: [api-health]
    with: {via: http, enqueue_url: "${api}/jobs/canary", status_url: "${api}/jobs/{id}",
           redis_url: "${redis}", deadline: 20s}
  - id: canary-rq
    kind: job
    with: {via: rq, redis_url: "${redis}", queue: default, function: app.jobs.canary, deadline: 20s}
  - id: broker-restart
    kind: broker_restart
    needs: [queue, canary-http, canary-rq]
    timeout: 3m
    with: {framework: rq, redis_url: "${redis}", task: app.jobs.canary,
           sleep_task: app.jobs.sleep, seconds: 3, waiting: 3, deadline: 45s}
"""
CELERY = """\
vars:
  api: "http://${stack.api.8000}"
  broker: "BROKER"
  backend: "redis://:${REDIS_PASSWORD}@${stack.redis.6379}/1"
checks:
  - id: api-health
    kind: http
    with: {url: "${api}/health", status: 200, json: {ok: true}, wait: 60s}
  - id: queue
    kind: queue
    with: {framework: celery, broker_url: "${broker}", queue: celery, max_depth: 50, min_workers: 1,
           timeout: 15s}
  - id: canary-celery
    kind: job
    with: {via: celery, task: app.tasks.canary, broker_url: "${broker}",
           backend_url: "${backend}", queue: celery, deadline: 20s}
  - id: canary-http
    kind: job
    needs: [api-health]
    with: {via: http, enqueue_url: "${api}/tasks", body: {type: 1},
           status_url: "${api}/tasks/{id}", id_field: task_id, status_field: task_status,
           deadline: 20s}
  - id: worker-limits
    kind: worker_limits
    with: {framework: celery, broker_url: "${broker}", queue: celery, time_limit: 30s,
           soft_time_limit: required, max_prefetch: 1}
  - id: shutdown
    kind: shutdown
    needs: [queue, canary-celery, canary-http, worker-limits]
    timeout: 3m
    with: {service: worker, via: celery, task: app.tasks.sleep, broker_url: "${broker}",
           backend_url: "${backend}", queue: celery, seconds: 4, deadline: 90s}
"""
REDIS_BROKER = "redis://:${REDIS_PASSWORD}@${stack.redis.6379}/0"
AMQP_BROKER = "amqp://jobcheck:${RABBITMQ_PASSWORD}@${stack.rabbitmq.5672}//"
CELERY_ENV = DOCKER / "celery" / "staging.env"
AMQP_ENV = DOCKER / "celery" / "overrides" / "amqp.env"

STACKS: dict[str, tuple[list[Path], list[Path], str]] = {
    "rq": ([DOCKER / "compose.yaml"], [DOCKER / "staging.env"], RQ),
    "celery-redis": (
        [DOCKER / "celery" / "compose.yaml"],
        [CELERY_ENV],
        CELERY.replace("BROKER", REDIS_BROKER),
    ),
    "celery-amqp": (
        [DOCKER / "celery" / "compose.yaml", DOCKER / "celery" / "overrides" / "amqp.yaml"],
        [CELERY_ENV, AMQP_ENV],
        CELERY.replace("BROKER", AMQP_BROKER),
    ),
}


def stack_env() -> dict[str, str]:
    env = {**os.environ, "RABBITMQ_IMAGE": "jobcheck/rabbitmq:bookworm"}
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(name, None)
    return env


class Stack:
    def __init__(self, name: str, folder: Path) -> None:
        files, env_files, checks_text = STACKS[name]
        self.project = f"jc-h19-reach-{name}"
        self.folder = folder
        self.env = stack_env()
        self.compose = unpublished(files, self.project, folder / "compose.yaml", self.env)
        self.header = HEADER.format(
            name=name,
            env_files="[" + ", ".join(str(p) for p in env_files) + "]",
            compose=self.compose,
            project=self.project,
        )
        self.checks_text = checks_text

    def write(self, checks_text: str | None = None) -> Path:
        path = self.folder / "jobcheck.yaml"
        path.write_text(self.header + (self.checks_text if checks_text is None else checks_text))
        return path


@pytest.fixture(scope="module")
def sdk() -> Iterator[Any]:
    client = engine.client(stack_env())
    yield client
    client.close()


@pytest.fixture(scope="module")
def rq_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack("rq", tmp_path_factory.mktemp("reach-rq"))
    down(stack.compose, stack.project, stack.env)
    stack.write()
    done = jobcheck(["stack", "up", "--no-build"], stack.env, stack.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    yield stack
    down(stack.compose, stack.project, stack.env)


def run_all_and_check(stack: Stack, sdk: Any) -> dict[str, dict[str, Any]]:
    stack.write()
    done = jobcheck(["run", "--json", "out.json", "--no-color"], stack.env, stack.folder)
    found = checks(stack.folder / "out.json")
    assert published_ports(sdk, stack.project) == []  # really nothing published
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert {c["status"] for c in found.values()} == {"pass"}
    for check in found.values():
        assert VIA in check["message"], check["message"]
    assert_nothing_left(sdk, forwarded_ports([c["message"] for c in found.values()]))
    return found


def test_the_rq_stack_with_nothing_published_passes_queue_canaries_and_a_broker_restart(
    rq_stack: Stack, sdk: Any
) -> None:
    found = run_all_and_check(rq_stack, sdk)
    assert found["queue"]["message"].endswith(f"; redis {VIA}")
    assert found["canary-http"]["message"].endswith(f"; api {VIA}; redis {VIA}")


def test_a_stopped_worker_still_fails_the_queue_check_naming_the_waiting_jobs(
    rq_stack: Stack, sdk: Any
) -> None:
    [worker] = engine.containers(sdk, rq_stack.project, "worker", include_stopped=False)
    [api] = engine.containers(sdk, rq_stack.project, "api", include_stopped=False)
    worker.stop(timeout=30)
    try:
        enqueue = (
            "import urllib.request as u\n"
            "for _ in range(3):\n"
            "    u.urlopen(u.Request('http://127.0.0.1:8000/jobs/canary', method='POST'))"
        )
        assert api.exec_run(["python", "-c", enqueue]).exit_code == 0
        rq_stack.write(RQ.split("  - id: canary-http")[0])
        # A worker that died without deregistering (killed past its stop grace on a loaded
        # machine) is live for RQ until its key's TTL (worker_ttl + 60 s) lapses, and the
        # check rightly counts it until then (seen once in CI): ask again until it lapses.
        until = time.monotonic() + 150
        while True:
            done = jobcheck(
                ["run", "--no-stack-up", "--only", "queue", "--json", "out.json", "--no-color"],
                rq_stack.env,
                rq_stack.folder,
            )
            if done.returncode != 0 or time.monotonic() > until:
                break
            time.sleep(5)
        queue = checks(rq_stack.folder / "out.json")["queue"]
        assert done.returncode == 1, done.stdout + done.stderr
        assert queue["status"] == "fail"
        assert "0 live workers, expected at least 1 (3 waiting)" in queue["message"]
        assert queue["message"].endswith(f"; redis {VIA}")
        assert_nothing_left(sdk, forwarded_ports([queue["message"]]))
    finally:
        worker.start()


SLEEPER = """\
checks:
  - id: holds-a-forward
    kind: command
    timeout: 5m
    with: {run: "python3 -c 'import time; time.sleep(297)' ${stack.redis.6379}"}
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_an_interrupted_or_killed_run_leaves_nothing_behind(
    rq_stack: Stack, sdk: Any, how: signal.Signals
) -> None:
    rq_stack.write(SLEEPER)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", "--no-stack-up", "--no-color"],
        env=rq_stack.env,
        cwd=rq_stack.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for("the forward's container", lambda: lease_containers(sdk), 60)
        # Made from an image Compose v2 built (labelled with that project and service), the
        # forwarder still belongs to no compose project: neither Compose nor a drill sees it.
        for name in lease_containers(sdk):
            labels = sdk.containers.get(name).labels
            assert not labels.get("com.docker.compose.project"), labels
            assert not labels.get("com.docker.compose.service"), labels
        assert not [
            c.name
            for c in engine.containers(sdk, rq_stack.project)
            if c.name.startswith("jobcheck-reach-")
        ]
        time.sleep(1)  # the command is running too
        process.send_signal(how)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == (130 if how == signal.SIGINT else -signal.SIGKILL), output
    assert_nothing_left(sdk, set(), process_marker="time.sleep(297)")


@pytest.mark.parametrize("name", ["celery-redis", "celery-amqp"])
def test_the_celery_stack_with_nothing_published_passes_queue_canaries_and_a_drill(
    name: str, sdk: Any, tmp_path: Path
) -> None:
    stack = Stack(name, tmp_path)
    down(stack.compose, stack.project, stack.env)
    try:
        found = run_all_and_check(stack, sdk)
        broker = "rabbitmq" if name.endswith("amqp") else "redis"
        assert found["queue"]["message"].endswith(f"; {broker} {VIA}")
        assert found["shutdown"]["message"].endswith(f"; {broker} {VIA}; redis {VIA}") or (
            broker == "redis" and found["shutdown"]["message"].endswith(f"; redis {VIA}")
        )
    finally:
        down(stack.compose, stack.project, stack.env)
