"""What ``jobcheck init`` finds in a repository, for :mod:`jobcheck.scaffold.render`.

``detect`` reads what is there — pyproject and its version, ruff config, where the tests are,
the project's interpreter, compose files and what each service is for, env files, the web
app's routes, the job library and its tasks, a changelog — into a ``Project``. It only reads
(nothing is imported or run): anything unreadable or malformed counts as absent.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jobcheck.scaffold import (
    celerytasks,
    codeconf,
    commandline,
    envfiles,
    headers,
    projectfiles,
    routes,
    testpaths,
    toolchain,
    topology,
)
from jobcheck.scaffold.envfiles import EnvFile
from jobcheck.scaffold.testpaths import SuiteLayout
from jobcheck.scaffold.toolchain import Interpreter
from jobcheck.scaffold.topology import Service

JOB_LIBRARIES = ("rq", "celery", "arq", "dramatiq")
CHANGELOGS = ("CHANGELOG.md", "CHANGELOG.rst", "CHANGELOG", "CHANGES.md", "HISTORY.md")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Project:
    root: Path
    name: str
    version: str = ""
    pyproject: bool = False
    ruff_config: str = ""
    tests: SuiteLayout | None = None
    python: Interpreter | None = None
    module: str = ""
    compose_files: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    env_files: list[EnvFile] = field(default_factory=list)
    job_library: str = ""
    changelog: str = ""
    routes: routes.Routes = field(default_factory=lambda: routes.Routes([]))
    tasks: list[celerytasks.Task] = field(default_factory=list)
    code: codeconf.CodeConf = field(default_factory=codeconf.CodeConf)  # settings in the code
    nosniff: str = ""  # where the code sets X-Content-Type-Options ('' when nowhere)
    flake8: str = ""  # where the project configures flake8 ('' when it does not)

    def with_role(self, *roles: str) -> list[Service]:
        return [s for s in self.services if s.role in roles]

    @property
    def compose_dir(self) -> str:
        return str(PurePosixPath(self.compose_files[0]).parent) if self.compose_files else "."

    def env_values(self) -> dict[str, str]:
        return envfiles.values_by_key(self.env_files)

    def environment(self, service: Service) -> dict[str, str]:
        """A service's variables as Compose gives them: its env_file files, then its
        ``environment`` (the ``.env`` file only interpolates, so it is not included)."""
        files = {f.name: f.values for f in self.env_files}
        merged: dict[str, str] = {}
        for name in service.env_files:
            merged.update(files.get(name, {}))
        merged.update(service.environment)
        return merged


def detect(
    root: Path, environ: Mapping[str, str] | None = None, start: Path | None = None
) -> Project:
    """``start``: the folder init ran from, when below ``root`` (a monorepo's service): its
    tests and virtualenv are preferred."""
    environ = os.environ if environ is None else environ
    pyproject = _read_toml(root / "pyproject.toml")
    service = _below(root, start)
    meta = projectfiles.table(pyproject, "project")
    project = Project(
        root=root,
        name=str(meta.get("name") or root.resolve().name),
        version=str(meta.get("version") or ""),
        pyproject=(root / "pyproject.toml").is_file(),
        ruff_config=_ruff_config(root, pyproject),
        flake8=_flake8_config(root),
        tests=testpaths.find(root, service),
        changelog=_first_file(root, CHANGELOGS),
    )
    above = [*_chain(service), *([project.tests.cwd] if project.tests else [])]
    venv_folders = list(dict.fromkeys(f for f in above if f))
    project.python = toolchain.interpreter(root, environ, venv_folders)
    project.module = _module(root, project.name)
    project.compose_files = topology.compose_files(root, environ)
    project.services = topology.services(root, project.compose_files)
    referenced = [name for s in project.services for name in s.env_files]
    folders = {".", project.compose_dir}
    project.env_files = envfiles.find(root, folders, referenced, project.compose_dir)
    project.job_library = _job_library(root, pyproject, project)
    _adopt_generic_workers(project)
    project.routes = routes.find(root)
    if project.routes.routes:
        project.nosniff = headers.nosniff_source(root)
    if project.job_library == "celery" or any(
        r.framework == "django" for r in project.routes.routes
    ):
        project.code = codeconf.find(root)
    if project.job_library == "celery":
        project.tasks = celerytasks.find(root, (s.build for s in project.with_role("worker")))
        _celery_queues(project)
    return project


def _celery_queues(project: Project) -> None:
    """A worker started without ``-Q`` consumes ``task_default_queue`` (``celery`` unless the
    code says otherwise); queues ``task_routes`` sends tasks to are checked too: a routed queue
    no worker consumes is a lost job."""
    default = project.code.default_queue
    for service in project.with_role("worker"):
        if service.framework != "celery":
            continue
        if not commandline.names_queues(service.command) and default is not None:
            service.queues = [default.text]
        service.queues += [q for q in project.code.routed_queues if q not in service.queues]


def _below(root: Path, start: Path | None) -> str:
    if start is None:
        return ""
    try:
        found = start.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""
    return "" if found == "." else found


def _chain(folder: str) -> list[str]:
    """``services/backend/app`` -> itself, ``services/backend``, ``services``."""
    parts = PurePosixPath(folder).parts if folder else ()
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


_read_toml = projectfiles.read_toml


def _ruff_config(root: Path, pyproject: dict[str, Any]) -> str:
    found = _first_file(root, ("ruff.toml", ".ruff.toml"))
    if found:
        return found
    return "pyproject.toml" if "ruff" in projectfiles.table(pyproject, "tool") else ""


def _flake8_config(root: Path) -> str:
    """``.flake8``, or a ``[flake8]`` section in setup.cfg or tox.ini."""
    if (root / ".flake8").is_file():
        return ".flake8"
    for name in ("setup.cfg", "tox.ini"):
        text = projectfiles.read_text(root / name)
        if text is None:
            continue
        if re.search(r"^\[flake8\]", text, re.MULTILINE):
            return f"{name} [flake8]"
    return ""


def _first_file(root: Path, names: Iterable[str]) -> str:
    return next((name for name in names if (root / name).is_file()), "")


def _module(root: Path, name: str) -> str:
    """The importable package: src/NAME or NAME with an __init__.py."""
    wanted = re.sub(r"[-.]+", "_", name).lower()
    for base in ("src", "."):
        if (root / base / wanted / "__init__.py").is_file():
            return wanted
    return ""


def _job_library(root: Path, pyproject: dict[str, Any], project: Project) -> str:
    """The workers' framework (by their commands), else the one the dependencies name."""
    frameworks = Counter(s.framework for s in project.with_role("worker") if s.framework)
    if frameworks:
        return frameworks.most_common(1)[0][0]
    names = set(_pyproject_dependencies(pyproject))
    for folder in _requirement_folders(project):
        for pattern in ("requirements*.txt", "requirements/*.txt"):
            for req in sorted((root / folder).glob(pattern)):
                names |= set(_requirement_names(req))
    for library in JOB_LIBRARIES:
        variants = {library, f"django-{library}", f"flask-{library}", f"flask-{library}2"}
        if names & variants:
            return library
    return ""


def _adopt_generic_workers(project: Project) -> None:
    """``python manage.py run_worker``: a worker of the project's job library."""
    for service in project.with_role("worker"):
        if not service.framework and project.job_library:
            service.framework = project.job_library
            service.queues = list(commandline.DEFAULT_QUEUES.get(project.job_library, []))


def _requirement_folders(project: Project) -> list[str]:
    folders = {".", project.compose_dir} | {s.build for s in project.services if s.build}
    if project.tests is not None and project.tests.cwd:
        folders.add(project.tests.cwd)
    return sorted(f for f in folders if not f.startswith(".."))


def _pyproject_dependencies(pyproject: dict[str, Any]) -> Iterator[str]:
    project = projectfiles.table(pyproject, "project")
    specs = projectfiles.strings(project.get("dependencies"))
    for extra in projectfiles.table(project, "optional-dependencies").values():
        specs.extend(projectfiles.strings(extra))
    for spec in specs:
        match = _REQUIREMENT_NAME.match(str(spec))
        if match:
            yield _normalize(match.group(1))
    poetry = projectfiles.table(pyproject, "tool", "poetry", "dependencies")
    yield from (_normalize(str(name)) for name in poetry)


def _requirement_names(path: Path) -> Iterator[str]:
    text = projectfiles.read_text(path)
    if text is None:
        return
    for line in text.splitlines():
        match = _REQUIREMENT_NAME.match(line.split("#", 1)[0])
        if match:
            yield _normalize(match.group(1))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
