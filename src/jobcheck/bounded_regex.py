"""A user's regular expression, bounded by the check's timeout and by cancellation.

``re`` holds the GIL for the whole of a match, and a pattern such as ``(a+)+$`` backtracks
for hours on 40 characters. Run in a thread it would freeze every thread, and run in the
main thread it would defer SIGINT and SIGTERM until it finished. So the match runs in a
short-lived child interpreter that is killed at the deadline or on cancellation, while
this process waits without holding anything and stays responsive to signals. The child
uses ``re`` itself, so a pattern means exactly what it means everywhere else in jobcheck.
A child costs a few tens of milliseconds: fine for a check, too much for a tight loop.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

# Reads {"p": pattern, "f": flags, "t": text}; writes {"regs": [[start, end], ...],
# "names": {name: index}} (regs null when nothing matched) or {"error": "..."}.
# Its first act bounds its own life: SIGALRM, with no handler, kills it from the kernel
# even mid-match, so it cannot outlive a parent that was itself killed (SIGKILL, default
# SIGTERM) before it could kill the worker.
_WORKER = """\
import signal, sys
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
import json, re
req = json.loads(sys.stdin.buffer.read())
try:
    m = re.search(req["p"], req["t"], req["f"])
except (re.error, OverflowError, ValueError, RecursionError, MemoryError) as exc:
    out = {"error": str(exc) or type(exc).__name__}
else:
    out = {"regs": m.regs if m else None, "names": dict(m.re.groupindex) if m else {}}
sys.stdout.write(json.dumps(out))
"""
# How often the wait looks at the cancel event (a signal interrupts it at once anyway).
_POLL_S = 0.05
# The worker's own limit lies this far past the deadline: normally this process kills it
# first and reports a timeout rather than a dead worker.
_GRACE_S = 1.0


class RegexFailed(Exception):
    """The match did not finish; its process is gone."""


class RegexTimeout(RegexFailed, TimeoutError):
    """The match ran past its time limit; its process was killed."""

    def __init__(self, pattern: str, timeout_s: float) -> None:
        super().__init__(
            f"the pattern {pattern!r} did not finish within {timeout_s:g}s "
            "(it may backtrack catastrophically, like (a+)+$): simplify it"
        )
        self.pattern = pattern
        self.timeout_s = timeout_s


class RegexCancelled(RegexFailed):
    """The run was cancelled while the match ran; its process was killed."""


@dataclass(frozen=True)
class Found:
    """What a match found: like ``re.Match``, without holding the searched text."""

    span: tuple[int, int]
    matched: str
    groups: tuple[str | None, ...] = ()
    names: dict[str, int] = field(default_factory=dict)

    def group(self, key: int | str = 0) -> str | None:
        index = self.names[key] if isinstance(key, str) else key
        return self.matched if index == 0 else self.groups[index - 1]

    @property
    def first(self) -> str:
        """The first group that matched, else the whole match: what to show in a report."""
        return next((g for g in self.groups if g is not None), self.matched)


def search(
    pattern: str,
    text: str,
    *,
    timeout_s: float,
    cancel: threading.Event | None = None,
    flags: int = 0,
) -> Found | None:
    """``re.search(pattern, text, flags)`` that gives up after ``timeout_s`` (RegexTimeout)
    or when ``cancel`` is set (RegexCancelled); a bad pattern raises ``re.error``."""
    request = json.dumps({"p": pattern, "f": int(flags), "t": text}).encode("ascii")
    # Files, not pipes: nothing to pump while waiting, so no pipe can fill and block either side.
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout:
        stdin.write(request)
        stdin.seek(0)
        _run_worker(stdin, stdout, time.monotonic() + timeout_s, cancel, pattern, timeout_s)
        stdout.seek(0)
        out = stdout.read()
    if not out:
        raise RegexFailed(f"the matcher process for {pattern!r} died without an answer")
    answer: dict[str, object] = json.loads(out)
    if "error" in answer:
        raise re.error(str(answer["error"]), pattern)
    return _found(answer, text)


def _run_worker(
    stdin: IO[bytes],
    stdout: IO[bytes],
    deadline: float,
    cancel: threading.Event | None,
    pattern: str,
    timeout_s: float,
) -> None:
    # -I -S: no site, no user paths, no environment: fast, and nothing of the user's runs.
    life_s = max(deadline - time.monotonic(), 0.0) + _GRACE_S
    argv = [sys.executable, "-I", "-S", "-c", _WORKER, f"{life_s:.3f}"]
    worker = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        while worker.poll() is None:
            if cancel is not None and cancel.is_set():
                raise RegexCancelled(f"cancelled while matching {pattern!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RegexTimeout(pattern, timeout_s)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(min(_POLL_S, remaining))
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _found(answer: dict[str, object], text: str) -> Found | None:
    regs = answer.get("regs")
    if not isinstance(regs, list):
        return None
    spans = [(int(start), int(end)) for start, end in regs]
    (start, end), groups = spans[0], spans[1:]
    names = answer.get("names")
    return Found(
        span=(start, end),
        matched=text[start:end],
        groups=tuple(None if s < 0 else text[s:e] for s, e in groups),
        names=dict(names) if isinstance(names, dict) else {},
    )
