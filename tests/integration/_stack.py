"""What the integration tests share: the test stack's name, ports, password, and repairs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobcheck.kinds.base import StackInfo
from jobcheck.probes import engine
from jobcheck.staging import compose_cli

if TYPE_CHECKING:
    from docker import DockerClient

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("JOBCHECK_ITEST_PROJECT", "jobcheck-itest")
API_PORT = os.environ.get("JOBCHECK_ITEST_API_PORT", "18000")
REDIS_PORT = os.environ.get("JOBCHECK_ITEST_REDIS_PORT", "16379")
API = f"http://127.0.0.1:{API_PORT}"
UP_WAIT_S = 240.0
HEAL_WAIT_S = 120.0


def password() -> str:
    return compose_cli.env_file_values(ROOT / "docker" / "staging.env")["REDIS_PASSWORD"]


def redis_url() -> str:
    return f"redis://:{password()}@127.0.0.1:{REDIS_PORT}/0"


def stack_env() -> dict[str, str]:
    """The environment of the tests' Compose calls and checks: the stack's own ports."""
    return {
        **os.environ,
        "API_PORT": API_PORT,
        "REDIS_PORT": REDIS_PORT,
        "REDIS_PASSWORD": password(),
    }


def heal(sdk: DockerClient, info: StackInfo) -> None:
    """Start what a test stopped; restart what stays unhealthy (a worker whose Redis restarted
    has lost its registration), and wait until every service is ready again."""
    for container in engine.containers(sdk, info.project):
        if container.status != "running":
            container.start()
    services = compose_cli.Compose.for_stack(info, stack_env()).services()
    ok, message, states = compose_cli.wait_healthy(
        sdk, info.project, services, time.monotonic() + 30, lambda line: None
    )
    if ok:
        forget_dead_workers(sdk)
        return
    for state in states:
        if not state.ready:
            sdk.containers.get(state.name).restart(timeout=10)
    ok, message, _ = compose_cli.wait_healthy(
        sdk, info.project, services, time.monotonic() + HEAL_WAIT_S, lambda line: None
    )
    assert ok, f"could not heal the stack: {message}"
    forget_dead_workers(sdk)


def container(sdk: DockerClient, service: str) -> Any:
    found = engine.containers(sdk, PROJECT, service)
    assert found, f"no {service} container in {PROJECT}"
    return found[0]


def forget_dead_workers(sdk: DockerClient) -> list[str]:
    """Drop RQ registrations that no running worker process owns: a worker killed by a test
    keeps its registration until its heartbeat key expires (about two minutes), and one
    restarted in the same container has the same hostname but a later birth."""

    import redis

    started = {
        c.attrs["Config"]["Hostname"]: c.attrs["State"]["StartedAt"][:19]
        for c in engine.containers(sdk, PROJECT, "worker")
        if c.status == "running"
    }
    dropped = []
    r = redis.Redis.from_url(redis_url(), decode_responses=True, socket_timeout=5)
    try:
        for key in r.smembers("rq:workers:default"):
            host, birth = r.hmget(key, "hostname", "birth")
            since = started.get(host or "")
            if since is None or (birth or "")[:19] < since:
                r.srem("rq:workers:default", key)
                r.srem("rq:workers", key)
                r.delete(key)
                dropped.append(key)
    finally:
        r.close()
    return dropped
