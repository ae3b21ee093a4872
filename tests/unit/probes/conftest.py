"""Fixtures for the probe tests: a real redis-server, RQ worker and Celery worker (session-wide,
started with bounded waits, stopped at the end) and adapters pointed at them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from jobcheck.probes.celery_adapter import CeleryAdapter
from jobcheck.probes.rq_adapter import RQAdapter

from .realparts import (
    ANSWER_S,
    BACKEND_DB,
    CELERY_DB,
    CELERY_QUEUES,
    CELERY_WORKER,
    CONTROL_S,
    PASSWORD,
    RQ_DB,
    RQ_WORKER,
    SCRATCH_DB,
    START_S,
    WORKER_START_S,
    CeleryWorker,
    RedisServer,
    answers,
    free_port,
    redis_binary,
    spawn,
    start_rq_worker,
    stop,
    wait_until,
    worker_env,
)


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
        wait_until(f"redis-server on port {port}", lambda: answers(port), START_S, log)
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


@pytest.fixture(scope="session")
def rq_worker(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real RQ worker on queues default and canary (database 1); yields its Redis URL."""
    url = redis_server.url(RQ_DB)
    log = tmp_path_factory.mktemp("rq") / "worker.log"
    client = redis_server.client(RQ_DB)
    process = start_rq_worker(url, RQ_WORKER, ["default", "canary"], log, client)
    try:
        yield url
    finally:
        client.close()
        stop(process)


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

    def said_ready() -> bool:
        return process.poll() is not None or b" ready." in log.read_bytes()

    def answered() -> bool:
        if process.poll() is not None:
            return True
        with CeleryAdapter(broker, control_timeout_s=CONTROL_S) as adapter:
            names.append(adapter.live_workers("celery"))
        return bool(names[-1])

    try:
        # Two bounded waits: the worker's own start (its log says "ready."), then its answer to
        # a ping, each reply awaited CONTROL_S: a loaded machine is slow at both.
        wait_until("the Celery worker", said_ready, WORKER_START_S, log)
        wait_until("the Celery worker's answer to a ping", answered, ANSWER_S, log)
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
