"""Where the project's tests are, read as pytest would.

First the pytest configuration, in pytest's own order (pytest.ini, .pytest.ini, pyproject.toml
``[tool.pytest.ini_options]``, tox.ini ``[pytest]``, setup.cfg ``[tool:pytest]``) and its
``testpaths``; then a ``tests``/``test`` folder, at the root or nested (``project/tests``).
A nested folder whose parent is a project of its own (its own pytest config, requirements or
Dockerfile) is run from that parent, as its developers run it.
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TEST_DIRS = ("tests", "test")
SKIPPED_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist", "venv", "env"}
MAX_DEPTH = 3
_INI_FILES = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"), ("tox.ini", "pytest"))
_OWN_PROJECT = ("requirements.txt", "Dockerfile", "setup.py", "pyproject.toml", "setup.cfg")


@dataclass(frozen=True)
class SuiteLayout:
    paths: list[str] = field(default_factory=list)  # pytest's arguments, relative to cwd
    cwd: str = ""  # relative to the project root; "" is the root
    source: str = ""  # where this came from, for the header

    def shown(self) -> str:
        where = f" (run from {self.cwd}/)" if self.cwd else ""
        return f"{', '.join(self.paths)}{where}, from {self.source}"


def find(root: Path) -> SuiteLayout | None:
    configured = _configured(root)
    if configured is not None:
        paths, source = configured
        if paths:
            return SuiteLayout(paths, "", f"testpaths in {source}")
    for name in TEST_DIRS:
        if (root / name).is_dir():
            return SuiteLayout([name], "", f"the {name}/ folder")
    return _nested(root)


def _configured(root: Path) -> tuple[list[str], str] | None:
    """(testpaths, where) of the first file pytest would take as its configuration."""
    for name, section in _INI_FILES[:2]:
        found = _ini(root / name, section)
        if found is not None:
            return found, f"{name} [{section}]"
    toml = _pyproject(root / "pyproject.toml")
    if toml is not None:
        return toml, "pyproject.toml [tool.pytest.ini_options]"
    for name, section in (_INI_FILES[2], ("setup.cfg", "tool:pytest")):
        found = _ini(root / name, section)
        if found is not None:
            return found, f"{name} [{section}]"
    return None


def _ini(path: Path, section: str) -> list[str] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    if not parser.has_section(section):
        return None
    return parser.get(section, "testpaths", fallback="").split()


def _pyproject(path: Path) -> list[str] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    options = data.get("tool", {}).get("pytest", {}).get("ini_options")
    if not isinstance(options, dict):
        return None
    paths = options.get("testpaths", [])
    return [str(p) for p in paths] if isinstance(paths, list) else str(paths).split()


def _nested(root: Path) -> SuiteLayout | None:
    for folder in _test_dirs(root):
        parent = folder.parent
        relative = folder.relative_to(root).as_posix()
        if not _own_project(parent):
            return SuiteLayout([relative], "", f"the {relative}/ folder")
        cwd = parent.relative_to(root).as_posix()
        configured = _configured(parent)
        if configured is not None and configured[0]:
            return SuiteLayout(configured[0], cwd, f"testpaths in {cwd}/{configured[1]}")
        return SuiteLayout([folder.name], cwd, f"the {relative}/ folder")
    return None


def _own_project(folder: Path) -> bool:
    return _configured(folder) is not None or any((folder / n).is_file() for n in _OWN_PROJECT)


def _test_dirs(root: Path) -> Iterator[Path]:
    """``tests``/``test`` folders holding test files, shallowest first, then by name."""
    level = [root]
    for _ in range(MAX_DEPTH):
        children = sorted(child for folder in level for child in _subdirs(folder))
        for child in children:
            if child.name in TEST_DIRS and _has_tests(child):
                yield child
        level = [c for c in children if c.name not in TEST_DIRS]


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [
            p
            for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name not in SKIPPED_DIRS
        ]
    except OSError:
        return []


def _has_tests(folder: Path) -> bool:
    patterns = ("test_*.py", "*_test.py")
    return any(next(folder.rglob(p), None) is not None for p in patterns)
