"""Reports are written only to regular files (or stdout): never over a device, a FIFO, a folder
or a file the run reads — refused with exit 2 before anything runs (the real CLI)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

CHECKLIST = """\
version: 1
name: targets
checks:
  - {id: a, kind: command, owner: "@o", with: {run: "touch ran"}}
"""


def jobcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST)
    return tmp_path


def test_a_report_over_the_checklist_is_refused(repo: Path) -> None:
    done = jobcheck(repo, "run", "--json", "jobcheck.yaml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--json jobcheck.yaml: is an input of this run" in done.stderr
    assert (repo / "jobcheck.yaml").read_text() == CHECKLIST
    assert not (repo / "ran").exists()


def test_a_report_over_a_fifo_or_a_device_is_refused_without_waiting(repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    done = jobcheck(repo, "run", "--junit", "pipe")
    assert done.returncode == 2 and "is a FIFO (named pipe)" in done.stderr
    try:
        os.mknod(repo / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    done = jobcheck(repo, "release", "v1.0.0", "--yes", "--markdown", "null")
    assert done.returncode == 2 and "is a character device" in done.stderr
    assert stat.S_ISCHR(os.stat(repo / "null").st_mode)
    assert not (repo / "ran").exists()


def test_report_and_merge_never_write_over_what_they_read(repo: Path) -> None:
    for k in (1, 2):
        done = jobcheck(repo, "run", "--shard", f"{k}/2", "--json", f"s{k}.json")
        assert done.returncode == 0, done.stderr
    before = (repo / "s1.json").read_text()
    merged = jobcheck(repo, "report", "merge", "s1.json", "s2.json", "--json", "s1.json")
    assert merged.returncode == 2 and "--json s1.json: is an input of this run" in merged.stderr
    rendered = jobcheck(repo, "report", "s1.json", "--format", "html", "-o", "s1.json")
    assert rendered.returncode == 2 and "is an input of this run" in rendered.stderr
    assert (repo / "s1.json").read_text() == before
    assert (
        jobcheck(repo, "report", "merge", "s1.json", "s2.json", "--json", "m.json").returncode == 0
    )
