"""Subprocesses: bounded output, timeouts and cancellation that leave nothing running."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

import jobcheck.process_leftovers
from jobcheck.process import (
    DRAIN_S,
    TIMEOUT_GRACE_S,
    background_note,
    run_process,
    split_command,
)
from jobcheck.process_leftovers import _holds_pipe, find_marked, marker_tags
from jobcheck.process_watchdog import MARKER


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


def test_a_process_caught_inside_execve_is_found_once_it_shows_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process inside ``execve`` reads as an empty environment for a moment (seen in CI on a
    loaded machine: a daemon ``setsid sleep`` left behind went unnoticed). The scan reads it
    again, bounded, rather than take the empty read for "not ours"."""
    tag = f"{os.getpid()}-exec.1"
    first = int(Path("/proc/loadavg").read_text().split()[-1])
    env = {**os.environ, MARKER: tag}
    child = subprocess.Popen(["sleep", "30"], env=env)
    bare = subprocess.Popen(["sleep", "30"], env={})  # empty for good: not waited for long
    reads = {child.pid: 0}
    real = jobcheck.process_leftovers._environ

    def caught_in_exec(pid: int) -> bytes | None:
        if pid == child.pid and reads[pid] < 3:
            reads[pid] += 1
            return b""
        return real(pid)

    try:
        poll_until(lambda: real(bare.pid) == b"", 5.0)
        monkeypatch.setattr(jobcheck.process_leftovers, "_environ", caught_in_exec)
        found = [p.pid for p in find_marked(tag, first)]
        assert found == [child.pid] and reads[child.pid] == 3
        assert bare.pid not in found
    finally:
        for process in (child, bare):
            process.kill()
            process.wait(5)


def poll_until(done: Callable[[], bool], within_s: float) -> None:
    until = time.monotonic() + within_s
    while not done() and time.monotonic() < until:
        time.sleep(0.02)
    assert done()


def test_plain_words_split_as_the_shell_would_without_shlex() -> None:
    for command in ["/usr/bin/true", "a  b\tc", "x=1 -y --z=2,3 ./p@q%+:", "", "  ", "é x"]:
        assert split_command(command) == shlex.split(command), command
    for command in ["echo 'a b'", 'echo "a b"', "a\\ b", "a#b $HOME", "a\x0bb"]:
        assert split_command(command) == shlex.split(command), command


# -- processes that left the group and dropped the marker: found by the pipe they hold --------

UNMARKED = {
    "marker dropped": "env -u JOBCHECK_PROCESS_TAG setsid sleep {word} &",
    "marker replaced": "JOBCHECK_PROCESS_TAG=other setsid sleep {word} &",
}


@pytest.mark.parametrize("start", list(UNMARKED.values()), ids=list(UNMARKED))
def test_an_unmarked_daemon_holding_the_output_is_killed_when_the_command_ends(start: str) -> None:
    word = f"{7000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    script = start.format(word=word) + " sleep 0.3; echo started"
    try:
        began = time.monotonic()
        result = run_process(["/bin/sh", "-c", script], timeout_s=20)
        took = time.monotonic() - began
        assert result.returncode == 0 and "started" in result.stdout
        assert [p.name for p in result.background_killed] == ["sleep"]
        assert _pids_running(f"sleep {word}") == []
        assert took < 3  # not a 5 s wait per pipe on a holder
    finally:
        _kill_all(f"sleep {word}")


@pytest.mark.parametrize("start", list(UNMARKED.values()), ids=list(UNMARKED))
def test_a_timeout_kills_an_unmarked_daemon_and_ends_near_the_timeout(start: str) -> None:
    word = f"{8000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    script = start.format(word=word) + " trap '' TERM; sleep 30"
    try:
        began = time.monotonic()
        result = run_process(["/bin/sh", "-c", script], timeout_s=1.0)
        took = time.monotonic() - began
        assert result.timed_out and result.timeout_s == 1.0
        assert _pids_running(f"sleep {word}") == []
        # the timeout, then SIGTERM's grace (ignored here), then at most DRAIN_S of output
        assert took < 1.0 + TIMEOUT_GRACE_S + DRAIN_S + 0.5
        assert abs(result.duration_s - took) < 0.2
    finally:
        _kill_all(f"sleep {word}")


def test_ctrl_c_kills_an_unmarked_daemon_holding_the_output_quickly() -> None:
    word = f"{9000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    script = f"env -u {MARKER} setsid sleep {word} & sleep 30"
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        began = time.monotonic()
        result = run_process(["/bin/sh", "-c", script], timeout_s=30, cancel=cancel)
        assert result.cancelled
        assert time.monotonic() - began < 0.5 + TIMEOUT_GRACE_S + DRAIN_S + 0.5
        assert _pids_running(f"sleep {word}") == []
    finally:
        timer.cancel()
        _kill_all(f"sleep {word}")


def test_a_sibling_holding_only_the_read_end_is_not_taken_for_a_holder() -> None:
    """Our read ends are also in a process another check's Popen just forked: only the write
    end of the pipe makes a process this command's."""
    read_end, write_end = os.pipe()
    try:
        link = f"pipe:[{os.fstat(read_end).st_ino}]".encode()
        os.close(write_end)
        assert not _holds_pipe(os.getpid(), frozenset([link]))
        write_end = os.dup(read_end)  # still read-only
        assert not _holds_pipe(os.getpid(), frozenset([link]))
    finally:
        os.close(read_end)
        with contextlib.suppress(OSError):
            os.close(write_end)
    r2, w2 = os.pipe()
    try:
        assert _holds_pipe(os.getpid(), frozenset([f"pipe:[{os.fstat(w2).st_ino}]".encode()]))
    finally:
        os.close(r2)
        os.close(w2)
