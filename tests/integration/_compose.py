"""Stacks beside the RQ one (docker/celery, docker/samples/*), driven with the Compose CLI.

Deliberately independent of jobcheck's own staging code: these tests prove the stacks
themselves, which jobcheck's kinds are later tested against. Every wait has a deadline; HTTP
and Redis traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from jobcheck.results import Outcome, Status

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BUILD_TIMEOUT_S = 1800.0
COMPOSE_TIMEOUT_S = 180.0
UP_WAIT_S = 180.0
HTTP_TIMEOUT_S = 5.0

T = TypeVar("T")


class Timeout(AssertionError):
    """A bounded wait ran out."""


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def compose_command() -> list[str]:
    """`docker compose` where the plugin answers, else `docker-compose` (JOBCHECK_COMPOSE wins:
    v2, v1 or a command line, as for jobcheck itself)."""
    chosen = os.environ.get("JOBCHECK_COMPOSE", "").strip()
    if chosen:
        aliases = {"v2": ["docker", "compose"], "v1": ["docker-compose"]}
        return aliases.get(chosen.lower(), shlex.split(chosen))
    try:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        probe = None
    return (
        ["docker", "compose"] if probe is not None and probe.returncode == 0 else ["docker-compose"]
    )


def run(cmd: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> str:
    """Run a command to completion within `timeout_s`; fail the test with its output if not."""
    try:
        done = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=ROOT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Timeout(f"{shlex.join(cmd)} still running after {timeout_s:.0f}s") from exc
    if done.returncode != 0:
        pytest.fail(
            f"{shlex.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n"
            f"{done.stderr[-3000:]}",
            pytrace=False,
        )
    return done.stdout


# One image build at a time on this machine: scripts/test.sh runs the integration modules in
# concurrent groups (tests/integration/_groups.py), and most stacks build the same shared tags
# (jobcheck/demo-redis:staging, jobcheck/celery-rabbitmq:staging...) from the same inputs. Built
# one after the other, the second build is a cache hit giving the same image ID, so a running
# container of that tag is never affected; built at once, two builds race on the tag (and two
# scripts/wheels.sh on docker/wheels/). A file lock: released by the kernel if a test dies.
BUILD_LOCK = Path(tempfile.gettempdir()) / "jobcheck-itest-build.lock"


@contextmanager
def build_lock(deadline_s: float = BUILD_TIMEOUT_S) -> Iterator[None]:
    """Hold the machine's image-build lock (waiting at most ``deadline_s`` for it)."""
    with BUILD_LOCK.open("a") as handle:
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Timeout(
                        f"{BUILD_LOCK} still held by another build after {deadline_s:.0f}s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_images() -> None:
    """docker/.env names the base images (scripts/stack-images.sh writes it, offline or not);
    the wheelhouse must cover every requirements file (scripts/wheels.sh: quick when current)."""
    with build_lock():
        if not (DOCKER / ".env").is_file():
            run(["bash", "scripts/stack-images.sh"], timeout_s=900)
        run(["bash", "scripts/wheels.sh"], timeout_s=600)


# A fresh connection to a healthy Redis through its published port is, now and then, closed
# before it answers (seen on the Celery stacks, a few times in a whole run of the integration
# tests, even right after a PING through the same port answered; cause not found). A check
# that ended so before doing anything (no output) is attempted once more, and says so.
DROPPED = "is unreachable: Connection closed by server."


def dropped_at_once(outcome: Outcome) -> bool:
    """Did the attempt end on a dropped first connection, before it did anything?"""
    return (
        outcome.status is Status.FAIL
        and not outcome.output
        and outcome.message.splitlines()[0].endswith(DROPPED)
    )


def attempt_twice_if_dropped(once: Callable[[], Outcome]) -> Outcome:
    outcome = once()
    if dropped_at_once(outcome):
        print(f"\n{outcome.message} (a dropped first connection: attempted once more)")
        outcome = once()
    return outcome


OFFLINE_RABBITMQ = "jobcheck/rabbitmq:bookworm"


def rabbitmq_base() -> str:
    """RABBITMQ_IMAGE if set, else the offline RabbitMQ image, made by scripts/base-images.sh
    when missing (nothing to do when present): a module on RabbitMQ does not rely on another
    module, perhaps in another group, having made it first."""
    if os.environ.get("RABBITMQ_IMAGE"):
        return os.environ["RABBITMQ_IMAGE"]
    with build_lock():
        run(["bash", "scripts/base-images.sh", "rabbitmq"], timeout_s=BUILD_TIMEOUT_S)
    return OFFLINE_RABBITMQ


def wait_for(
    what: str, probe: Callable[[], T | None], deadline_s: float, interval_s: float = 0.5
) -> T:
    """Call `probe` until it returns something other than None, for at most `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise Timeout(f"{what}: not within {deadline_s:.0f}s")
        time.sleep(interval_s)


def fresh(listed: list[Container]) -> list[Container]:
    """``listed``, each inspected again now; those removed since the listing (a recreate
    finishing: the old container goes after the new one runs) are left out, never an error."""
    from docker.errors import NotFound

    kept = []
    for container in listed:
        try:
            container.reload()
        except NotFound:
            continue
        kept.append(container)
    return kept


@dataclass
class Stack:
    """One compose project: its files (base + overrides), name, and the variables it runs with."""

    project: str
    files: list[Path]
    variables: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        # docker-compose 1.29 gives up on the engine after 60 s; a loaded 2-core machine
        # sometimes needs more to recreate a container.
        return {"COMPOSE_HTTP_TIMEOUT": "300", **os.environ, **self.variables}

    def compose(self, *args: str, timeout_s: float = COMPOSE_TIMEOUT_S) -> str:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        return run([*compose_command(), *files, "-p", self.project, *args], timeout_s, self.env())

    def with_files(self, *extra: Path) -> Stack:
        return Stack(self.project, [self.files[0], *extra], self.variables)

    def build(self, *services: str) -> float:
        """`compose build` (of ``services``, default all) under the build lock; seconds taken."""
        start = time.monotonic()
        with build_lock():
            self.compose("build", *services, timeout_s=BUILD_TIMEOUT_S)
        return time.monotonic() - start

    def up(self, *services: str) -> None:
        self.compose("up", "-d", "--no-build", "--remove-orphans", *services)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans")

    def containers(self, sdk: DockerClient, service: str | None = None) -> list[Container]:
        labels = [f"com.docker.compose.project={self.project}"]
        if service is not None:
            labels.append(f"com.docker.compose.service={service}")
        return list(sdk.containers.list(all=True, filters={"label": labels}, ignore_removed=True))

    def container(self, sdk: DockerClient, service: str) -> Container:
        found = self.containers(sdk, service)
        assert len(found) == 1, f"expected one {service} container in {self.project}: {found}"
        return found[0]

    def wait_ready(self, sdk: DockerClient, deadline_s: float = UP_WAIT_S) -> None:
        """Every container runs, and those with a healthcheck report healthy."""

        def states() -> dict[str, str]:
            found = {}
            for c in fresh(self.containers(sdk)):
                state = c.attrs["State"]
                found[c.name] = state.get("Health", {}).get("Status", state["Status"])
            return found

        def ready() -> bool | None:
            found = states()
            return True if found and set(found.values()) <= {"running", "healthy"} else None

        try:
            wait_for(f"{self.project} ready", ready, deadline_s, interval_s=1.0)
        except Timeout as exc:
            raise Timeout(f"{exc}: {states()}") from None


# --- HTTP through the published ports, 127.0.0.1 only -------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def request(url: str, data: bytes | None = None, content_type: str | None = None) -> Answer:
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", url
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, dict(exc.headers), exc.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)


def get(url: str) -> Answer:
    return request(url)


def post_json(url: str, payload: Any) -> Answer:
    return request(url, json.dumps(payload).encode(), "application/json")


def post_form(url: str, fields: dict[str, str]) -> Answer:
    return request(
        url, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
    )


def answering(url: str) -> Answer | None:
    """The answer, or None while nothing listens yet (for wait_for)."""
    try:
        return get(url)
    except (OSError, ValueError):
        return None


def log_lines(container: Container, needle: str) -> list[str]:
    logs = container.logs(stdout=True, stderr=True).decode(errors="replace")
    return [line for line in logs.splitlines() if needle in line]


def stop(container: Container) -> tuple[float, int]:
    """`docker stop` with the container's own grace period; returns (seconds taken, exit code)."""
    start = time.monotonic()
    container.stop()
    took = time.monotonic() - start
    container.reload()
    return took, int(container.attrs["State"]["ExitCode"])
