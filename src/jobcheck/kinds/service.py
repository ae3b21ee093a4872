"""``service``: a compose service's containers run, are healthy, and are set up as promised.

Containers are found by their compose labels (project and service), or — for a staging
environment that is not a compose project of ours — by ``labels`` and/or a ``name`` glob.
The Docker SDK is imported only when the check runs.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from jobcheck.dotenv_files import read_dotenv, secret_key, secret_value_problem
from jobcheck.durations import Duration, format_duration
from jobcheck.kinds.base import (
    CheckError,
    Footprint,
    Kind,
    KindContext,
    KindOptions,
    empty_dict,
    empty_list,
)
from jobcheck.probes import containers, engine
from jobcheck.process import split_command, tail_lines
from jobcheck.results import Outcome

DockerClient = engine.DockerClient
Container = engine.Container

MAX_FINDINGS = 6
# States a container leaves only when someone starts it: Docker shows `restarting` while its
# restart policy is bringing it back, so these are final for a wait.
ENDED = ("exited", "dead")
MIN_LOGGED_SECRET = 6  # shorter masked values would match by chance in any log


class Options(KindOptions):
    service: str | None = Field(None, description='The compose service name; "*" for every service')
    project: str | None = Field(None, description="Compose project (default: the stack's)")
    labels: dict[str, str] = Field(
        default_factory=empty_dict,
        description='Instead of service: containers with these labels ({app: worker}; "" '
        "matches any value), compose project or not",
    )
    name: str | None = Field(
        None,
        min_length=1,
        description="Instead of service: containers whose name matches this glob "
        '("staging-worker-*")',
    )
    min_containers: int = Field(1, ge=0, description="At least this many containers")
    running: bool = Field(True, description="Every container is running")
    healthy: bool | None = Field(
        None,
        description="true: healthy (a healthcheck is required); "
        "unset: healthy when a healthcheck exists; false: not checked",
    )
    max_restarts: int | None = Field(None, ge=0, description="Restarted at most this many times")
    not_oom_killed: bool = Field(True, description="No container was killed for memory")
    non_root: bool = Field(False, description="No process runs as uid 0")
    least_privilege: bool = Field(
        False,
        description="Not privileged, no added capabilities, no Docker socket mounted "
        "(non_root separately)",
    )
    read_only: bool = Field(False, description="The root filesystem is read-only (read_only: true)")
    no_secrets_in_logs: bool = Field(
        False,
        description="The logs hold no secret value: the container's secret-looking env values, "
        "the checklist's secrets, those of secrets_from",
    )
    secrets_from: list[str] = Field(
        default_factory=empty_list,
        description="More env files whose secret values the logs must lack",
    )
    env_keys: list[str] = Field(
        default_factory=empty_list,
        description="Keys the container environment must set (values never shown)",
    )
    exec: str | list[str] | None = Field(None, description="A command run inside that must exit 0")
    exec_timeout: Duration = Field(30.0, description="Deadline for `exec`")
    wait: Duration = Field(0.0, description="Poll until the expectation holds, at most this long")
    interval: Duration = Field(2.0, description="Pause between polls while waiting")

    @model_validator(mode="after")
    def _one_selection(self) -> Options:
        if self.service is None and not self.labels and self.name is None:
            raise ValueError("say which containers: `service`, or `labels` and/or `name`")
        if self.service is not None and (self.labels or self.name is not None):
            raise ValueError(
                "`service` selects a compose service; `labels` and `name` select any containers: "
                "use one or the other"
            )
        if self.project is not None and self.service is None:
            raise ValueError(
                "`project` goes with `service` (labels and name look at every container)"
            )
        return self

    @field_validator("exec")
    @classmethod
    def _command(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and not split_command(value):
            raise ValueError("the command is empty")
        return value


def _health_problem(options: Options, state: engine.ContainerState) -> str:
    if options.healthy is False:
        return ""
    if state.health == "":
        return "has no healthcheck" if options.healthy else ""
    if state.health == "healthy":
        return ""
    if state.health == "starting":
        return "is still starting (no healthcheck passed yet)"
    last = f" (last check {state.health_log})" if state.health_log else ""
    return f"is {state.health}{last}"


def _root_problem(container: Container, state: engine.ContainerState) -> str:
    user = engine.configured_user(container)
    if user.split(":")[0] in ("", "root", "0"):
        return "runs as root (no USER in the image, no `user:` in compose)"
    if state.state == "running":
        uids = engine.process_uids(container)
        if 0 in uids:
            return f"has a process running as uid 0 (configured user {user!r})"
    return ""


def privilege_problems(seen: containers.Privileges) -> list[str]:
    problems = []
    if seen.privileged:
        problems.append("runs privileged (expected no `privileged: true`)")
    if seen.cap_add:
        problems.append(f"adds capabilities {', '.join(seen.cap_add)} (expected no cap_add)")
    for where in seen.socket_mounts:
        problems.append(f"mounts the Docker socket at {where} (root on the host to anyone inside)")
    return problems


def _state_problems(options: Options, container: Container) -> list[str]:
    state = engine.state_of(container)
    problems = []
    if options.running and state.state != "running":
        problems.append(f"is {state.state} (exit code {state.exit_code})")
    if state.state == "running" and (health := _health_problem(options, state)):
        problems.append(health)
    if options.max_restarts is not None and state.restarts > options.max_restarts:
        problems.append(f"restarted {state.restarts} times, at most {options.max_restarts} allowed")
    if options.not_oom_killed and state.oom_killed:
        problems.append("was OOM-killed (raise mem_limit or find the leak)")
    if options.non_root and (root := _root_problem(container, state)):
        problems.append(root)
    if options.least_privilege:
        problems += privilege_problems(containers.privileges(container))
    if options.read_only and not containers.privileges(container).read_only:
        problems.append("has a writable root filesystem (expected read_only: true)")
    missing = [key for key in options.env_keys if key not in engine.env_keys(container)]
    if missing:
        problems.append(f"lacks env keys {', '.join(missing)}")
    return problems


def _secret_of(name: str, value: str) -> tuple[str, str] | None:
    """(name, value) to look for: a secret-looking variable's real value, or the password
    inside a URL (``REDIS_URL's password``); None for placeholders, references, short ones."""
    if "://" in value:
        password = unquote(urlsplit(value).password or "")
        return (f"{name}'s password", password) if len(password) >= MIN_LOGGED_SECRET else None
    if secret_key(name) and not secret_value_problem(value) and len(value) >= MIN_LOGGED_SECRET:
        return name, value
    return None


def secrets_to_find(options: Options, ctx: KindContext, container: Container) -> dict[str, str]:
    """Name -> value of every secret the logs must not hold: the container's own secret-looking
    variables (and URL passwords), those of ``secrets_from``, and the checklist's (the values
    this run masks). A value known under several names keeps the first."""
    pairs: list[tuple[str, str]] = []
    for entry in (container.attrs.get("Config") or {}).get("Env") or []:
        name, _, value = str(entry).partition("=")
        pairs += [found for found in [_secret_of(name, value)] if found]
    for file in options.secrets_from:
        try:
            dotenv = read_dotenv(ctx.path(file))
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckError(f"secrets_from: {file} cannot be read: {exc}") from None
        for name, value in dotenv.values().items():
            pairs += [found for found in [_secret_of(name, value)] if found]
    pairs += [
        (name, value)
        for name, value in sorted(ctx.env.items())
        if len(value) >= MIN_LOGGED_SECRET and value in ctx.mask
    ]
    by_value: dict[str, str] = {}
    for name, value in pairs:
        by_value.setdefault(value, name)
    return {name: value for value, name in by_value.items()}


def _log_problem(options: Options, ctx: KindContext, container: Container) -> str:
    hits = containers.secret_hits(
        containers.log_lines(container), secrets_to_find(options, ctx, container)
    )
    if not hits:
        return ""
    shown = ", ".join(f"{name} in {n} line{'s' if n != 1 else ''}" for name, n in hits.items())
    return f"logs a secret: {shown} (values never shown)"


def _exec_problem(options: Options, ctx: KindContext, container: Container) -> str:
    argv = split_command(options.exec or [])
    shown = shlex.join(argv)
    limit = min(options.exec_timeout, max(1.0, ctx.remaining()))
    result = engine.exec_in(ctx.env, container, argv, limit, engine.context_of(ctx))
    if result.exit_code is None:
        return f"`{shown}` did not finish within {format_duration(limit)}"
    if result.exit_code != 0:
        tail = " ".join(tail_lines(result.output, 3).split())[:200]
        return f"`{shown}` exited {result.exit_code}" + (f": {tail}" if tail else "")
    return ""


def selector(options: Options, ctx: KindContext) -> containers.Selector:
    if options.service is None:
        return containers.Selector(labels=options.labels, name=options.name)
    service = None if options.service == "*" else options.service
    return containers.Selector(engine.project_for(ctx, options.project), service)


@dataclass
class Inspection:
    """Every problem found (each naming its container), and why waiting cannot help, if so."""

    problems: list[str]
    hopeless: str = ""


def inspect(options: Options, ctx: KindContext, sdk: DockerClient) -> Inspection:
    which = selector(options, ctx)
    found = containers.select(sdk, which)
    if len(found) < options.min_containers:
        problem = (
            f"{which}: {len(found)} container(s), expected at least {options.min_containers}"
            if not which.by_compose
            else f"service {options.service!r} of project {which.project!r} has {len(found)} "
            f"container(s), expected at least {options.min_containers}"
        )
        if not which.by_compose:
            return Inspection([problem])
        project = which.project
        assert project is not None
        if found or engine.containers(sdk, project):
            hint = "" if found else " (is the stack up? `jobcheck stack up`)"
            return Inspection([problem + hint])
        return Inspection(
            [problem],
            f"project {project!r} has no containers at all: the stack is not up "
            "(`jobcheck stack up`, or `stack.up: true` in the checklist)",
        )
    problems: list[str] = []
    ended: list[str] = []
    for container in found:
        own = _state_problems(options, container)
        if options.no_secrets_in_logs and (logged := _log_problem(options, ctx, container)):
            own.append(logged)
        if container.status == "running" and options.exec is not None:
            own += [p for p in [_exec_problem(options, ctx, container)] if p]
        problems.extend(f"{container.name} {p}" for p in own)
        if options.running and container.status in ENDED:
            ended.append(container.name)
    hopeless = ""
    if ended:
        hopeless = f"{', '.join(ended)} ended and will not start again by itself"
    return Inspection(problems, hopeless)


def _describe(options: Options, which: containers.Selector, count: int) -> str:
    said = ["running" if options.running else "present"]
    if options.healthy is not False:
        said.append("healthy")
    if options.max_restarts is not None:
        said.append(f"at most {options.max_restarts} restarts")
    if options.non_root:
        said.append("non-root")
    if options.least_privilege:
        said.append("unprivileged (no cap_add, no Docker socket)")
    if options.read_only:
        said.append("read-only root filesystem")
    if options.no_secrets_in_logs:
        said.append("no secret in the logs")
    if options.env_keys:
        keys = len(options.env_keys)
        said.append(f"{keys} env key{'' if keys == 1 else 's'} set")
    if options.exec is not None:
        said.append("exec exited 0")
    head = f"service {options.service!r}" if which.by_compose else str(which)
    return f"{head}: {count} container(s) {', '.join(said)}"


def check(options: Options, ctx: KindContext, sdk: DockerClient) -> Outcome:
    since = time.monotonic()
    give_up = since + min(options.wait, ctx.remaining())
    while True:
        found = inspect(options, ctx, sdk)
        left = give_up - time.monotonic()
        if not found.problems or left <= 0 or found.hopeless:
            break
        if not ctx.sleep(min(options.interval, left)):
            break
    waited = time.monotonic() - since
    after = f" (after {format_duration(waited)})" if options.wait and waited >= 0.5 else ""
    if found.problems:
        shown = found.problems[:MAX_FINDINGS]
        more = len(found.problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        if found.hopeless and options.wait:
            after = f"; not waiting the {format_duration(options.wait)}: {found.hopeless}"
        elif found.hopeless:
            after = f"; {found.hopeless}"
        return Outcome.failed(text + after)
    which = selector(options, ctx)
    count = len(containers.select(sdk, which))
    return Outcome.passed(_describe(options, which, count) + after)


def run(options: Options, ctx: KindContext) -> Outcome:
    return engine.docker_check(ctx, lambda sdk: check(options, ctx, sdk))


def footprint(options: Options) -> Footprint:
    """Its compose service (``*``: every one); containers chosen by labels or name: none."""
    return Footprint(uses=frozenset({options.service} if options.service else ()))


KIND = Kind(
    name="service",
    options=Options,
    run=run,
    footprint=footprint,
    waits=True,
    summary="a compose service's containers: running, healthy, restarts, OOM, non-root, env, exec",
    docker=True,
    example={
        "service": "worker",
        "healthy": True,
        "max_restarts": 0,
        "non_root": True,
        "env_keys": ["REDIS_URL", "QUEUE_NAME"],
        "exec": "python -c 'import app.jobs'",
    },
)
