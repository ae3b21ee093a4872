"""Ctrl-C while a check's daemon, out of the process group and without the marker, holds the
check's output pipe: the run ends at once (not after a 5 s wait per pipe), the daemon is
killed, and the message says what was running and that the run was interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def _running(command: str) -> list[int]:
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


@pytest.mark.parametrize("start", ["env -u JOBCHECK_PROCESS_TAG", "JOBCHECK_PROCESS_TAG=other"])
def test_ctrl_c_with_an_unmarked_daemon_on_the_pipe_is_quick_and_kills_it(
    write_checklist: Callable[..., Path], tmp_path: Path, start: str
) -> None:
    marker = tmp_path / "started"
    word = f"{3000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    path = write_checklist(f"""
version: 1
name: interrupted
defaults: {{owner: "@team"}}
checks:
  - id: long
    kind: command
    with: {{shell: true, run: "{start} setsid sleep {word} & echo $$$$ > {marker}; sleep 60"}}
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", str(path), "--json", "out.json", "--no-color"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the daemon has exec'd sleep
        assert _running(f"sleep {word}"), "the daemon did not start"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        assert proc.returncode == 130, out + err
        assert took < 5, f"Ctrl-C took {took:.1f}s"
        (check,) = json.loads((tmp_path / "out.json").read_text())["checks"]
        assert check["status"] == "error"
        assert (
            "interrupted (Ctrl-C or SIGTERM) while the command check was running"
            in (check["message"])
        )
        assert "interrupted: interrupted" not in check["message"]
        time.sleep(0.2)
        assert _running(f"sleep {word}") == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)
        for pid in _running(f"sleep {word}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
