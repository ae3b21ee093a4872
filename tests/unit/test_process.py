"""Subprocesses: bounded output, timeouts and cancellation that leave nothing running."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

from jobcheck.process import run_process, split_command


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


def test_plain_words_split_as_the_shell_would_without_shlex() -> None:
    for command in ["/usr/bin/true", "a  b\tc", "x=1 -y --z=2,3 ./p@q%+:", "", "  ", "é x"]:
        assert split_command(command) == shlex.split(command), command
    for command in ["echo 'a b'", 'echo "a b"', "a\\ b", "a#b $HOME", "a\x0bb"]:
        assert split_command(command) == shlex.split(command), command
