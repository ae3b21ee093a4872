"""The compose file's services and what each one is for.

A role comes from what a service runs (its command, its image) and from how the others wait
for it (``condition: service_completed_successfully``), never from its name alone:

- ``datastore``: Redis, Postgres, RabbitMQ ... (by image, or by name when built here)
- ``dashboard``: Flower, rq-dashboard, Redis Commander ...: up, but not a worker
- ``oneshot``: migrations and setup jobs: they exit, so "running" is the wrong expectation
- ``worker``, ``scheduler``: the job framework's processes, from their command
- ``web``: a web server, or anything else that publishes a port
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jobcheck.errors import ChecklistError
from jobcheck.scaffold import commandline, projectfiles
from jobcheck.scaffold.envfiles import read_values
from jobcheck.yamlsrc import parse

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
COMPOSE_DIRS = (".", "docker", "deploy", "compose")
ONESHOT_KEY = "x-jobcheck-oneshot"
_DATASTORES = re.compile(
    r"redis|valkey|postgres|postgis|mysql|mariadb|mongo|rabbitmq|memcached|kafka|elasticsearch"
)
_DASHBOARD_IMAGES = re.compile(r"flower|rq-dashboard|redis-commander|redisinsight|pgadmin|adminer")
_SETUP_NAME = re.compile(
    r"init|migrat|setup|seed|bootstrap|prestart|provision|create[-_]?(db|bucket)"
)
_COMPOSE_COMMAND = re.compile(r"\bdocker[- ]compose\b|\$\(COMPOSE\)|\$\{COMPOSE\}")
_COMPOSE_F = re.compile(r"(?:^|\s)(?:-f|--file)[=\s]+[\"']?([^\s\"';&|]+)")
_APPENDED = {"ports", "expose", "env_file", "volumes", "dns", "extra_hosts", "secrets"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@dataclass
class Service:
    name: str
    image: str = ""
    command: str = ""
    published: str = ""  # host port as written, e.g. "8000" or "${API_PORT:-8000}"
    target: str = ""  # the container port it maps to
    loopback: bool = False  # published on 127.0.0.1 only (what ${stack.SERVICE.PORT} reads)
    healthcheck: bool = False
    restart: str = ""
    build: str = ""  # build context, relative to the project root
    environment: dict[str, str] = field(default_factory=dict)
    env_files: list[str] = field(default_factory=list)  # relative to the project root
    waits_for_completion: list[str] = field(default_factory=list)  # services it waits to exit 0
    oneshot_marked: bool = False
    role: str = "other"
    framework: str = ""
    queues: list[str] = field(default_factory=list)
    broker_url: str = ""
    why: str = ""

    @property
    def worker(self) -> bool:
        return self.role == "worker"

    @property
    def datastore(self) -> bool:
        return self.role == "datastore"

    @property
    def web(self) -> bool:
        """A web service whose container port is known (published or not: jobcheck reaches
        an unpublished one through the engine)."""
        return self.role == "web" and self.target.isdigit()

    def is_a(self, pattern: str) -> bool:
        return bool(re.search(pattern, f"{self.name} {self.image}".lower()))


def compose_files(root: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """The compose files as ``docker compose`` reads them from the root: ``COMPOSE_FILE``
    (from the environment, else the root's ``.env``); else the ``-f`` list of the first
    Compose command in the Makefile or a script that gives one; else the first compose file
    of the first folder that has one, with its ``.override`` file."""
    listed = _compose_file_variable(root, environ or {})
    if listed:
        return listed
    scripted = _scripted_files(root)
    if scripted:
        return scripted
    for folder in COMPOSE_DIRS:
        found = [n for n in COMPOSE_NAMES if (root / folder / n).is_file()]
        if found:
            first = PurePosixPath(folder) / found[0]
            override = PurePosixPath(folder) / found[0].replace(".y", ".override.y", 1)
            extra = [str(override)] if (root / override).is_file() else []
            return [str(first), *extra]
    return []


def _compose_file_variable(root: Path, environ: Mapping[str, str]) -> list[str]:
    dotenv = read_values(root / ".env")
    value = environ.get("COMPOSE_FILE") or dotenv.get("COMPOSE_FILE", "")
    separator = environ.get("COMPOSE_PATH_SEPARATOR") or dotenv.get("COMPOSE_PATH_SEPARATOR")
    names = [n.strip() for n in value.split(separator or os.pathsep) if n.strip()]
    return [_join(PurePosixPath("."), n) for n in names if (root / n).is_file()]


def _scripted_files(root: Path) -> list[str]:
    """``docker compose -f a.yml -f b.yml ...`` in the Makefile or a root script."""
    candidates = [root / "Makefile", *sorted(root.glob("*.sh")), *sorted(root.glob("scripts/*.sh"))]
    for path in candidates[:20]:
        text = projectfiles.read_text(path)  # bounded: a FIFO or /dev/zero is no file
        if text is None:
            continue
        for line in text[:200_000].splitlines():
            if not _COMPOSE_COMMAND.search(line):
                continue
            names = [n for n in _COMPOSE_F.findall(line) if n.endswith((".yml", ".yaml"))]
            if names and all((root / n).is_file() for n in names):
                return [_join(PurePosixPath("."), n) for n in names]
    return []


def services(root: Path, compose_files: list[str] | str) -> list[Service]:
    """The services of the compose files merged as Compose merges them (mappings merged,
    ``ports`` and the like appended, anything else replaced by the later file); relative paths
    are resolved from the first file's folder."""
    files = [compose_files] if isinstance(compose_files, str) else compose_files
    merged: dict[str, Any] = {}
    for name in files:
        specs = _specs(root / name)
        for service, spec in specs.items():
            merged[service] = _merge(merged.get(service, {}), spec)
    if not files:
        return []
    folder = PurePosixPath(files[0]).parent
    found = [_service(str(n), s, folder) for n, s in merged.items()]
    awaited = {dep for s in found for dep in s.waits_for_completion}
    for each in found:
        _assign_role(each, awaited)
    return found


def _specs(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = parse(path).data
    except ChecklistError:
        return {}
    specs = data.get("services") if isinstance(data, dict) else None
    if not isinstance(specs, dict):
        return {}
    return {str(n): s for n, s in specs.items() if isinstance(s, dict)}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        before = merged.get(key)
        if key in ("environment", "labels") and before is not None:
            merged[key] = {**_environment(before), **_environment(value)}
        elif isinstance(before, dict) and isinstance(value, dict):
            merged[key] = _merge(before, value)
        elif key in _APPENDED and isinstance(before, list) and isinstance(value, list):
            merged[key] = [*before, *(v for v in value if v not in before)]
        else:
            merged[key] = value
    return merged


def _service(name: str, spec: dict[str, Any], folder: PurePosixPath) -> Service:
    command = spec.get("command") or spec.get("entrypoint") or ""
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    restart = spec.get("restart")
    published, target, host_ip = _published_port(spec.get("ports"))
    if not target:
        target = _exposed(spec.get("expose")) or commandline.server_port(str(command))
    return Service(
        name=name,
        image=str(spec.get("image", "")),
        command=str(command),
        published=published,
        target=target,
        loopback=host_ip == "127.0.0.1" and target.isdigit(),
        healthcheck=isinstance(spec.get("healthcheck"), dict),
        restart="no" if restart is False else str(restart or ""),  # YAML 1.1 reads no as False
        build=_build_context(spec.get("build"), folder),
        environment=_environment(spec.get("environment")),
        env_files=[_join(folder, f) for f in _env_file_names(spec.get("env_file"))],
        waits_for_completion=_awaited(spec.get("depends_on")),
        oneshot_marked=spec.get(ONESHOT_KEY) is True,
    )


def _assign_role(service: Service, awaited: set[str]) -> None:
    reading = commandline.read(service.command)
    service.framework, service.queues = reading.framework, reading.queues
    service.broker_url = reading.broker_url
    image = service.image.lower()
    if reading.role == "dashboard" or _DASHBOARD_IMAGES.search(image):
        service.role, service.why = "dashboard", reading.why or f"image {service.image}"
    elif _DATASTORES.search(image) or (not image and _DATASTORES.search(service.name.lower())):
        service.role, service.why = "datastore", f"image {service.image or service.name}"
    elif oneshot := _oneshot_reason(service, awaited, reading):
        service.role, service.why = "oneshot", oneshot
    elif reading.role:
        service.role, service.why = reading.role, reading.why
    elif service.published:
        service.role, service.why = "web", "publishes a port"


def _oneshot_reason(service: Service, awaited: set[str], reading: commandline.Reading) -> str:
    if service.oneshot_marked:
        return f"{ONESHOT_KEY}: true"
    if service.name in awaited:
        return "others wait for it with condition: service_completed_successfully"
    if reading.role == "oneshot":
        return reading.why
    if service.restart == "no" and _SETUP_NAME.search(service.name.lower()):
        return 'restart: "no" and a setup name'
    return ""


def _published_port(ports: Any) -> tuple[str, str, str]:
    """(host port, container port, host address) of the first published port:
    ``127.0.0.1:8000:80`` gives 8000, 80, 127.0.0.1."""
    if not isinstance(ports, list) or not ports:
        return "", "", ""
    first = ports[0]
    if isinstance(first, dict):
        return (
            str(first.get("published", "")),
            str(first.get("target", "")),
            str(first.get("host_ip", "")),
        )
    text = str(first).split("/")[0]
    variables = iter(m.group(0) for m in _VARIABLE.finditer(text))
    parts = [
        re.sub("\0", lambda _: next(variables), part)
        for part in _VARIABLE.sub("\0", text).split(":")
    ]
    if len(parts) < 2:
        return "", "", ""  # only a container port: Compose picks a random host port
    host, target = parts[-2], parts[-1]
    address = parts[0] if len(parts) == 3 else ""
    return (host if "$" in host else host.split("-")[0]), target.split("-")[0], address


def _exposed(expose: Any) -> str:
    first = str(expose[0]).split("/")[0] if isinstance(expose, list) and expose else ""
    return first if first.isdigit() else ""


def _build_context(build: Any, folder: PurePosixPath) -> str:
    context = build.get("context", ".") if isinstance(build, dict) else build
    return _join(folder, str(context)) if isinstance(context, str) else ""


def _environment(env: Any) -> dict[str, str]:
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {}


def _env_file_names(value: Any) -> Iterable[str]:
    items = value if isinstance(value, list) else [value] if value else []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else item
        if isinstance(path, str):
            yield path


def _awaited(depends_on: Any) -> list[str]:
    if not isinstance(depends_on, dict):
        return []
    return [
        str(name)
        for name, spec in depends_on.items()
        if isinstance(spec, dict) and spec.get("condition") == "service_completed_successfully"
    ]


def _join(folder: PurePosixPath, name: str) -> str:
    joined = PurePosixPath(folder) / name
    parts: list[str] = []
    for part in joined.parts:
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return str(PurePosixPath(*parts)) if parts else "."
