"""Real parts for the probe tests, and how to start and stop them with bounded waits: a
redis-server on 127.0.0.1 (password, no persistence, a free port), real RQ and Celery workers.

Databases: RQ's worker uses 1, Celery's broker 2 and backend 3; the ``scratch`` fixture flushes
9 for each test, so a test can lay out keys (or a queue with no worker) without disturbing them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

ROOT = Path(__file__).resolve().parents[3]
DEBIAN_REDIS = Path("/usr/bin/redis-server")
PASSWORD = "jc-test-Secret-42"
RQ_DB, CELERY_DB, BACKEND_DB, SCRATCH_DB = 1, 2, 3, 9
RQ_WORKER = "jc-rq-1"
CELERY_WORKER = "jc-celery-1"
CELERY_QUEUES = ("celery", "canary")
START_S = 10.0
# A worker's own start: python, its imports, the broker connection. CI runs these tests beside
# two Docker test groups on two cores, where a Celery worker once took 30 s to say "ready".
WORKER_START_S = 120.0
# From "ready" to answering control commands, each wait for replies CONTROL_S long.
ANSWER_S = 60.0
CONTROL_S = 2.0
STOP_S = 10.0


def redis_binary(environ: Mapping[str, str] = os.environ) -> str:
    """redis-server from PATH or Debian's place; fail (not skip) with the fix when missing."""
    found = shutil.which("redis-server") or (str(DEBIAN_REDIS) if DEBIAN_REDIS.exists() else None)
    if found:
        return found
    hint = "redis-server not found: run `bash scripts/host-services.sh` (installs it from Debian)"
    if environ.get("JOBCHECK_ALLOW_NO_REDIS") == "1":
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


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc: an RQ work horse starts its own session, so
    signalling the worker's process group does not reach it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def hard_kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and everything it forked, as `docker kill` would: no cleanup runs."""
    victims = [process.pid, *descendants(process.pid)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(STOP_S)
    until = time.monotonic() + STOP_S
    while any(running(pid) for pid in victims) and time.monotonic() < until:
        time.sleep(0.05)


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


def answers(port: int) -> bool:
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()


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


def start_rq_worker(
    url: str, name: str, queues: list[str], log: Path, client: redis.Redis
) -> subprocess.Popen[bytes]:
    """A real RQ worker (``rq worker``), running once its key is in Redis."""
    command = [sys.executable, "-m", "rq.cli", "worker", "--url", url, "--name", name]
    command += ["--path", str(ROOT), *queues]
    process = spawn(command, log, worker_env())
    wait_until(
        f"the RQ worker {name}",
        lambda: bool(client.exists(f"rq:worker:{name}")) or process.poll() is not None,
        WORKER_START_S,
        log,
    )
    if process.poll() is not None:
        pytest.fail(f"the RQ worker {name} exited:\n{log.read_text()[-2000:]}", pytrace=False)
    return process


@dataclass(frozen=True)
class CeleryWorker:
    broker_url: str
    backend_url: str
    name: str  # as it answers a ping: jc-celery-1@HOST


def poll(read: Callable[[], Any], done: Callable[[Any], bool], deadline_s: float = 20.0) -> Any:
    """Read until ``done(value)`` or the deadline; the last value either way."""
    until = time.monotonic() + deadline_s
    value = read()
    while not done(value) and time.monotonic() < until:
        time.sleep(0.2)
        value = read()
    return value
