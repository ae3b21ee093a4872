"""No process left behind: a real `jobcheck run`, SIGKILLed while its check runs a process tree
and a `setsid` daemon, leaves none of them running; `background: allowed` names what it left."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEADLINE_S = 5.0


def _running(command: str) -> list[int]:
    """Live (not zombie) processes whose command line is exactly ``command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if cmdline.decode(errors="replace") == command and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(predicate: object, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _kill(commands: list[str]) -> None:
    for command in commands:
        for pid in _running(command):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _checklist(path: Path, run: str, extra: str = "") -> Path:
    path.write_text(
        "version: 1\nname: procs\n"
        "defaults: {owner: '@t', expect: exits 0, rollback: none}\n"
        "checks:\n"
        f"  - id: tree\n    kind: command\n    timeout: 120s\n"
        f"    with: {{run: {json.dumps(run)}, shell: true{extra}}}\n"
    )
    return path


def _word() -> str:
    return f"{7000 + os.getpid() % 1000}.{time.monotonic_ns() % 9973}"


def test_sigkill_of_jobcheck_kills_the_check_tree_and_its_setsid_daemon(tmp_path: Path) -> None:
    word = _word()
    tree = [f"sleep {word}1", f"sleep {word}2", f"sleep {word}3"]
    run = (
        f"sleep {word}1 & (sleep {word}2 &); setsid sleep {word}3 >/dev/null 2>&1 & sleep 120; wait"
    )
    checklist = _checklist(tmp_path / "jobcheck.yaml", run)
    jobcheck = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", str(checklist), "--no-color"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(lambda: all(_running(c) for c in tree), 30), "the tree never started"
        jobcheck.send_signal(signal.SIGKILL)
        jobcheck.wait(timeout=10)
        start = time.monotonic()
        survivors = lambda: [c for c in tree if _running(c)]  # noqa: E731
        assert _wait_for(lambda: not survivors(), DEADLINE_S), f"still running: {survivors()}"
        assert time.monotonic() - start < DEADLINE_S
    finally:
        jobcheck.kill()
        _kill(tree)


def test_sigkill_of_jobcheck_kills_a_daemon_that_dropped_the_marker_but_holds_the_output(
    tmp_path: Path,
) -> None:
    """Out of the group and without the marker (``env -u``), but on the check's output pipe:
    the watchdog knows the pipe's inode and kills what holds it."""
    word = _word()
    daemon = f"sleep {word}4"
    run = f"env -u JOBCHECK_PROCESS_TAG setsid {daemon} & sleep 120; wait"
    checklist = _checklist(tmp_path / "jobcheck.yaml", run)
    jobcheck = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", str(checklist), "--no-color"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(lambda: _running(daemon), 30), "the daemon never started"
        jobcheck.send_signal(signal.SIGKILL)
        jobcheck.wait(timeout=10)
        assert _wait_for(lambda: not _running(daemon), DEADLINE_S), "the daemon survived"
    finally:
        jobcheck.kill()
        _kill([daemon])


def test_a_passing_check_leaves_no_daemon(tmp_path: Path) -> None:
    word = _word()
    checklist = _checklist(
        tmp_path / "jobcheck.yaml", f"setsid sleep {word} >/dev/null 2>&1 & sleep 0.3"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jobcheck", "run", str(checklist), "--json", "r.json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert _running(f"sleep {word}") == []
        check = json.loads((tmp_path / "r.json").read_text())["checks"][0]
        assert "killed what it left running in the background: sleep (pid" in check["message"]
        assert [p["name"] for p in check["details"]["background_killed"]] == ["sleep"]
    finally:
        _kill([f"sleep {word}"])


def test_background_allowed_reports_name_and_pid_and_survives_the_run(tmp_path: Path) -> None:
    word = _word()
    run = f"setsid sleep {word} >/dev/null 2>&1 &"
    checklist = _checklist(tmp_path / "jobcheck.yaml", run, ", background: allowed")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jobcheck", "run", str(checklist), "--json", "r.json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        time.sleep(0.5)  # the watchdog has swept by now: what was allowed is still there
        running = _running(f"sleep {word}")
        assert len(running) == 1
        check = json.loads((tmp_path / "r.json").read_text())["checks"][0]
        assert check["details"]["background_left"] == [{"pid": running[0], "name": "sleep"}]
        assert f"left running (background: allowed): sleep (pid {running[0]})" in check["message"]
    finally:
        _kill([f"sleep {word}"])


def test_the_next_run_removes_the_temp_file_of_a_killed_report_write(tmp_path: Path) -> None:
    gone_writer = subprocess.Popen(["true"])
    gone_writer.wait()
    stale = tmp_path / f".r.json.{gone_writer.pid}-k3j4h5g6.tmp"
    stale.write_text('{"half": ')
    checklist = _checklist(tmp_path / "jobcheck.yaml", "true")
    done = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", str(checklist), "--json", "r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not stale.exists()
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "pass"
