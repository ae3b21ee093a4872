"""Docker SDK access: a client with a short timeout, one-line errors, containers by label.

``import docker`` happens inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobcheck.outcomes import CheckError
from jobcheck.probes import endpoint as endpoint_module
from jobcheck.results import Outcome

if TYPE_CHECKING:
    from jobcheck.kinds.base import KindContext

# The SDK ships no type information: its objects are Any, named for the reader.
DockerClient = Any
Container = Any

DEFAULT_SOCKET = endpoint_module.DEFAULT_SOCKET
CLIENT_TIMEOUT_S = 10.0
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
REACH_LABEL = "io.jobcheck.reach"  # jobcheck's own forwarders (probes/reach.py): never a service's
HOW_TO_START = endpoint_module.LOCAL_HINT
Endpoint = endpoint_module.Endpoint


class EngineUnreachable(CheckError):
    """The Docker engine did not answer. ``str()`` is one line: what was tried, why, and how
    to start it (the local socket) or check it by hand (a remote engine)."""

    def __init__(self, tried: str, reason: str, hint: str = HOW_TO_START) -> None:
        self.tried = tried
        self.reason = reason
        super().__init__(f"Docker engine unreachable at {tried}: {reason}; {hint}")


def engine_address(env: Mapping[str, str], context: str | None = None) -> str:
    """What the SDK will try, and what chose it: ``ssh://h (DOCKER_HOST)``."""
    try:
        return str(endpoint_module.resolve(env, context))
    except endpoint_module.ContextProblem as exc:
        return str(exc.endpoint)


def resolve(env: Mapping[str, str], context: str | None = None) -> Endpoint:
    """The engine to use (DOCKER_HOST, contexts: see ``probes.endpoint``), else
    EngineUnreachable for a context that cannot be used."""
    try:
        return endpoint_module.resolve(env, context)
    except endpoint_module.ContextProblem as exc:
        raise EngineUnreachable(
            str(exc.endpoint), exc.problem, "`docker context ls` lists the contexts"
        ) from None


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
    env: Mapping[str, str] | None = None,
    timeout_s: float = CLIENT_TIMEOUT_S,
    context: str | None = None,
) -> DockerClient:
    """A connected Docker client (it answered a ping), else EngineUnreachable.

    Over ssh, the SDK starts ``ssh`` with this process's environment (``os.environ``), not
    ``env``: the probe here uses ``env``, which a run makes from ``os.environ`` anyway."""
    env = os.environ if env is None else env
    where = resolve(env, context)
    try:
        docker = importlib.import_module("docker")
    except ImportError as exc:  # pragma: no cover - docker is a dependency of jobcheck
        raise EngineUnreachable(str(where), f"the docker package is missing ({exc})") from None
    if where.ssh:
        # ssh's own words, fast, before the SDK's ssh (whose errors say only "aborted").
        problem = endpoint_module.probe_ssh(where, env, min(timeout_s, CLIENT_TIMEOUT_S))
        if problem:
            raise EngineUnreachable(str(where), problem, where.hint())
    try:
        sdk = _sdk_client(docker, where, env, timeout_s)
        _ping(sdk, timeout_s)
    except Exception as exc:  # DockerException, requests' errors, OSError: all mean "no engine"
        raise EngineUnreachable(str(where), _reason(exc), where.hint()) from None
    return sdk


def _sdk_client(docker: Any, where: Endpoint, env: Mapping[str, str], timeout_s: float) -> Any:
    timeout = int(max(1, timeout_s))
    if not where.context:
        return docker.DockerClient.from_env(
            environment=dict(env), timeout=timeout, use_ssh_client=where.ssh
        )
    tls: Any = False
    if where.tls_dir is not None:
        files = {name: where.tls_dir / f"{name}.pem" for name in ("ca", "cert", "key")}
        tls = docker.tls.TLSConfig(
            client_cert=(str(files["cert"]), str(files["key"]))
            if files["cert"].is_file()
            else None,
            ca_cert=str(files["ca"]) if files["ca"].is_file() else None,
            verify=not where.skip_tls_verify,
        )
    return docker.DockerClient(
        base_url=where.url, tls=tls, timeout=timeout, use_ssh_client=where.ssh
    )


def _ping(sdk: DockerClient, timeout_s: float) -> None:
    """Ping within ``timeout_s``: over ssh the SDK reads a pipe, which no socket timeout
    bounds, so the ping runs on a thread that is given up on at the deadline."""
    box: dict[str, BaseException] = {}

    def ping() -> None:
        try:
            sdk.ping()
        except Exception as exc:  # reported on the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=ping, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError("the engine's ping timed out")
    if "error" in box:
        raise box["error"]


