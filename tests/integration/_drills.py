"""What the drill and security test modules share: one stack per module, brought up from the
base compose file and a test-only override, and a kind run against it as the runner runs it.

Each module has its own compose project and ports (see the module docstrings); the images are
tagged ``itest-drills`` by the overrides, so building here never replaces the demo's images.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobcheck.attempts import attempt
from jobcheck.kinds.base import KindContext, StackInfo
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker

from ._compose import ROOT, Stack, attempt_twice_if_dropped, prepare_images, wait_for

if TYPE_CHECKING:
    from docker import DockerClient

TIMINGS: dict[str, float] = {}


@contextmanager
def stack_up(sdk: DockerClient, stack: Stack) -> Iterator[Stack]:
    """``stack`` built, up and healthy from a clean slate; removed with its volumes after
    (JOBCHECK_KEEP_STACK=1 keeps it)."""
    prepare_images()
    stack.down()
    try:
        built = stack.build()
        start = time.monotonic()
        stack.up()
        stack.wait_ready(sdk)
        took = time.monotonic() - start
        print(f"\n{stack.project}: build {built:.1f}s, up and healthy {took:.1f}s")
        yield stack
    finally:
        if os.environ.get("JOBCHECK_KEEP_STACK") != "1":
            stack.down()


def run_kind(
    kind: Any,
    options: dict[str, Any],
    stack: Stack,
    *,
    secrets: list[str],
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    label: str = "",
) -> Outcome:
    """One attempt of a jobcheck kind against ``stack``, mapped and masked as the runner does;
    its wall time is kept under ``label`` (default: the kind's name)."""
    ctx = KindContext(
        check_id="itest-drills",
        base_dir=ROOT,
        env=env if env is not None else dict(os.environ),
        timeout_s=timeout_s,
        mask=Masker(declared=secrets),
        stack=StackInfo(compose=list(stack.files), project=stack.project),
    )
    start = time.monotonic()
    outcome = attempt_twice_if_dropped(
        lambda: attempt(kind, kind.options.model_validate(options), ctx)
    )
    took = time.monotonic() - start
    TIMINGS[label or kind.name] = took
    for secret in secrets:
        assert secret not in outcome.message + outcome.output
    print(f"\n[{took:5.1f}s] {label or kind.name}: {outcome.status.value} {outcome.message}")
    if outcome.output and "\n" in outcome.output:
        print("  " + outcome.output.replace("\n", "\n  "))
    return outcome


def expect(outcome: Outcome, status: Status, pattern: str) -> None:
    """The status, and the message's first line matching ``pattern`` in full; further lines
    (findings) are matched by ``re.search`` in the tests that care."""
    assert outcome.status is status, f"{outcome.status}: {outcome.message}"
    first = outcome.message.splitlines()[0]
    assert re.fullmatch(pattern, first), outcome.message


def override(*parts: str) -> Path:
    return ROOT.joinpath("docker", *parts)


def redis_answers(url: str, deadline_s: float = 60.0) -> None:
    """Wait until Redis answers PING through its published port: a container just recreated is
    healthy inside before the host's port forwarding reaches it on a loaded machine."""
    import redis

    def ping() -> bool | None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return True if client.ping() else None
        except redis.RedisError:
            return None
        finally:
            client.close()

    wait_for(f"Redis at {url.rpartition('@')[2]} answering", ping, deadline_s)


def amqp_answers(port: str, deadline_s: float = 120.0) -> None:
    """Wait until the published AMQP port answers the protocol header with Connection.Start."""
    import socket

    def speaks() -> bool | None:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=3) as conn:
                conn.sendall(b"AMQP\x00\x00\x09\x01")
                return True if conn.recv(1) == b"\x01" else None
        except OSError:
            return None

    wait_for(f"AMQP on 127.0.0.1:{port} answering", speaks, deadline_s)
