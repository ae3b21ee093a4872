"""Atomic writes give files the mode a plain write would: the umask decides, not mkstemp."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobcheck.fsutil import atomic_write_text, current_umask


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_respects_the_umask(tmp_path: Path, umask: None) -> None:
    path = atomic_write_text(tmp_path / "out" / "report.json", "{}\n")
    assert path.read_text() == "{}\n"
    assert mode(path) == 0o644
    os.umask(0o077)
    assert mode(atomic_write_text(tmp_path / "private.json", "{}")) == 0o600


def test_replaced_file_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "report.xml"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert (path.read_text(), mode(path)) == ("new", 0o640)
    assert [p.name for p in tmp_path.iterdir()] == ["report.xml"]  # no temp file left


def test_current_umask_reads_without_changing_it(umask: None) -> None:
    os.umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027
