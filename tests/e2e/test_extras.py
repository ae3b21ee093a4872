"""Every extra is complete: the wheel installed with ``[rq]`` or ``[celery]`` alone into a fresh
venv (no ``[dev]``: pytest would bring `packaging`, which kombu's Redis transport needs and
``celery`` alone does not pull in) runs real checks against real brokers — a queue check and a
canary job each, with the workers started from that same venv.

RQ and Celery on Redis: a redis-server on the host (scripts/host-services.sh). Celery on
RabbitMQ: the offline image jobcheck/rabbitmq:bookworm (scripts/base-images.sh rabbitmq), run
with the Celery stack's own start script, AMQP on 127.0.0.1:21672 (container jc-h18-extras-amqp).
A container rather than Debian's rabbitmq-server on the host: no system node, epmd or Erlang
cookie on the machine to collide with another run's, and it is the broker image the Celery
stack's AMQP tests already use.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clean_install import (
    ROOT,
    clean_env,
    fresh_venv,
    importable,
    redis_server,
    spawn,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow

PASSWORD = "jc-extras-Secret-7"
AMQP_PORT = int(os.environ.get("JOBCHECK_EXTRAS_AMQP_PORT", "21672"))
AMQP_USER, AMQP_PASSWORD = "jobcheck", "jc-extras-amqp-9"
RABBITMQ_IMAGE = os.environ.get("JOBCHECK_RABBITMQ_IMAGE", "jobcheck/rabbitmq:bookworm")
RABBITMQ_CONTAINER = "jc-h18-extras-amqp"
RUN_TIMEOUT_S = 180

TASKS = """\
import os

from celery import Celery

app = Celery("extras", broker=os.environ["EXTRAS_BROKER"], backend=os.environ["EXTRAS_BACKEND"])


@app.task(name="extras.add")
def add(a, b):
    return a + b
"""
RQ_TASKS = """\
def canary():
    return "ok"
"""


@pytest.fixture(scope="module")
def wheel(jobcheck_wheel: Path) -> Path:
    return jobcheck_wheel


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from redis_server(tmp_path_factory.mktemp("redis"), PASSWORD)


def redis_url(port: int, db: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/{db}"


def registered(port: int, db: int, worker: str) -> bool:
    import redis

    with redis.Redis(port=port, db=db, password=PASSWORD, socket_timeout=2) as client:
        return bool(client.exists(f"rq:worker:{worker}"))


def venv_with(extra: str, wheel: Path, where: Path) -> Path:
    bin_dir = fresh_venv(where / f"venv-{extra}", wheel, extra)
    assert not importable(bin_dir, "pytest"), "the venv must not have the dev extra"
    return bin_dir


@pytest.fixture(scope="module")
def celery_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venv_with("celery", wheel, tmp_path_factory.mktemp("celery"))


def run_checklist(bin_dir: Path, folder: Path, checks: str, **env: str) -> dict[str, Any]:
    """`jobcheck run` from the venv; the JSON report (asserting exit 0 with the output)."""
    (folder / "jobcheck.yaml").write_text(
        "version: 1\nname: extras\n"
        'defaults: {owner: "@team", expect: it works, rollback: revert, timeout: 90s}\n'
        f"checks:\n{checks}"
    )
    result = subprocess.run(
        [bin_dir / "jobcheck", "run", "--no-color", "--json", "report.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=clean_env(**env),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads((folder / "report.json").read_text())
    return report


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["checks"]}


def celery_worker(
    bin_dir: Path, folder: Path, broker: str, backend: str
) -> subprocess.Popen[bytes]:
    """A Celery worker from the venv, running once it answers a ping through the broker."""
    (folder / "extras_tasks.py").write_text(TASKS)
    log = folder / "worker.log"
    env = clean_env(EXTRAS_BROKER=broker, EXTRAS_BACKEND=backend, PYTHONPATH=str(folder))
    argv: list[str | Path] = [bin_dir / "celery", "-A", "extras_tasks", "worker", "-c", "1"]
    argv += ["--pool=threads", "-n", "extras@%h", "--without-gossip", "--without-mingle"]
    process = spawn(argv, log, folder, env)
    ping = [bin_dir / "celery", "-A", "extras_tasks", "inspect", "ping", "--timeout", "2"]

    def answers() -> bool:
        done = subprocess.run(ping, cwd=folder, env=env, capture_output=True, timeout=30)
        return done.returncode == 0

    wait_until("the Celery worker", answers, log, process)
    return process


CELERY_CHECKS = """\
  - id: celery-queue
    kind: queue
    with: {framework: celery, broker_url: "${BROKER}", queue: celery, max_depth: 10, min_workers: 1}
  - id: celery-canary
    kind: job
    with: {via: celery, task: extras.add, args: [2, 3], broker_url: "${BROKER}",
           backend_url: "${BACKEND}", deadline: 30s}
