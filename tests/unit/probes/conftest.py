"""Real parts for the probe tests: a redis-server on 127.0.0.1 (password, no persistence, a free
port), a real RQ worker and a real Celery worker, each started with a bounded wait and stopped
at the end of the session.

Databases: RQ's worker uses 1, Celery's broker 2 and backend 3; ``scratch`` flushes 9 for each
test, so a test can lay out keys (or a queue with no worker) without disturbing the workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.rq_adapter import RQAdapter

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "jc-test-Secret-42"
RQ_DB, CELERY_DB, BACKEND_DB, SCRATCH_DB = 1, 2, 3, 9
RQ_WORKER = "jc-rq-1"
CELERY_WORKER = "jc-celery-1"
CELERY_QUEUES = ("celery", "canary")
START_S = 10.0
WORKER_START_S = 40.0
STOP_S = 10.0


def redis_binary() -> str:
    """redis-server from PATH or Debian's place; fail (not skip) with the fix when missing."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found:
        return found
    hint = "redis-server not found: run `bash scripts/host-services.sh` (installs it from Debian)"
    if os.environ.get("JOBCHECK_ALLOW_NO_REDIS") == "1":
        pytest.skip(f"{hint}; skipped because JOBCHECK_ALLOW_NO_REDIS=1")
    pytest.fail(f"{hint}, or set JOBCHECK_ALLOW_NO_REDIS=1 to skip these tests", pytrace=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool], deadline_s: float, log: Path) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if ready():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    pytest.fail(f"{what} not ready within {deadline_s:g}s; log:\n{tail}", pytrace=False)


def stop(process: subprocess.Popen[bytes]) -> None:
    """TERM the process group (a worker forks children), then KILL what is left."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_S)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    def url(self, db: int, password: str = PASSWORD) -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/{db}"

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, password=PASSWORD, socket_timeout=5
        )


def _answers(port: int) -> bool:
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = redis_binary()
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = folder / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"]
    command += ["--logfile", str(log)]
    process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(f"redis-server on port {port}", lambda: _answers(port), START_S, log)
        yield RedisServer(port, process)
    finally:
        stop(process)


@pytest.fixture
def scratch(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """Database 9, empty at the start of each test; ``scratch_url`` points at it."""
    client = redis_server.client(SCRATCH_DB)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def scratch_url(redis_server: RedisServer, scratch: redis.Redis) -> str:
    return redis_server.url(SCRATCH_DB)


def worker_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return os.environ | {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"} | extra


def spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@pytest.fixture(scope="session")
def rq_worker(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real RQ worker on queues default and canary (database 1); yields its Redis URL."""
    url = redis_server.url(RQ_DB)
    log = tmp_path_factory.mktemp("rq") / "worker.log"
    command = [sys.executable, "-m", "rq.cli", "worker", "--url", url, "--name", RQ_WORKER]
    command += ["--path", str(ROOT), "default", "canary"]
    process = spawn(command, log, worker_env())
    client = redis_server.client(RQ_DB)
    try:
        wait_until(
            "the RQ worker",
            lambda: bool(client.exists(f"rq:worker:{RQ_WORKER}")) or process.poll() is not None,
            WORKER_START_S,
            log,
        )
        if process.poll() is not None:
            pytest.fail(f"the RQ worker exited:\n{log.read_text()[-2000:]}", pytrace=False)
        yield url
    finally:
        client.close()
        stop(process)


@dataclass(frozen=True)
class CeleryWorker:
    broker_url: str
    backend_url: str
    name: str  # as it answers a ping: jc-celery-1@HOST


@pytest.fixture(scope="session")
def celery_worker(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A real Celery worker on queues celery and canary.

    The threads pool, not solo: a solo worker runs a task on the thread that answers control
    commands, so while busy it answers neither ``ping`` nor ``inspect active``.
    """
    broker, backend = redis_server.url(CELERY_DB), redis_server.url(BACKEND_DB)
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "tests.fixtures.celery_app", "worker"]
    command += ["--pool=threads", "-c", "2", "-Q", ",".join(CELERY_QUEUES)]
    command += ["-n", f"{CELERY_WORKER}@%h", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat", "--loglevel", "INFO"]
    env = worker_env(JOBCHECK_TEST_BROKER=broker, JOBCHECK_TEST_BACKEND=backend)
    process = spawn(command, log, env)
    names: list[tuple[str, ...]] = []

    def answered() -> bool:
        if process.poll() is not None:
            return True
        with CeleryAdapter(broker, control_timeout_s=0.5) as adapter:
            names.append(adapter.live_workers("celery"))
        return bool(names[-1])

    try:
        wait_until("the Celery worker", answered, WORKER_START_S, log)
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited:\n{log.read_text()[-2000:]}", pytrace=False)
        yield CeleryWorker(broker, backend, names[-1][0])
    finally:
        stop(process)


@pytest.fixture
def rq(rq_worker: str) -> Iterator[RQAdapter]:
    with RQAdapter(rq_worker, timeout_s=2.0) as adapter:
        yield adapter


@pytest.fixture
def celery(celery_worker: CeleryWorker) -> Iterator[CeleryAdapter]:
    with CeleryAdapter(
        celery_worker.broker_url, backend_url=celery_worker.backend_url, timeout_s=2.0
    ) as adapter:
        yield adapter


def poll(read: Callable[[], Any], done: Callable[[Any], bool], deadline_s: float = 20.0) -> Any:
    """Read until ``done(value)`` or the deadline; the last value either way."""
    until = time.monotonic() + deadline_s
    value = read()
    while not done(value) and time.monotonic() < until:
        time.sleep(0.2)
        value = read()
    return value
