"""Atomic writes give files the mode a plain write would (the umask decides, not mkstemp), and
clean up the temp files an interrupted write left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobcheck.fsutil import atomic_write_text, current_umask, ignore_in_git, remove_stale_temp_files


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


def test_a_failing_check_leaves_the_target_as_it_was(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text("old")
    seen: list[str] = []

    def refuse(written: Path) -> None:
        seen.append(written.read_text())
        raise ValueError("does not load")

    with pytest.raises(ValueError, match="does not load"):
        atomic_write_text(path, "new", check=refuse)
    assert seen == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["jobcheck.yaml"]  # no temp file left
    assert path.read_text() == "old"
    checked = atomic_write_text(tmp_path / "new.yaml", "ok", check=lambda p: None)
    assert (checked.read_text(), mode(checked)) == ("ok", 0o644)


def test_current_umask_reads_without_changing_it(umask: None) -> None:
    os.umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027


# -- temp files of an interrupted write --------------------------------------------------

WRITER = """
import sys
from jobcheck.fsutil import atomic_write_text
atomic_write_text(sys.argv[1], "x" * (256 * 1024 * 1024))
"""


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def _killed_mid_write(folder: Path) -> Path:
    """A real writer, SIGKILLed while its temp file exists: the temp file it leaves."""
    for _ in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder / "r.json")])
        deadline = time.monotonic() + 30
        while not _temp_files(folder) and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        writer.kill()
        writer.wait(timeout=30)
        if _temp_files(folder):
            return _temp_files(folder)[0]
    pytest.fail("the writer never left a temp file")


def test_a_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    stale = _killed_mid_write(tmp_path)
    assert stale.name.startswith(".r.json.") and not (tmp_path / "r.json").exists()
    atomic_write_text(tmp_path / "other.md", "# report\n")
    assert _temp_files(tmp_path) == []
    assert (tmp_path / "other.md").read_text() == "# report\n"


def test_a_temp_file_of_a_running_writer_is_kept(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as alive:
        try:
            live = tmp_path / f".r.json.{alive.pid}-abcd1234.tmp"
            live.write_text("half")
            assert remove_stale_temp_files(tmp_path) == []
            assert live.exists()
        finally:
            alive.kill()


def test_a_reused_pid_does_not_keep_a_stale_temp_file(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as alive:
        try:
            stale = tmp_path / f".r.json.{alive.pid}-abcd1234.tmp"
            stale.write_text("half")
            hour_ago = time.time() - 3600
            os.utime(stale, (hour_ago, hour_ago))  # written before this process started
            unrelated = tmp_path / ".notes.tmp"
            unrelated.write_text("not ours")
            assert remove_stale_temp_files(tmp_path) == [stale]
            assert unrelated.exists()
        finally:
            alive.kill()


def test_an_old_style_temp_file_goes_only_when_old(tmp_path: Path) -> None:
    fresh = tmp_path / ".r.json.k2j4h5g6.tmp"
    old = tmp_path / ".h.json.a1b2c3d4.tmp"
    fresh.write_text("x")
    old.write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert remove_stale_temp_files(tmp_path) == [old]
    assert fresh.exists()


def test_atomic_write_never_replaces_a_fifo_a_device_or_a_folder(tmp_path: Path) -> None:
    """Renaming over a device node replaces it: as root, `--json /dev/null` once did."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    targets = [fifo, tmp_path]
    try:
        device = tmp_path / "null"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        targets.append(device)
    except PermissionError:
        pass  # not root: the FIFO and the folder still stand for every special file
    for target in targets:
        with pytest.raises(OSError, match="not a regular file"):
            atomic_write_text(target, "report\n")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert all(not stat.S_ISREG(os.stat(t).st_mode) for t in targets)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_state_folder_ignores_itself_in_git_and_a_users_file_is_kept(tmp_path: Path) -> None:
    """One writer of ``.jobcheck/.gitignore`` (the run history and the result cache share it)."""
    from jobcheck.process import git

    state = tmp_path / ".jobcheck"
    state.mkdir()
    (state / "runs.json").write_text("{}", encoding="utf-8")
    git(tmp_path, "init", "-q")
    ignore_in_git(state)
    assert (state / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert git(tmp_path, "status", "--porcelain").stdout == ""
    (state / ".gitignore").write_text("runs.json\n", encoding="utf-8")
    ignore_in_git(state)
    assert (state / ".gitignore").read_text(encoding="utf-8") == "runs.json\n"
