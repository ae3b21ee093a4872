"""Docker SDK access: a client with a short timeout, one-line errors, containers by label.

``import docker`` happens inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobcheck.outcomes import CheckError
from jobcheck.results import Outcome

if TYPE_CHECKING:
    from jobcheck.kinds.base import KindContext

# The SDK ships no type information: its objects are Any, named for the reader.
DockerClient = Any
Container = Any

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
CLIENT_TIMEOUT_S = 10.0
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
HOW_TO_START = (
    "start it with `sudo dockerd &`, `bash scripts/engine.sh` or `systemctl start docker`"
)


class EngineUnreachable(CheckError):
    """The Docker engine did not answer. ``str()`` is one line: what was tried, how to start it."""

    def __init__(self, tried: str, reason: str) -> None:
        self.tried = tried
        self.reason = reason
        super().__init__(f"Docker engine unreachable at {tried}: {reason}; {HOW_TO_START}")


def engine_address(env: Mapping[str, str]) -> str:
    """What the SDK will try: DOCKER_HOST when set, else the default unix socket."""
    host = env.get("DOCKER_HOST", "").strip()
    return f"{host} (DOCKER_HOST)" if host else f"{DEFAULT_SOCKET} (DOCKER_HOST is unset)"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    known = [
        ("FileNotFoundError", "no such socket"),
        ("No such file or directory", "no such socket"),
        ("Connection refused", "connection refused"),
        ("PermissionError", "permission denied (use sudo or join the docker group)"),
        ("Permission denied", "permission denied (use sudo or join the docker group)"),
        ("timed out", "no answer in time"),
        ("Name or service not known", "unknown host"),
    ]
    for needle, reason in known:
        if needle in text:
            return reason
    return " ".join(text.split())[:160]


def client(
    env: Mapping[str, str] | None = None, timeout_s: float = CLIENT_TIMEOUT_S
) -> DockerClient:
    """A connected Docker client (it answered a ping), else EngineUnreachable."""
    env = os.environ if env is None else env
    tried = engine_address(env)
    try:
        docker = importlib.import_module("docker")
    except ImportError as exc:  # pragma: no cover - docker is a dependency of jobcheck
        raise EngineUnreachable(tried, f"the docker package is missing ({exc})") from None
    try:
        sdk = docker.DockerClient.from_env(environment=dict(env), timeout=int(max(1, timeout_s)))
        sdk.ping()
    except Exception as exc:  # DockerException, requests' errors, OSError: all mean "no engine"
        raise EngineUnreachable(tried, _reason(exc)) from None
    return sdk


@dataclass
class _Connection:
    sdk: DockerClient | None
    error: EngineUnreachable | None


def shared_client(ctx: KindContext) -> DockerClient:
    """The run's one client (its failure is shared too, so ten checks don't wait ten times)."""

    def connect() -> _Connection:
        try:
            return _Connection(client(ctx.env), None)
        except EngineUnreachable as exc:
            return _Connection(None, exc)

    key = f"docker.client:{ctx.env.get('DOCKER_HOST', '')}"
    connection: _Connection = ctx.cached(key, connect)
    if connection.error is not None:
        raise connection.error
    assert connection.sdk is not None
    return connection.sdk


def api_errors() -> tuple[type[BaseException], ...]:
    """The exceptions an SDK call raises when the engine fails mid-way (imported lazily)."""
    docker_errors = importlib.import_module("docker.errors")
    requests = importlib.import_module("requests")
    return (docker_errors.DockerException, requests.RequestException, OSError)


def containers(
    sdk: DockerClient, project: str, service: str | None = None, *, include_stopped: bool = True
) -> list[Container]:
    """A compose project's containers (one service's when given), one-off `run`s excluded,
    sorted by service then container number."""
    labels = [f"{PROJECT_LABEL}={project}"]
    if service is not None:
        labels.append(f"{SERVICE_LABEL}={service}")
    found = sdk.containers.list(all=include_stopped, filters={"label": labels})
    kept = [c for c in found if c.labels.get(ONEOFF_LABEL, "False") != "True"]
    return sorted(kept, key=_order)


def _order(container: Container) -> tuple[str, int, str]:
    number = container.labels.get(NUMBER_LABEL, "0")
    return (
        container.labels.get(SERVICE_LABEL, ""),
        int(number) if number.isdigit() else 0,
        container.name or "",
    )


@dataclass(frozen=True)
class ContainerState:
    """What `jobcheck stack status` and the service kind read from one container."""

    service: str
    name: str
    state: str  # created, running, restarting, exited, paused, dead
    health: str  # healthy, unhealthy, starting, or "" when the container has no healthcheck
    restarts: int
    exit_code: int
    oom_killed: bool
    ports: list[str]
    health_log: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")


def state_of(container: Container) -> ContainerState:
    attrs: dict[str, Any] = container.attrs
    state: dict[str, Any] = attrs.get("State") or {}
    health: dict[str, Any] = state.get("Health") or {}
    return ContainerState(
        service=container.labels.get(SERVICE_LABEL, ""),
        name=container.name or container.short_id,
        state=str(state.get("Status", "unknown")),
        health=str(health.get("Status", "")),
        restarts=int(attrs.get("RestartCount") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        ports=published_ports(attrs),
        health_log=_last_health_output(health),
    )


def published_ports(attrs: Mapping[str, Any]) -> list[str]:
    """``127.0.0.1:8000->8000/tcp`` for each published port, like `docker ps` shows them."""
    ports: dict[str, Any] = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    shown = []
    for inside, bindings in sorted(ports.items()):
        for binding in bindings or []:
            shown.append(
                f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}->{inside}"
            )
    return sorted(set(shown))


def _last_health_output(health: Mapping[str, Any]) -> str:
    log = health.get("Log") or []
    if not log:
        return ""
    last = log[-1]
    text = " ".join(str(last.get("Output", "")).split())
    return f"exit {last.get('ExitCode')}: {text}"[:200]


def stop_grace_s(container: Container, default: float = 10.0) -> float:
    """The container's stop timeout (compose `stop_grace_period`), else Docker's 10 s."""
    value = (container.attrs.get("Config") or {}).get("StopTimeout")
    return float(value) if isinstance(value, int | float) and value >= 0 else default


def process_uids(container: Container) -> list[int]:
    """The uid of every process in a running container (as the host's `ps` sees them)."""
    top: dict[str, Any] = container.top(ps_args="-o pid,uid")
    titles = [t.upper() for t in top.get("Titles") or []]
    if "UID" not in titles:
        return []
    column = titles.index("UID")
    return [int(row[column]) for row in top.get("Processes") or [] if row[column].isdigit()]


def configured_user(container: Container) -> str:
    """The image's USER or compose `user:` ('' means root)."""
    return str((container.attrs.get("Config") or {}).get("User") or "")


def env_keys(container: Container) -> set[str]:
    entries = (container.attrs.get("Config") or {}).get("Env") or []
    return {str(entry).split("=", 1)[0] for entry in entries}


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None  # None: timed out
    output: str


def exec_in(
    env: Mapping[str, str], container: Container, argv: list[str], timeout_s: float
) -> ExecResult:
    """Run ``argv`` inside ``container`` (SDK exec) and wait at most ``timeout_s``.

    A client of its own: the shared one's short read timeout would cut a quiet command off.
    On timeout the process may still run inside the container; the result says so."""
    import threading

    sdk = client(env, timeout_s=timeout_s + 5)
    try:
        exec_id = sdk.api.exec_create(container.id, argv, stdout=True, stderr=True)["Id"]
        box: dict[str, Any] = {}

        def start() -> None:
            try:
                box["output"] = sdk.api.exec_start(exec_id)
            except Exception as exc:  # reported below, on the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=start, daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            return ExecResult(None, "")
        if "error" in box:
            raise box["error"]
        code = sdk.api.exec_inspect(exec_id).get("ExitCode")
        output = box.get("output") or b""
        text = (
            output.decode("utf-8", errors="replace") if isinstance(output, bytes) else str(output)
        )
        return ExecResult(int(code) if code is not None else None, text)
    finally:
        sdk.close()


class NoStack(CheckError):
    """A Docker check that does not know which compose project to look at."""


def project_for(ctx: KindContext, override: str | None) -> str:
    if override:
        return override
    if ctx.stack is not None:
        return ctx.stack.project
    raise NoStack(
        "no compose project: the checklist has no `stack:` section "
        "and the check has no `project` option"
    )


def docker_check(ctx: KindContext, body: Callable[[DockerClient], Outcome]) -> Outcome:
    """Run ``body`` with the run's Docker client; every engine problem becomes one error line
    (EngineUnreachable and NoStack are CheckErrors already; the SDK's own errors become one)."""
    sdk = shared_client(ctx)
    try:
        return body(sdk)
    except api_errors() as exc:
        raise CheckError(f"Docker engine error: {_api_reason(exc)}") from None


def _api_reason(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc)
    return " ".join(text.split())[:200]


def require_engine_for_stack(ctx: KindContext) -> None:
    """Checks that reach the stack through its ports (job, queue) still need its engine when
    the checklist declares a Docker stack: without it, one clear error instead of a refused
    connection. Without a `stack:` section they check whatever the URLs name."""
    if ctx.stack is not None:
        shared_client(ctx)
