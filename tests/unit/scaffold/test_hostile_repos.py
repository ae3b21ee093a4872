"""`init` on hostile repositories: every reader of project files (pyproject.toml, pytest.ini,
setup.cfg, tox.ini, requirements, Makefile, .gitignore, compose files, Python sources, the
schema file) goes through the bounded reader — a FIFO, a symlink to /dev/zero, a huge file,
deep nesting and a TOML key of the wrong type are no file (or no value), never a hang, an
unbounded read, a RecursionError or a TypeError. The end-to-end cases run `init` itself."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from jobcheck.scaffold import init_checklist, pysource
from jobcheck.scaffold.detect import _read_toml


def _hostile(path: Path, kind: str, deep: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        path.write_text("# " + "x" * (5 * 1024 * 1024) + "\n")
    else:
        path.write_text(deep)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "deep"])
def test_a_hostile_pyproject_is_no_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "pyproject.toml"
    _hostile(path, kind, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    started = time.monotonic()
    assert _read_toml(path) == {}
    assert time.monotonic() - started < 3


def test_a_plain_pyproject_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert _read_toml(tmp_path / "pyproject.toml") == {"project": {"name": "x"}}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "deep"])
def test_a_hostile_python_file_is_skipped(tmp_path: Path, kind: str) -> None:
    (tmp_path / "good.py").write_text("from celery import Celery\napp = Celery()\n")
    chain = "from celery import Celery\nx = a" + ".b" * 100_000 + "\n"
    _hostile(tmp_path / "bad.py", kind, chain)
    started = time.monotonic()
    found = [m.path for m in pysource.modules(tmp_path, markers=["celery"])]
    assert time.monotonic() - started < 10
    assert found == ["good.py"]


PROJECT_FILES = (
    "pyproject.toml",
    "pytest.ini",
    "setup.cfg",
    "tox.ini",
    "requirements.txt",
    "Makefile",
    ".gitignore",
    "compose.yaml",
    "ruff.toml",
    "worker.py",
    "jobcheck.schema.json",
)
DEEP = {
    "pyproject.toml": "a = " + "[" * 5000 + "]" * 5000 + "\n",
    "compose.yaml": "[" * 5000 + "\n",
    "worker.py": "from celery import Celery\nx = a" + ".b" * 100_000 + "\n",
    "jobcheck.schema.json": "[" * 100_000,
}
INIT_LIMIT_S = 15.0


def _init_bounded(root: Path) -> Path:
    """`init` in ``root`` in a thread: a hang fails the test instead of blocking it."""
    box: list[object] = []

    def work() -> None:
        try:
            box.append(init_checklist(root, force=True, environ={}, compose_cli=lambda: ""))
        except BaseException as exc:
            box.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(INIT_LIMIT_S)
    if worker.is_alive():
        for name in PROJECT_FILES:  # let a reader blocked on a FIFO go
            path = root / name
            if path.is_fifo():
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"init did not end within {INIT_LIMIT_S}s")
    (result,) = box
    if isinstance(result, BaseException):
        raise result
    assert isinstance(result, Path)
    return result


HOSTILE_FILES = [
    (name, kind)
    for name in PROJECT_FILES
    for kind in ("fifo", "dev-zero", "huge", "deep")
    if kind != "deep" or name in DEEP  # the other formats have no nesting
]


@pytest.mark.parametrize(("name", "kind"), HOSTILE_FILES)
def test_init_drafts_around_a_hostile_project_file(tmp_path: Path, name: str, kind: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "app.py").write_text("import os\n")
    _hostile(tmp_path / name, kind, DEEP.get(name, ""))
    written = _init_bounded(tmp_path)
    assert "checks:" in written.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "pyproject",
    [
        "tool = 1\n",
        "project = 1\n",
        "[tool]\npytest = 3\nruff = 2\npoetry = 4\n",
        "[tool.pytest]\nini_options = 1\n",
        "[tool.pytest.ini_options]\ntestpaths = 5\npython_files = 6\n",
        "[tool.pytest.ini_options]\ntestpaths = [1, {a = 1}]\n",
        "[project]\nname = 'x'\ndependencies = 1\noptional-dependencies = 2\n",
        "[project]\nname = 'x'\noptional-dependencies = {a = 1}\n",
        "[tool.poetry]\ndependencies = 3\n",
    ],
)
def test_init_takes_a_wrongly_typed_pyproject_as_no_value(tmp_path: Path, pyproject: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text(pyproject)
    written = _init_bounded(tmp_path)
    assert "checks:" in written.read_text(encoding="utf-8")


def test_a_hostile_schema_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    os.mkfifo(tmp_path / "jobcheck.schema.json")
    _init_bounded(tmp_path)
    assert (tmp_path / "jobcheck.schema.json").is_fifo()
