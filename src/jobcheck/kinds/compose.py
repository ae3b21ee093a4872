"""``compose``: static rules over the compose file(s), interpolated as Compose does.

No Docker engine is needed: the files are read, merged (``-f a -f b``) and checked.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field

from jobcheck import dotenv_files
from jobcheck.dotenv_files import InterpolationError, literal_secret, secret_key
from jobcheck.durations import Duration, format_duration
from jobcheck.errors import ChecklistError
from jobcheck.kinds._findings import Finding, as_list, findings_outcome, masking, plural, shown_path
from jobcheck.kinds.base import Kind, KindContext, KindOptions, empty_dict, empty_list
from jobcheck.results import Outcome
from jobcheck.yamlsrc import parse

Rule = Literal[
    "healthcheck", "restart", "stop_grace_period", "pinned_images", "non_root", "memory_limit",
    "loopback_ports", "no_literal_secrets", "log_rotation",
]  # fmt: skip
RULES: tuple[Rule, ...] = get_args(Rule)
ONESHOT_KEY = "x-jobcheck-oneshot"
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)")
_GO_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_RESTARTS = "expected unless-stopped, always or on-failure"
_KEYED = {"environment", "labels"}  # lists of KEY=VALUE, merged by key
_APPENDED = {"ports", "expose"}  # lists Compose concatenates across files


class Options(KindOptions):
    file: str | list[str] | None = Field(
        None,
        description="The compose file, or files merged in order like `docker compose -f a -f b` "
        "(default: the checklist's stack files)",
    )
    env_file: str | None = Field(
        None,
        description="Variables for interpolation (default: the stack's env_file, else .env "
        "next to the first compose file when present); they override the process environment",
    )
    rules: list[Rule] = Field(default_factory=lambda: list(RULES), description="Rules to apply")
    worker_services: str | list[str] | None = Field(
        None, description='Services (names or globs) held to stop_grace_period (default "*worker*")'
    )
    min_stop_grace_period: Duration = Field(10.0, description="The least grace for workers")
    services: list[str] = Field(default_factory=empty_list, description="Only these services")
    ignore: dict[str, list[Rule]] = Field(
        default_factory=empty_dict, description="Service -> rules not applied to it"
    )


@dataclass
class Service:
    name: str
    spec: dict[str, Any]  # interpolated
    raw: dict[str, Any]  # as written, for telling ${SECRET} from a literal
    project_dir: Path

    @property
    def restart(self) -> str | None:
        value = self.spec.get("restart")
        return "no" if value is False else None if value is None else str(value)  # YAML's no

    @property
    def oneshot(self) -> bool:
        return self.spec.get(ONESHOT_KEY) is True or self.restart == "no"


# -- loading -------------------------------------------------------------------------------


class ComposeError(Exception):
    """The files cannot be read, parsed or interpolated: the check fails with this message."""


def _read_yaml(path: Path, ctx: KindContext) -> dict[str, Any]:
    """The compose file through the checklist's bounded loader (a regular file of at most
    4 MiB, nesting and aliases bounded): a FIFO, /dev/zero or `[` x 5000 is a clear failure."""
    name = shown_path(path, ctx.base_dir)
    if not path.exists():
        raise ComposeError(f"{name} does not exist")
    try:
        data = parse(path).data
    except ChecklistError as exc:
        where = name
        if exc.location is not None and exc.location.line:
            where += f":{exc.location.line}" + (
                f":{exc.location.column}" if exc.location.column else ""
            )
        raise ComposeError(f"{where}: {exc.problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ComposeError(f"{name} has no `services:` mapping")
    return data


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    pairs = (str(item).split("=", 1) for item in value or [])
    return {pair[0]: pair[1] if len(pair) > 1 else None for pair in pairs}


def merge(base: Any, over: Any, key: str = "") -> Any:
    """``over`` on top of ``base`` as Compose merges files: mappings key by key, ports and
    expose appended, environment and labels by variable, anything else replaced."""
    if key in _KEYED:
        return _as_mapping(base) | _as_mapping(over)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v, k) if k in base else v
        return out
    if key in _APPENDED and isinstance(base, list) and isinstance(over, list):
        return base + [item for item in over if item not in base]
    return over


def _files(options: Options, ctx: KindContext) -> list[Path]:
    if options.file is not None:
        return [ctx.path(f) for f in as_list(options.file)]
    if ctx.stack is not None and ctx.stack.compose:
        return list(ctx.stack.compose)
    raise ComposeError("no compose file: set `file`, or a `stack:` section in the checklist")


def _variables(options: Options, ctx: KindContext, first: Path) -> dict[str, str]:
    """The process environment, overridden by the env file (see docs/kinds/compose.md)."""
    if options.env_file is not None:
        path: Path | None = ctx.path(options.env_file)
    elif options.file is None and ctx.stack is not None and ctx.stack.env_file is not None:
        path = ctx.stack.env_file
    else:
        path = first.parent / ".env"
        path = path if path.is_file() else None
    if path is None:
        return dict(ctx.env)
    name = shown_path(path, ctx.base_dir)
    try:
        dotenv = dotenv_files.read_dotenv(path)
    except FileNotFoundError:
        raise ComposeError(f"env_file {name} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"env_file {name} cannot be read: {exc}") from None
    if dotenv.problems:
        line, problem = dotenv.problems[0]
        raise ComposeError(f"env_file {name}:{line}: {problem}")
    try:
        return {**ctx.env, **dotenv_files.interpolated(dotenv, ctx.env)}
    except InterpolationError as exc:
        raise ComposeError(f"env_file {name} {exc}") from None


@dataclass
class Loaded:
    files: list[Path]
    services: list[Service]
    unset: set[str]  # variables Compose would replace with an empty string
    secrets: list[str]  # values of secret-looking variables, to mask


def load(options: Options, ctx: KindContext) -> Loaded:
    """The files, merged and interpolated; ComposeError when they cannot be."""
    files = _files(options, ctx)
    raw: dict[str, Any] = {}
    for path in files:
        raw = merge(raw, _read_yaml(path, ctx))
    unset: set[str] = set()
    variables = _variables(options, ctx, files[0])
    try:
        spec = dotenv_files.interpolate_tree(raw, variables, unset)
    except InterpolationError as exc:
        raise ComposeError(f"interpolation: {exc}") from None
    services = []
    for name, body in raw["services"].items():
        if not isinstance(body or {}, dict):
            raise ComposeError(f"service {name} is not a mapping (seen {type(body).__name__})")
        services.append(Service(name, spec["services"][name] or {}, body or {}, files[0].parent))
    secrets = [value for key, value in variables.items() if secret_key(key)]
    return Loaded(files, services, unset, secrets)


# -- rules: each yields "what is wrong (expected ..., seen ...)" -----------------------------


def _dockerfile_stage(svc: Service) -> list[str]:
    """The instructions of the stage a ``build:`` service runs ([] when unknown)."""
    build = svc.spec.get("build")
    if build is None:
        return []
    build = {"context": build} if isinstance(build, str) else dict(build)
    if "dockerfile_inline" in build:
        text = str(build["dockerfile_inline"])
    else:
        context = svc.project_dir / str(build.get("context", "."))
        try:
            text = (context / str(build.get("dockerfile", "Dockerfile"))).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return []
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages: list[tuple[str, list[str]]] = []
    for line in (ln.strip() for ln in lines):
        words = line.split()
        if words and words[0].upper() == "FROM":
            alias = words[-1] if len(words) >= 4 and words[-2].upper() == "AS" else ""
            stages.append((alias, []))
        elif stages and words and not line.startswith("#"):
            stages[-1][1].append(line)
    target = build.get("target")
    chosen = [body for alias, body in stages if target and alias == target]
    return chosen[0] if chosen else (stages[-1][1] if stages else [])


def _instruction(svc: Service, name: str) -> str | None:
    """The last ``name`` instruction's argument in the service's Dockerfile stage."""
    found = [ln.split(None, 1) for ln in _dockerfile_stage(svc) if ln.split()[0].upper() == name]
    return found[-1][1].strip() if found and len(found[-1]) > 1 else None


def healthcheck(svc: Service, options: Options) -> Iterator[str]:
    if svc.oneshot:
        return
    check = svc.spec.get("healthcheck")
    if isinstance(check, dict) and check:
        if check.get("disable") is True or check.get("test") in (["NONE"], "NONE"):
            yield "the healthcheck is disabled (expected a test, seen disable)"
        return
    from_image = _instruction(svc, "HEALTHCHECK")
    if from_image is not None and from_image.split()[0].upper() != "NONE":
        return
    yield "no healthcheck (expected `healthcheck:` or a HEALTHCHECK in the Dockerfile)"


def restart(svc: Service, options: Options) -> Iterator[str]:
    if svc.oneshot:
        return
    policy = svc.restart
    deploy = (svc.spec.get("deploy") or {}).get("restart_policy") or {}
    if policy is None and deploy:
        condition = deploy.get("condition", "any")
        if condition not in ("any", "on-failure"):
            yield f"deploy.restart_policy never restarts (expected any, seen {condition})"
        return
    if policy is None:
        yield f"no restart policy ({_RESTARTS}, seen none)"
    elif not re.fullmatch(r"always|unless-stopped|on-failure(:\d+)?", policy):
        yield f"unknown restart policy ({_RESTARTS}, seen {policy})"


def _go_duration(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not re.fullmatch(f"(?:{_GO_DURATION.pattern})+", text):
        return None
    return sum(float(num) * _GO_UNITS[unit] for num, unit in _GO_DURATION.findall(text))


def _is_worker(svc: Service, options: Options) -> bool:
    patterns = as_list(options.worker_services) or ["*worker*"]
    return any(fnmatch.fnmatchcase(svc.name, pattern) for pattern in patterns)


def stop_grace_period(svc: Service, options: Options) -> Iterator[str]:
    if svc.oneshot or not _is_worker(svc, options):
        return
    least = format_duration(options.min_stop_grace_period)
    value = svc.spec.get("stop_grace_period")
    if value is None:
        yield f"not set on a worker (expected at least {least}, seen Docker's default 10s)"
        return
    seconds = _go_duration(value)
    if seconds is None:
        yield f"not a duration (expected e.g. 1m30s, seen {value})"
    elif seconds < options.min_stop_grace_period:
        yield f"too short for a worker to finish its job (expected at least {least}, seen {value})"


def pinned_images(svc: Service, options: Options) -> Iterator[str]:
    image = svc.spec.get("image")
    if image is None or "@" in str(image):
        return  # built here, or pinned by digest
    image = str(image).strip()
    name = image.rsplit("/", 1)[-1]
    tag = name.rsplit(":", 1)[1] if ":" in name else ""
    if not image:
        yield "the image is empty (expected name:tag, seen an empty string: unset variable?)"
    elif tag in ("", "latest"):
        seen = f"{image}, which means latest" if not tag else image
        yield f"the image is not pinned (expected a version tag or a digest, seen {seen})"


def non_root(svc: Service, options: Options) -> Iterator[str]:
    user = svc.spec.get("user")
    source = "user"
    if user is None:
        user, source = _instruction(svc, "USER"), "USER in the Dockerfile"
    if user is None:
        yield "no user (expected `user:` or a USER in the Dockerfile, seen none: runs as root)"
    elif str(user).split(":")[0].strip() in ("root", "0", ""):
        yield f"runs as root (expected a non-root user, seen {source} {user})"


def memory_limit(svc: Service, options: Options) -> Iterator[str]:
    limits = ((svc.spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not svc.spec.get("mem_limit") and not limits.get("memory"):
        yield "no memory limit (expected mem_limit or deploy.resources.limits.memory, seen none)"


def _port_binding(port: Any) -> tuple[str, str]:
    """(host ip or '', text) for one short- or long-syntax port."""
    if isinstance(port, dict):
        host_ip = str(port.get("host_ip") or "")
        published = port.get("published", "(random)")
        return host_ip, f"{host_ip or '0.0.0.0'}:{published}->{port.get('target')}"
    text = str(port).split("/", 1)[0]
    if text.startswith("["):
        return text[1 : text.index("]")], str(port)
    parts = text.split(":")
    return (parts[0] if len(parts) == 3 else ""), str(port)


def _loopback(host_ip: str) -> bool:
    try:
        return ipaddress.ip_address(host_ip).is_loopback
    except ValueError:
        return False


def loopback_ports(svc: Service, options: Options) -> Iterator[str]:
    for port in svc.spec.get("ports") or []:
        host_ip, text = _port_binding(port)
        if not _loopback(host_ip):
            yield f"published on every interface (expected 127.0.0.1:HOST:CONTAINER, seen {text})"


def no_literal_secrets(svc: Service, options: Options) -> Iterator[str]:
    for key, value in _as_mapping(svc.raw.get("environment")).items():
        if secret_key(key) and literal_secret(value):
            yield f"{key} is written in the file (expected ${{{key}}} or secrets:, seen a literal)"


def log_rotation(svc: Service, options: Options) -> Iterator[str]:
    logging = svc.spec.get("logging") or {}
    driver = str(logging.get("driver", "json-file"))
    if driver == "json-file" and "max-size" not in (logging.get("options") or {}):
        yield (
            "json-file logs grow without bound (expected logging.options.max-size, "
            f"seen driver {driver} without it)"
        )


CHECKS: dict[str, Callable[[Service, Options], Iterator[str]]] = {
    "healthcheck": healthcheck,
    "restart": restart,
    "stop_grace_period": stop_grace_period,
    "pinned_images": pinned_images,
    "non_root": non_root,
    "memory_limit": memory_limit,
    "loopback_ports": loopback_ports,
    "no_literal_secrets": no_literal_secrets,
    "log_rotation": log_rotation,
}


def _selected(options: Options, services: list[Service]) -> tuple[list[Service], list[Finding]]:
    if not options.services:
        return services, []
    known = {svc.name for svc in services}
    missing = [
        Finding("services", f"{name}: services: not defined in the compose files")
        for name in options.services
        if name not in known
    ]
    return [svc for svc in services if svc.name in options.services], missing


def run(options: Options, ctx: KindContext) -> Outcome:
    try:
        loaded = load(options, ctx)
    except ComposeError as exc:
        return Outcome.failed(f"compose: {exc}")
    mask = masking(ctx.mask, loaded.secrets)
    chosen, findings = _selected(options, loaded.services)
    for svc in chosen:
        skipped = set(options.ignore.get(svc.name, []))
        for rule in (r for r in options.rules if r not in skipped):
            findings += [
                Finding(rule, f"{svc.name}: {rule}: {t}") for t in CHECKS[rule](svc, options)
            ]
    warnings = [
        f"warning: {name} is not set; Compose uses an empty string" for name in loaded.unset
    ]
    files = " + ".join(shown_path(path, ctx.base_dir) for path in loaded.files)
    rules = plural(len(options.rules), "rule")
    return findings_outcome(
        f"compose {files}",
        findings,
        mask=mask,
        passed=f"compose {files}: {plural(len(chosen), 'service')} pass {rules}",
        output=mask("\n".join(sorted(warnings))),
    )


KIND = Kind(
    name="compose",
    options=Options,
    run=run,
    summary="static rules on compose files: healthchecks, restart, grace period, pinned images, "
    "non-root, memory, loopback ports, literal secrets, log rotation",
    example={
        "file": "docker/compose.yaml",
        "env_file": "docker/staging.env",
        "ignore": {"redis": ["non_root"]},
    },
)
