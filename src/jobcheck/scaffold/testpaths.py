"""Where the project's tests are, read as pytest would.

pytest takes its configuration from the first of pytest.ini, .pytest.ini, pyproject.toml
``[tool.pytest.ini_options]``, tox.ini ``[pytest]``, setup.cfg ``[tool:pytest]`` in the folder
it runs from (its rootdir), and collects ``testpaths`` (or, with none, everything below) by
``python_files``. So: a configuration at the root is the suite; with none there, a
configuration deeper down (a monorepo's ``services/backend/pyproject.toml``, at any depth) is
run from its own folder; with none anywhere, plain ``pytest`` from the root — never the first
``tests`` folder found, which may hold 2 of 14 test files. The layout counts the test files
the run collects, so the checklist can say how much of the suite the check covers.
"""

from __future__ import annotations

import configparser
import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobcheck.scaffold import projectfiles

SKIPPED_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist", "venv", "env"}
SKIPPED_DIRS |= {"_darcs", "CVS", "{arch}"}
MAX_DIRS = 5000  # folders walked per search: a huge tree is cut short, not read to the end
DEFAULT_FILES = ("test_*.py", "*_test.py")
_INI_FILES = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"))
_LATE_INI_FILES = (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest"))
_OWN_PROJECT = ("requirements.txt", "Dockerfile", "setup.py", "pyproject.toml", "setup.cfg")


@dataclass(frozen=True)
class Config:
    """The pytest configuration of one folder."""

    testpaths: list[str]
    python_files: tuple[str, ...]
    source: str  # "pytest.ini [pytest]"


@dataclass(frozen=True)
class SuiteLayout:
    paths: list[str] = field(default_factory=list)  # pytest's arguments ([]: its own discovery)
    cwd: str = ""  # relative to the project root; "" is the root
    source: str = ""  # where this came from, for the header
    files: int = 0  # test files the run collects
    conftest_only: tuple[str, ...] = ()  # test folders holding conftest.py and no test file
    others: tuple[str, ...] = ()  # other pytest configurations, not run by this check

    def shown(self) -> str:
        what = ", ".join(self.paths) or "plain `pytest` (its own discovery)"
        where = f" (run from {self.cwd}/)" if self.cwd else ""
        count = f"{self.files} test file{'s' if self.files != 1 else ''}"
        return f"{what}{where}, from {self.source}: {count}"


def find(root: Path, prefer: str = "") -> SuiteLayout | None:
    """The suite pytest runs from ``root``, else from a folder with its own configuration
    (the one ``prefer`` is in, else the one with most test files); None when there is no test
    file and no test folder at all."""
    own = configuration(root)
    if own is not None:
        return _layout(root, "", own, f"the root's {own.source}")
    nested = [(folder, config) for folder, config in _configured_folders(root)]
    if nested:
        return _nested(root, nested, prefer)
    return _discovery(root)


def configuration(folder: Path) -> Config | None:
    """The configuration pytest would take in ``folder``, in pytest's order."""
    for name, section in _INI_FILES:
        found = _ini(folder / name, section)
        if found is not None:
            return found
    toml = _pyproject(folder / "pyproject.toml")
    if toml is not None:
        return toml
    for name, section in _LATE_INI_FILES:
        found = _ini(folder / name, section)
        if found is not None:
            return found
    return None


def _ini(path: Path, section: str) -> Config | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    text = projectfiles.read_text(path)  # bounded: a FIFO or /dev/zero is no file
    if text is None:
        return None
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    if not parser.has_section(section):
        return None
    paths = parser.get(section, "testpaths", fallback="").split()
    files = tuple(parser.get(section, "python_files", fallback="").split()) or DEFAULT_FILES
    return Config(paths, files, f"{path.name} [{section}]")


def _pyproject(path: Path) -> Config | None:
    data = projectfiles.read_toml(path)
    options = projectfiles.table(data, "tool", "pytest").get("ini_options")
    if not isinstance(options, dict):
        return None
    return Config(
        _words(options.get("testpaths", [])),
        tuple(_words(options.get("python_files", []))) or DEFAULT_FILES,
        "pyproject.toml [tool.pytest.ini_options]",
    )


def _words(value: object) -> list[str]:
    """A list of words, or one string of them; anything else (``testpaths = 5``): none."""
    return projectfiles.strings(value) if not isinstance(value, str) else value.split()


def _layout(root: Path, cwd: str, config: Config, source: str) -> SuiteLayout:
    base = root / cwd if cwd else root
    starts = [p for pattern in config.testpaths for p in _expand(base, pattern)]
    files = sum(_count(start, config.python_files) for start in (starts or [base]))
    paths = config.testpaths if starts else []
    if config.testpaths:
        source = f"testpaths in {source}"
    return SuiteLayout(paths, cwd, source, files, _conftest_only(base, files))


def _expand(base: Path, pattern: str) -> list[Path]:
    """``testpaths`` entries are globs, as pytest reads them; missing ones are left out."""
    if any(c in pattern for c in "*?["):
        return sorted(p for p in base.glob(pattern) if p.is_dir())
    return [base / pattern] if (base / pattern).exists() else []


def _nested(root: Path, nested: list[tuple[str, Config]], prefer: str) -> SuiteLayout:
    layouts = [_layout(root, cwd, config, f"{cwd}/{config.source}") for cwd, config in nested]
    preferred = [
        layout for layout in layouts if prefer == layout.cwd or prefer.startswith(layout.cwd + "/")
    ]
    chosen = max(preferred or layouts, key=lambda layout: (layout.files, -len(layout.cwd)))
    others = tuple(
        f"{layout.cwd}/ ({layout.files} test files)" for layout in layouts if layout is not chosen
    )
    return SuiteLayout(
        chosen.paths, chosen.cwd, chosen.source, chosen.files, chosen.conftest_only, others
    )


def _discovery(root: Path) -> SuiteLayout | None:
    """No configuration anywhere: plain ``pytest`` from the root collects every test file —
    unless they are all in one folder that is a project of its own (its own requirements or
    Dockerfile), which its developers run from there."""
    found = list(_test_files(root, DEFAULT_FILES))
    if not found:
        conftest = _conftest_only(root, 0)
        return SuiteLayout([], "", "no pytest configuration", 0, conftest) if conftest else None
    parents = {_suite_folder(root, path) for path in found}
    if len(parents) == 1:
        folder = parents.pop()
        project = _project_above(root, folder) if folder is not None else None
        if folder is not None and project is not None:
            cwd = project.relative_to(root).as_posix()
            source = f"the {folder.relative_to(root).as_posix()}/ folder"
            return SuiteLayout([folder.relative_to(project).as_posix()], cwd, source, len(found))
    return SuiteLayout([], "", "no pytest configuration", len(found))


def _suite_folder(root: Path, path: Path) -> Path | None:
    """The ``tests``/``test`` folder a test file is in (nearest above it)."""
    for folder in path.parents:
        if folder == root:
            return None
        if folder.name in ("tests", "test"):
            return folder
    return None


def _project_above(root: Path, folder: Path) -> Path | None:
    """The nearest folder above ``folder`` (below the root) that is a project of its own."""
    for above in folder.parents:
        if above == root or root not in above.parents:
            return None
        if _own_project(above):
            return above
    return None


def _own_project(folder: Path) -> bool:
    return configuration(folder) is not None or any((folder / n).is_file() for n in _OWN_PROJECT)


def _configured_folders(root: Path) -> Iterator[tuple[str, Config]]:
    """Folders below the root with a pytest configuration of their own, shallowest first."""
    for folder in _folders(root):
        if folder == root:
            continue
        config = configuration(folder)
        if config is not None:
            yield folder.relative_to(root).as_posix(), config


def _folders(root: Path) -> Iterator[Path]:
    """Folders pytest would enter (not hidden, not a virtualenv, not build output), breadth
    first, at most MAX_DIRS."""
    level, seen = [root], 0
    while level and seen < MAX_DIRS:
        following = []
        for folder in level:
            seen += 1
            yield folder
            following += _subdirs(folder)
        level = following


def _subdirs(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if p.is_dir()
        and not p.is_symlink()
        and not p.name.startswith(".")
        and p.name not in SKIPPED_DIRS
        and not p.name.endswith(".egg")
        and not (p / "pyvenv.cfg").exists()
    ]


def _test_files(start: Path, patterns: tuple[str, ...]) -> Iterator[Path]:
    if start.is_file():
        if any(fnmatch.fnmatch(start.name, p) for p in patterns):
            yield start
        return
    for folder in _folders(start):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if name.endswith(".py") and any(fnmatch.fnmatch(name, p) for p in patterns):
                yield folder / name


def _count(start: Path, patterns: tuple[str, ...]) -> int:
    return sum(1 for _ in _test_files(start, patterns))


def _conftest_only(base: Path, files: int) -> tuple[str, ...]:
    """``tests/`` folders with a conftest.py and no test file, when the run has none."""
    if files:
        return ()
    return tuple(
        f"{name}/" for name in ("tests", "test") if (base / name / "conftest.py").is_file()
    )
