"""What ``jobcheck init`` finds in a repository, for :mod:`jobcheck.init` to render.

``detect`` reads what is there — pyproject and its version, ruff config, tests, compose files and
their services, env files, the job library, a changelog — into a ``Project``. It only reads:
anything unreadable or malformed counts as absent.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JOB_LIBRARIES = ("rq", "celery", "arq", "dramatiq")
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
COMPOSE_DIRS = (".", "docker", "deploy", "compose")
CHANGELOGS = ("CHANGELOG.md", "CHANGELOG.rst", "CHANGELOG", "CHANGES.md", "HISTORY.md")
TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist")
_WORKERISH = re.compile(r"worker|consumer|scheduler|beat|celery|rq\b|dramatiq|arq\b|jobs?\b")
_DATASTORES = re.compile(r"redis|postgres|mysql|mariadb|mongo|rabbitmq|memcached|kafka|valkey")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@dataclass
class Service:
    name: str
    image: str = ""
    command: str = ""
    published: str = ""  # host port as written, e.g. "8000" or "${API_PORT:-8000}"
    healthcheck: bool = False

    @property
    def datastore(self) -> bool:
        return bool(_DATASTORES.search(f"{self.name} {self.image}".lower()))

    @property
    def worker(self) -> bool:
        return not self.datastore and bool(_WORKERISH.search(f"{self.name} {self.command}"))

    @property
    def web(self) -> bool:
        return bool(self.published) and not self.datastore and not self.worker


@dataclass
class Project:
    root: Path
    name: str
    version: str = ""
    pyproject: bool = False
    ruff_config: str = ""
    tests_dir: str = ""
    python: str = ""
    module: str = ""
    compose_files: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    job_library: str = ""
    changelog: str = ""


def detect(root: Path) -> Project:
    pyproject = _read_toml(root / "pyproject.toml")
    meta = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
    project = Project(
        root=root,
        name=str(meta.get("name") or root.resolve().name),
        version=str(meta.get("version") or ""),
        pyproject=(root / "pyproject.toml").is_file(),
        ruff_config=_ruff_config(root, pyproject),
        tests_dir=_first_dir(root, ("tests", "test")),
        python=_first_file(root, (".venv/bin/python", "venv/bin/python")),
        changelog=_first_file(root, CHANGELOGS),
    )
    project.module = _module(root, project.name)
    project.compose_files = _compose_files(root)
    project.services = [s for f in project.compose_files for s in _services(root / f)]
    project.env_files = _env_files(root, project.compose_files)
    project.job_library = _job_library(root, pyproject, project)
    return project


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _ruff_config(root: Path, pyproject: dict[str, Any]) -> str:
    found = _first_file(root, ("ruff.toml", ".ruff.toml"))
    if found:
        return found
    return "pyproject.toml" if "ruff" in pyproject.get("tool", {}) else ""


def _first_file(root: Path, names: Iterable[str]) -> str:
    return next((name for name in names if (root / name).is_file()), "")


def _first_dir(root: Path, names: Iterable[str]) -> str:
    return next((name for name in names if (root / name).is_dir()), "")


def _module(root: Path, name: str) -> str:
    """The importable package: src/NAME or NAME with an __init__.py."""
    wanted = re.sub(r"[-.]+", "_", name).lower()
    for base in ("src", "."):
        if (root / base / wanted / "__init__.py").is_file():
            return wanted
    return ""


def _compose_files(root: Path) -> list[str]:
    """The compose files of the first folder that has any (the project root first)."""
    for folder in COMPOSE_DIRS:
        names = [n for n in COMPOSE_NAMES if (root / folder / n).is_file()]
        found = [str(Path(folder) / n) for n in names]
        if found:
            return found[:1]
    return []


def _services(path: Path) -> list[Service]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []
    return [_service(str(name), spec) for name, spec in services.items() if isinstance(spec, dict)]


def _service(name: str, spec: dict[str, Any]) -> Service:
    command = spec.get("command", "")
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    return Service(
        name=name,
        image=str(spec.get("image", "")),
        command=str(command),
        published=_published_port(spec.get("ports")),
        healthcheck=isinstance(spec.get("healthcheck"), dict),
    )


def _published_port(ports: Any) -> str:
    """The host port of the first published port: ``127.0.0.1:8000:80`` gives ``8000``."""
    if not isinstance(ports, list) or not ports:
        return ""
    first = ports[0]
    if isinstance(first, dict):
        return str(first.get("published", ""))
    text = str(first).split("/")[0]
    variables = iter(m.group(0) for m in _VARIABLE.finditer(text))
    parts = [
        re.sub("\0", lambda _: next(variables), part)
        for part in _VARIABLE.sub("\0", text).split(":")
    ]
    if len(parts) < 2:
        return ""  # only a container port: Compose picks a random host port
    host = parts[-2]
    return host if "$" in host else host.split("-")[0]


def _env_files(root: Path, compose_files: list[str]) -> list[str]:
    folders = {"."} | {str(Path(f).parent) for f in compose_files}
    found: list[str] = []
    for folder in sorted(folders):
        for path in sorted((root / folder).iterdir()) if (root / folder).is_dir() else []:
            if path.is_file() and _is_env_file(path.name):
                found.append(str(Path(folder) / path.name))
    return found


def _is_env_file(name: str) -> bool:
    # `.env` itself holds a developer's local secrets: never a staging template to check
    if name in (".env", ".envrc") or name.endswith((".swp", "~")):
        return False
    return name.startswith(".env.") or name.endswith(".env") or ".env." in name


def is_template(name: str) -> bool:
    return name.endswith(TEMPLATE_SUFFIXES)


def template_for(name: str, env_files: list[str]) -> str:
    """A real env file is compared with the template beside it (staging.env, .env.example)."""
    if is_template(name):
        return ""
    folder = Path(name).parent
    templates = [f for f in env_files if is_template(f) and Path(f).parent == folder]
    return templates[0] if templates else ""


def _job_library(root: Path, pyproject: dict[str, Any], project: Project) -> str:
    names = set(_pyproject_dependencies(pyproject))
    folders = {"."} | {str(Path(f).parent) for f in project.compose_files}
    for folder in folders:
        for req in sorted((root / folder).glob("requirements*.txt")):
            names |= set(_requirement_names(req))
        for req in sorted((root / folder).glob("requirements/*.txt")):
            names |= set(_requirement_names(req))
    commands = " ".join(s.command for s in project.services)
    for library in JOB_LIBRARIES:
        variants = {library, f"django-{library}", f"flask-{library}", f"flask-{library}2"}
        if names & variants or re.search(rf"\b{library}\b", commands):
            return library
    return ""


def _pyproject_dependencies(pyproject: dict[str, Any]) -> Iterator[str]:
    project = pyproject.get("project", {})
    specs: list[Any] = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    for spec in specs:
        match = _REQUIREMENT_NAME.match(str(spec))
        if match:
            yield _normalize(match.group(1))
    poetry = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    yield from (_normalize(str(name)) for name in poetry)


def _requirement_names(path: Path) -> Iterator[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for line in lines:
        match = _REQUIREMENT_NAME.match(line.split("#", 1)[0])
        if match:
            yield _normalize(match.group(1))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_keys(path: Path) -> list[str]:
    keys = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match and match.group(1) not in keys:
            keys.append(match.group(1))
    return keys