"""


def test_the_rq_extra_alone_runs_a_real_queue_check_and_canary(
    wheel: Path, redis_port: int, tmp_path: Path
) -> None:
    bin_dir = venv_with("rq", wheel, tmp_path)
    assert not importable(bin_dir, "celery")
    url = redis_url(redis_port, 1)
    (tmp_path / "rq_tasks.py").write_text(RQ_TASKS)
    log = tmp_path / "worker.log"
    argv: list[str | Path] = [bin_dir / "rq", "worker", "--url", url, "--name", "extras-rq"]
    worker = spawn([*argv, "--path", tmp_path, "default"], log, tmp_path, clean_env())
    try:
        wait_until("the RQ worker", lambda: registered(redis_port, 1, "extras-rq"), log, worker)
        checks = """\
  - id: rq-queue
    kind: queue
    with: {redis_url: "${REDIS}", queue: default, max_depth: 10, max_failed: 0, min_workers: 1}
  - id: rq-canary
    kind: job
    with: {via: rq, redis_url: "${REDIS}", queue: default, task: rq_tasks.canary, deadline: 30s}
"""
        report = run_checklist(bin_dir, tmp_path, checks, REDIS=url)
    finally:
        stop(worker)
    assert statuses(report) == {"rq-queue": "pass", "rq-canary": "pass"}


def test_the_celery_extra_alone_runs_real_checks_on_redis(
    celery_bin: Path, redis_port: int, tmp_path: Path
) -> None:
    assert not importable(celery_bin, "rq")
    broker, backend = redis_url(redis_port, 2), redis_url(redis_port, 3)
    worker = celery_worker(celery_bin, tmp_path, broker, backend)
    try:
        report = run_checklist(celery_bin, tmp_path, CELERY_CHECKS, BROKER=broker, BACKEND=backend)
    finally:
        stop(worker)
    assert statuses(report) == {"celery-queue": "pass", "celery-canary": "pass"}


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[str]:
    """RabbitMQ (Debian's 3.10, offline image) on 127.0.0.1:AMQP_PORT; yields the broker URL."""
    import docker

    built = subprocess.run(
        ["bash", ROOT / "scripts" / "base-images.sh", "rabbitmq"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    sdk = docker.from_env()
    for stale in sdk.containers.list(all=True, filters={"name": RABBITMQ_CONTAINER}):
        stale.remove(force=True)
    start = ROOT / "docker" / "celery" / "rabbitmq" / "start.sh"
    container = sdk.containers.run(
        RABBITMQ_IMAGE,
        ["/bin/sh", "/usr/local/bin/jobcheck-rabbitmq"],
        name=RABBITMQ_CONTAINER,
        detach=True,
        user="rabbitmq",
        environment={"RABBITMQ_USER": AMQP_USER, "RABBITMQ_PASSWORD": AMQP_PASSWORD},
        volumes={str(start): {"bind": "/usr/local/bin/jobcheck-rabbitmq", "mode": "ro"}},
        ports={"5672/tcp": ("127.0.0.1", AMQP_PORT)},
        mem_limit="512m",
    )
    url = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@127.0.0.1:{AMQP_PORT}//"
    try:
        _wait_for_amqp(url, container)
        yield url
    finally:
        container.remove(force=True)
        sdk.close()


def _wait_for_amqp(url: str, container: Any) -> None:
    from kombu import Connection

    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        container.reload()
        assert container.status in ("created", "running"), container.logs()[-3000:]
        try:
            with Connection(url, connect_timeout=2) as conn:
                conn.connect()
                return
        except Exception:  # refused, reset or not yet accepting logins: keep waiting
            time.sleep(1.0)
    raise AssertionError(f"RabbitMQ not ready within 120s:\n{container.logs()[-3000:]!r}")


@pytest.mark.docker
def test_the_celery_extra_alone_runs_real_checks_on_rabbitmq(
    celery_bin: Path, redis_port: int, rabbitmq: str, tmp_path: Path
) -> None:
    backend = redis_url(redis_port, 4)
    worker = celery_worker(celery_bin, tmp_path, rabbitmq, backend)
    try:
        report = run_checklist(
            celery_bin, tmp_path, CELERY_CHECKS, BROKER=rabbitmq, BACKEND=backend
        )
    finally:
        stop(worker)
    assert statuses(report) == {"celery-queue": "pass", "celery-canary": "pass"}