@dataclass
class _Connection:
    sdk: DockerClient | None
    error: EngineUnreachable | None
    where: Endpoint | None = None


def context_of(ctx: KindContext) -> str | None:
    return ctx.stack.context if ctx.stack is not None else None


def _connection(ctx: KindContext) -> _Connection:
    """The run's one client (its failure is shared too, so ten checks don't wait ten times)."""
    context = context_of(ctx)

    def connect() -> _Connection:
        try:
            where = resolve(ctx.env, context)
            return _Connection(client(ctx.env, context=context), None, where)
        except EngineUnreachable as exc:
            return _Connection(None, exc)

    key = "docker.client:" + "|".join(
        [context or "", ctx.env.get("DOCKER_HOST", ""), ctx.env.get("DOCKER_CONTEXT", "")]
    )
    connection: _Connection = ctx.cached(key, connect)
    if connection.error is not None:
        raise connection.error
    assert connection.sdk is not None
    return connection


def shared_client(ctx: KindContext) -> DockerClient:
    """The run's one client; EngineUnreachable (shared by every check) when there is none."""
    return _connection(ctx).sdk


def shared_endpoint(ctx: KindContext) -> Endpoint:
    """The engine the run's client talks to (after ``shared_client`` succeeded)."""
    where = _connection(ctx).where
    assert where is not None
    return where


def api_errors() -> tuple[type[BaseException], ...]:
    """The exceptions an SDK call raises when the engine fails mid-way (imported lazily)."""
    docker_errors = importlib.import_module("docker.errors")
    requests = importlib.import_module("requests")
    return (docker_errors.DockerException, requests.RequestException, OSError)


def not_found() -> type[BaseException]:
    """The SDK's error for a container (or other object) that no longer exists."""
    errors = importlib.import_module("docker.errors")
    return errors.NotFound  # type: ignore[no-any-return]


def containers(
    sdk: DockerClient, project: str, service: str | None = None, *, include_stopped: bool = True
) -> list[Container]:
    """A compose project's containers (one service's when given), one-off `run`s excluded,
    sorted by service then container number."""
    labels = [f"{PROJECT_LABEL}={project}"]
    if service is not None:
        labels.append(f"{SERVICE_LABEL}={service}")
    # ignore_removed: a container removed between the listing and its inspection (a recreate
    # finishing, `--remove-orphans`) is gone, not an engine error.
    found = sdk.containers.list(all=include_stopped, filters={"label": labels}, ignore_removed=True)
    kept = [
        c
        for c in found
        if c.labels.get(ONEOFF_LABEL, "False") != "True" and REACH_LABEL not in c.labels
    ]
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
    env: Mapping[str, str],
    container: Container,
    argv: list[str],
    timeout_s: float,
    context: str | None = None,
) -> ExecResult:
    """Run ``argv`` inside ``container`` (SDK exec) and wait at most ``timeout_s``.

    A client of its own: the shared one's short read timeout would cut a quiet command off.
    On timeout the process may still run inside the container; the result says so."""
    sdk = client(env, timeout_s=timeout_s + 5, context=context)
    try:
        exec_id = sdk.api.exec_create(container.id, argv, stdout=True, stderr=True)["Id"]
        box: dict[str, Any] = {}

        def start() -> None:
            chunks: list[bytes] = []
            try:
                for chunk in sdk.api.exec_start(exec_id, stream=True):
                    chunks.append(chunk)
            except BrokenPipeError:
                # docker-py's ssh socket (use_ssh_client) writes to ssh on close, after the
                # remote end has gone: the output was read; exec_inspect says how it ended.
                pass
            except Exception as exc:  # reported below, on the caller's thread
                box["error"] = exc
            box["output"] = b"".join(chunks)

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
    (EngineUnreachable and NoStack are CheckErrors already; the SDK's own errors become one).
    An engine chosen by DOCKER_HOST or a context is named at the end of the message."""
    connection = _connection(ctx)
    where = connection.where
    on = where.on if where is not None else ""
    try:
        outcome = body(connection.sdk)
    except api_errors() as exc:
        raise CheckError(f"Docker engine error{on}: {_api_reason(exc)}") from None
    # A remote engine is named in the message: "... on ssh://root@staging:22".
    return dataclasses.replace(outcome, message=outcome.message + on) if on else outcome


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
