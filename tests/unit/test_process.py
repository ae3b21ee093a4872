"""Subprocesses: bounded output, timeouts and cancellation that leave nothing running."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

from jobcheck.process import (
    MARKER,
    background_note,
    find_marked,
    marker_tags,
    run_process,
    split_command,
)


def gone(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_output_keeps_the_tail_and_says_what_was_cut() -> None:
    script = "import sys; sys.stdout.write('x' * 200000 + 'END')"
    result = run_process([sys.executable, "-c", script], timeout_s=30, tail_bytes=1024)
    assert result.returncode == 0
    assert result.stdout.endswith("END")
    assert "bytes cut" in result.stdout
    assert len(result.stdout) < 1200


def test_a_missing_program_is_reported_not_raised() -> None:
    result = run_process(["no-such-program-jc"], timeout_s=5)
    assert result.not_found == "no-such-program-jc"
    assert result.returncode is None


def test_timeout_kills_children_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = run_process(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], timeout_s=0.5)
    assert result.timed_out
    assert gone(int(pidfile.read_text()))


def test_cancel_stops_the_process_group(tmp_path: Path) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    start = time.monotonic()
    result = run_process(["sleep", "30"], timeout_s=30, cancel=cancel)
    assert result.cancelled and time.monotonic() - start < 5


def test_ctrl_c_while_waiting_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_process(["/bin/sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], timeout_s=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gone(int(pidfile.read_text()))


def test_split_command_like_a_shell() -> None:
    assert split_command("echo 'a b' \"c d\" e") == ["echo", "a b", "c d", "e"]
    assert split_command(["x", 1]) == ["x", "1"]  # type: ignore[list-item]


# -- no process left behind: daemons found by the marker they inherit ----------------------


def _pids_running(command: str) -> list[int]:
    """Live (not zombie) processes whose command line is ``command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if cmdline == command and state != "Z":
            found.append(int(entry.name))
    return found


def _kill_all(command: str) -> None:
    for pid in _pids_running(command):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_daemon_that_left_the_group_is_killed_when_the_command_ends() -> None:
    word = f"{4000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    script = f"setsid sleep {word} & (setsid sleep {word}1 &); sleep 0.3; echo started"
    try:
        result = run_process(["/bin/sh", "-c", script], timeout_s=20)
        assert result.returncode == 0 and "started" in result.stdout
        assert len(result.background_killed) >= 2
        assert _pids_running(f"sleep {word}") == _pids_running(f"sleep {word}1") == []
    finally:
        _kill_all(f"sleep {word}")
        _kill_all(f"sleep {word}1")


def test_background_allowed_leaves_the_daemon_running_and_names_it() -> None:
    word = f"{5000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    script = f"setsid sleep {word} >/dev/null 2>&1 & echo started"
    try:
        result = run_process(["/bin/sh", "-c", script], timeout_s=20, background_allowed=True)
        running = _pids_running(f"sleep {word}")
        assert len(running) == 1
        assert [(p.pid, p.name) for p in result.background_left] == [(running[0], "sleep")]
        assert result.background_killed == []
        assert (
            background_note(result)
            == f"left running (background: allowed): sleep (pid {running[0]})"
        )
    finally:
        _kill_all(f"sleep {word}")


def test_a_command_without_daemons_reports_none() -> None:
    result = run_process(["/bin/sh", "-c", "sleep 0.01 & wait"], timeout_s=20)
    assert result.background_killed == [] and result.background_left == []
    assert background_note(result) == ""


def test_the_marker_does_not_match_another_command() -> None:
    """Two commands at once: each finds only what it started itself."""
    word = f"{6000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    slow = threading.Thread(
        target=run_process,
        args=(["/bin/sh", "-c", f"setsid sleep {word} >/dev/null 2>&1 & sleep 1"],),
        kwargs={"timeout_s": 20, "background_allowed": True},
    )
    try:
        slow.start()
        time.sleep(0.3)
        result = run_process(["/bin/sh", "-c", "echo quick"], timeout_s=20)
        assert result.background_killed == []
        assert len(_pids_running(f"sleep {word}")) == 1
    finally:
        slow.join(timeout=10)
        _kill_all(f"sleep {word}")


def test_an_outer_run_finds_what_a_nested_run_left() -> None:
    """jobcheck's gate runs pytest, which runs jobcheck: the outer tag stays in the marker."""
    word = f"{8000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    outer = "4242-outer.7"
    first = int(Path("/proc/loadavg").read_text().split()[-1])
    script = f"setsid sleep {word} >/dev/null 2>&1 & sleep 0.3"
    try:
        env = {**os.environ, MARKER: outer}
        argv = ["/bin/sh", "-c", script]
        result = run_process(argv, env=env, timeout_s=20, background_allowed=True)
        [left] = result.background_left
        assert marker_tags(left.pid)[0] == outer.encode()
        assert [p.pid for p in find_marked(outer, first)] == [left.pid]
    finally:
        _kill_all(f"sleep {word}")


def test_plain_words_split_as_the_shell_would_without_shlex() -> None:
    for command in ["/usr/bin/true", "a  b\tc", "x=1 -y --z=2,3 ./p@q%+:", "", "  ", "é x"]:
        assert split_command(command) == shlex.split(command), command
    for command in ["echo 'a b'", 'echo "a b"', "a\\ b", "a#b $HOME", "a\x0bb"]:
        assert split_command(command) == shlex.split(command), command
