"""`init` on hostile repositories: the low-level readers it uses for project files
(pyproject.toml, Python sources) go through the bounded reader — a FIFO, a symlink to
/dev/zero, deep nesting are no file, never a hang, an unbounded read or a RecursionError."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jobcheck.scaffold import pysource
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
