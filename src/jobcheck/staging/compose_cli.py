"""The Compose CLI: `docker compose` when the plugin exists, else `docker-compose`.

Every call has a timeout and runs in its own process group (``run_process``). Container state
comes from the Docker SDK (``engine``), found by the compose labels, never by parsing `ps`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.dotenv_files import InterpolationError, interpolated, read_dotenv
from jobcheck.durations import format_duration
from jobcheck.probes import engine
from jobcheck.process import ProcessResult, run_process, tail_lines

if TYPE_CHECKING:
    from jobcheck.kinds.base import StackInfo

FORCE_ENV = "JOBCHECK_COMPOSE"  # v2, v1, or a command line ("docker compose"): skip detection
V2, V1 = ("docker", "compose"), ("docker-compose",)
CANDIDATES: tuple[tuple[str, ...], ...] = (V2, V1)
ALIASES = {"v2": V2, "v1": V1}
DETECT_TIMEOUT_S = 15.0
BUILD_TIMEOUT_S = 1800.0
CALL_TIMEOUT_S = 120.0
POLL_S = 1.0
MAX_RESTARTS_ON_UP = 3

Progress = Callable[[str], None]


# What made a build or a start fail, most telling first: a registry or network that cannot be
# reached, an image that does not exist, a build step that failed; else any error line.
_CAUSES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"dial tcp|no such host|i/o timeout|tls handshake|connection refused|network is unreachable"
        r"|temporary failure in name resolution|could not resolve",
        r"pull access denied|manifest unknown|manifest for .* not found|repository does not exist"
        r"|no such image|not found: manifest",
        r"returned a non-zero code|did not complete successfully|exit code: [1-9]",
        r"port is already allocated|address already in use|bind for .* failed",
        r"\berror\b|\bfailed\b",
    )
]
CAUSE_CHARS = 240


def cause_of(output: str) -> str:
    """The line of a failed Compose call's output that says why, in one line: the most
    telling match, the last of its kind (the build's summary comes after its cause)."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    for pattern in _CAUSES:
        found = [line for line in lines if pattern.search(line)]
        if found:
            return _trimmed(found[-1])
    return _trimmed(lines[-1]) if lines else "(no output)"


def _trimmed(line: str) -> str:
    return line if len(line) <= CAUSE_CHARS else line[: CAUSE_CHARS - 3] + "..."


class ComposeError(Exception):
    """A Compose call that failed. ``str()`` is one line; ``output`` has the tail of its output."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ComposeCLI:
    argv: tuple[str, ...]
    version: str

    @property
    def name(self) -> str:
        return " ".join(self.argv)


def detect(env: Mapping[str, str] | None = None) -> ComposeCLI:
    """The Compose CLI to use: $JOBCHECK_COMPOSE (``v2`` is `docker compose`, ``v1`` is
    `docker-compose`, anything else a command line), else `docker compose`, else
    `docker-compose`."""
    env = os.environ if env is None else env
    return _detect(env.get(FORCE_ENV, "").strip(), env.get("PATH", os.defpath))


@functools.lru_cache(maxsize=8)
def _detect(forced: str, path: str) -> ComposeCLI:
    candidates = (ALIASES.get(forced.lower(), tuple(forced.split())),) if forced else CANDIDATES
    tried = []
    for argv in candidates:
        result = run_process(
            [*argv, "version", "--short"],
            timeout_s=DETECT_TIMEOUT_S,
            env={**os.environ, "PATH": path},
        )
        if result.returncode == 0 and result.stdout.strip():
            return ComposeCLI(argv, result.stdout.strip().splitlines()[0])
        tried.append(" ".join(argv))
    raise ComposeError(
        f"no Compose CLI found (tried {' and '.join(f'`{t}`' for t in tried)}); install the "
        "compose plugin or docker-compose (apt-get install -y docker-compose)"
    )


def env_file_values(path: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A dotenv file's values as Compose reads them: the one dotenv reader (``dotenv_files``:
    python-dotenv's parser, bounded) and Compose's ``${VAR:-default}`` grammar over earlier
    keys, then ``env``. ComposeError when the file cannot be read or a reference is malformed
    or required and unset (the message names the line and key, never the value)."""
    try:
        return interpolated(read_dotenv(path), os.environ if env is None else env)
    except (OSError, UnicodeDecodeError, InterpolationError) as exc:
        raise ComposeError(f"env file {path}: {exc}") from None


def compose_env(stack: StackInfo, env: Mapping[str, str]) -> dict[str, str]:
    """The environment of every Compose call.

    ``--env-file`` makes Compose skip the project folder's ``.env``; scripts write the base
    images there (BASE_IMAGE, REDIS_IMAGE), so its keys are passed on unless the shell or the
    env file sets them. The checklist's ``build_args`` win over both.
    """
    # A context's engine becomes DOCKER_HOST: docker-compose v1 reads no contexts.
    merged = engine.resolve(env, stack.context).cli_env(env)
    dotenv = stack.compose[0].parent / ".env"
    if (
        stack.env_file is not None
        and dotenv.is_file()
        and dotenv.resolve() != stack.env_file.resolve()
    ):
        explicit = env_file_values(stack.env_file, env) if stack.env_file.is_file() else {}
        for key, value in env_file_values(dotenv, env).items():
            if key not in merged and key not in explicit:
                merged[key] = value
    merged.update(stack.build_args)
    # docker-compose 1.29 gives up on a busy engine after 60 s ("An HTTP request took too long
    # to complete"); every call here has its own deadline, so let the engine take longer.
    merged.setdefault("COMPOSE_HTTP_TIMEOUT", "300")
    return merged


@dataclass
class Compose:
    """One stack's Compose calls: ``compose.call("ps")`` runs `<cli> -f .. -p .. ps`."""

    stack: StackInfo
    cli: ComposeCLI
    env: dict[str, str]
    cancel: threading.Event | None = None

    @classmethod
    def for_stack(
        cls,
        stack: StackInfo,
        env: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> Compose:
        env = os.environ if env is None else env
        return cls(stack, detect(env), compose_env(stack, env), cancel)

    def argv(self, *args: str) -> list[str]:
        argv = list(self.cli.argv)
        for path in self.stack.compose:
            argv += ["-f", str(path)]
        argv += ["-p", self.stack.project]
        if self.stack.env_file is not None:
            argv += ["--env-file", str(self.stack.env_file)]
        return argv + list(args)

    def run(self, *args: str, timeout_s: float = CALL_TIMEOUT_S) -> ProcessResult:
        return run_process(
            self.argv(*args),
            timeout_s=timeout_s,
            cwd=self.stack.compose[0].parent,
            env=self.env,
            cancel=self.cancel,
        )

    def check(self, *args: str, timeout_s: float = CALL_TIMEOUT_S) -> ProcessResult:
        """Run and raise ComposeError unless it exited 0."""
        result = self.run(*args, timeout_s=timeout_s)
        what = f"`{self.cli.name} {' '.join(args)}`"
        output = tail_lines(result.stdout + result.stderr, 30)
        if result.not_found:
            raise ComposeError(f"{what}: {result.not_found} not found", output)
        if result.cancelled:
            raise ComposeError(f"{what}: cancelled", output)
        if result.timed_out:
            raise ComposeError(f"{what} gave no result within {format_duration(timeout_s)}", output)
        if result.returncode != 0:
            cause = cause_of(result.stderr + "\n" + result.stdout)
            raise ComposeError(f"{what} exited {result.returncode}: {cause}", output)
        return result

    def services(self) -> list[str]:
        return self.check("config", "--services").stdout.split()

    def build(self, timeout_s: float = BUILD_TIMEOUT_S) -> None:
        self.check("build", timeout_s=timeout_s)

    def start_all(self, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.check("up", "-d", "--remove-orphans", timeout_s=timeout_s)

    def down(self, *, volumes: bool = False, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.check(
            "down", "--remove-orphans", *(["--volumes"] if volumes else []), timeout_s=timeout_s
        )

    def stop(self, services: Sequence[str], timeout_s: float = CALL_TIMEOUT_S) -> None:
        """`stop` with each service's own stop_grace_period."""
        self.check("stop", *services, timeout_s=timeout_s)

    def start(self, services: Sequence[str], timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.check("start", *services, timeout_s=timeout_s)

    def logs(self, service: str | None = None, tail: int = 200, timeout_s: float = 30.0) -> str:
        args = ["logs", "--no-color", "--tail", str(tail)]
        result = self.check(*args, *([service] if service else []), timeout_s=timeout_s)
        return result.stdout + result.stderr


# --- up: build, start, wait for every healthcheck ------------------------------------------------


@dataclass
class UpResult:
    ok: bool
    message: str
    states: list[engine.ContainerState] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    output: str = ""


def _summary(states: list[engine.ContainerState]) -> str:
    if not states:
        return "no container"
    parts = []
    for s in states:
        parts.append(s.state if not s.health else f"{s.state}/{s.health}")
    return ", ".join(sorted(set(parts)))


def _stuck(states: list[engine.ContainerState], restarts_at_start: dict[str, int]) -> str:
    """Why waiting longer is pointless ('' when it is not)."""
    for s in states:
        if s.state in ("exited", "dead"):
            return f"{s.name} {s.state} with code {s.exit_code}" + (
                " (OOM-killed)" if s.oom_killed else ""
            )
        if s.restarts - restarts_at_start.get(s.name, s.restarts) >= MAX_RESTARTS_ON_UP:
            return f"{s.name} keeps restarting ({s.restarts} restarts)"
    return ""


def wait_healthy(
    sdk: engine.DockerClient,
    project: str,
    services: Sequence[str],
    deadline: float,
    progress: Progress,
    cancel: threading.Event | None = None,
) -> tuple[bool, str, list[engine.ContainerState]]:
    """Poll until every service has containers that run and pass their healthcheck."""
    start = time.monotonic()
    shown: dict[str, str] = {}
    first: dict[str, int] = {}
    while True:
        states = [engine.state_of(c) for c in engine.containers(sdk, project)]
        for s in states:
            first.setdefault(s.name, s.restarts)
        by_service = {svc: [s for s in states if s.service == svc] for svc in services}
        for svc, found in by_service.items():
            summary = _summary(found)
            if shown.get(svc) != summary:
                shown[svc] = summary
                progress(f"{svc}: {summary} ({format_duration(time.monotonic() - start)})")
        waiting = [
            svc for svc, found in by_service.items() if not found or not all(s.ready for s in found)
        ]
        if not waiting:
            return True, f"{len(services)} services healthy", states
        stuck = _stuck([s for s in states if s.service in waiting], first)
        if stuck:
            return False, stuck, states
        if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            detail = "; ".join(f"{svc}: {shown[svc]}" for svc in waiting)
            return (
                False,
                f"not healthy after {format_duration(time.monotonic() - start)}: {detail}",
                states,
            )
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def up(
    compose: Compose, sdk: engine.DockerClient, progress: Progress, *, build: bool | None = None
) -> UpResult:
    """Build (when asked), start, and wait for every healthcheck within ``stack.wait_s``."""
    stack = compose.stack
    timings: dict[str, float] = {}
    where = engine.resolve(compose.env, stack.context)
    if where.remote or where.context:
        progress(f"engine {where}")
    try:
        services = compose.services()
        if stack.build if build is None else build:
            progress(f"building images ({compose.cli.name} build)")
            timings["build_s"] = _timed(compose.build)
        progress(f"starting {', '.join(services)}")
        timings["start_s"] = _timed(lambda: compose.start_all(timeout_s=max(stack.wait_s, 30.0)))
    except ComposeError as exc:
        return UpResult(False, str(exc), timings=timings, output=exc.output)
    begin = time.monotonic()
    ok, message, states = wait_healthy(
        sdk, stack.project, services, begin + stack.wait_s, progress, compose.cancel
    )
    timings["wait_s"] = time.monotonic() - begin
    output = "" if ok else _failing_logs(compose, states)
    return UpResult(ok, message, states, timings, output)


def _timed(action: Callable[[], None]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def _failing_logs(compose: Compose, states: list[engine.ContainerState]) -> str:
    bad = sorted({s.service for s in states if not s.ready})
    chunks = []
    for service in bad[:2]:
        try:
            chunks.append(tail_lines(compose.logs(service, tail=20, timeout_s=15.0), 20))
        except ComposeError as exc:
            chunks.append(f"({service}: logs unavailable: {exc})")
    return "\n".join(chunks)
