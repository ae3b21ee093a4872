"""A user's regex cannot outrun its timeout, ignores no cancel, and never blocks signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from jobcheck.bounded_regex import Found, RegexCancelled, RegexTimeout, search

CATASTROPHIC = (r"(a+)+$", "a" * 34 + "!")


def test_a_match_reports_what_it_found() -> None:
    found = search(r"(\d+) (?P<word>passed)(, (\d+) failed)?", "== 12 passed ==", timeout_s=10)
    assert found == Found(
        span=(3, 12),
        matched="12 passed",
        groups=("12", "passed", None, None),
        names={"word": 2},
    )
    assert found.first == "12"
    assert found.group() == "12 passed" and found.group("word") == "passed"
    assert found.group(3) is None


def test_no_match_flags_and_a_group_less_match() -> None:
    assert search("absent", "some text", timeout_s=10) is None
    found = search("^ERROR", "ok\nerror here", timeout_s=10, flags=re.M | re.I)
    assert found is not None and found.first == "error" and found.span == (3, 8)


def test_text_that_json_escapes_and_lone_surrogates_survive() -> None:
    text = 'say "hi"\\ \x00 \ud800 ✓'
    found = search(r"\x00 (.) (✓)", text, timeout_s=10)
    assert found is not None and found.groups == ("\ud800", "✓")


def test_a_bad_pattern_is_a_re_error() -> None:
    with pytest.raises(re.error, match="missing \\)"):
        search("(unclosed", "x", timeout_s=10)


def test_catastrophic_backtracking_ends_at_the_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(RegexTimeout) as caught:
        search(*CATASTROPHIC, timeout_s=1.0)
    assert time.monotonic() - start < 2.0
    assert caught.value.timeout_s == 1.0
    assert "did not finish within 1s" in str(caught.value)


def test_cancel_stops_a_match_at_once() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(RegexCancelled):
        search(*CATASTROPHIC, timeout_s=60, cancel=cancel)
    assert time.monotonic() - start < 1.5


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _script(body: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import os, sys
        from jobcheck.bounded_regex import search
        print("ready", flush=True)
        {body}
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.5)  # the worker is running the match now
    return proc


def test_sigint_interrupts_the_main_thread_and_kills_the_worker() -> None:
    proc = _script(
        """
        try:
            search(r"(a+)+$", "a" * 34 + "!", timeout_s=60)
        except KeyboardInterrupt:
            kids = open(f"/proc/self/task/{os.getpid()}/children").read().split()
            print("interrupted", kids)
        """
    )
    assert len(_children(proc.pid)) == 1
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2.0
    assert out == "interrupted []\n"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, awaiting its reaper


def test_the_worker_cannot_outlive_a_killed_parent() -> None:
    proc = _script('search(r"(a+)+$", "a" * 34 + "!", timeout_s=1.5)')
    (worker,) = _children(proc.pid)
    proc.kill()  # no chance to kill its worker
    proc.wait()
    deadline = time.monotonic() + 1.5 + 3.0  # its own limit is the timeout and a second
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)
