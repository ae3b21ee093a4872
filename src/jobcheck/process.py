"""Subprocesses with a process group, a deadline, cancellation and bounded output."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TAIL_BYTES = 64 * 1024
KILL_GRACE_S = 2.0
POLL_S = 0.05


class _Tail:
    """Keeps the last ``limit`` bytes of a stream, counting what was dropped."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        excess = len(self.buffer) - self.limit
        if excess > 0:
            del self.buffer[:excess]
            self.dropped += excess

    def text(self) -> str:
        body = self.buffer.decode("utf-8", errors="replace")
        if self.dropped:
            return f"[... {self.dropped} bytes cut ...]\n{body}"
        return body


def _pump(stream: object, tail: _Tail) -> None:
    read = stream.read1 if hasattr(stream, "read1") else stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(8192)
        if not chunk:
            return
        tail.feed(chunk)


@dataclass
class ProcessResult:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False
    not_found: str = ""

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


_PLAIN_WORDS = re.compile(r"[\w@%+=:,./ -]*", re.ASCII)


def split_command(command: str | Sequence[str]) -> list[str]:
    """A string is split as a POSIX shell would; a list is taken as it is."""
    if isinstance(command, str):
        if _PLAIN_WORDS.fullmatch(command):  # nothing a shell would read specially
            return command.split()
        return shlex.split(command)
    return [str(part) for part in command]


def kill_group(proc: subprocess.Popen[bytes], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the whole process group, then SIGKILL what is still there after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; children may linger in the group: make sure they go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def run_process(
    argv: Sequence[str],
    *,
    timeout_s: float | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    stdin: bytes | None = None,
    tail_bytes: int = TAIL_BYTES,
) -> ProcessResult:
    """Run ``argv`` in its own process group; kill the whole group on timeout or cancel."""
    argv = list(argv)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd) if cwd is not None else None,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = exc.filename or argv[0]
        if cwd is not None and not Path(cwd).is_dir():
            missing = f"working directory {cwd}"
        return ProcessResult(argv, None, "", "", 0.0, not_found=str(missing))
    except PermissionError as exc:
        return ProcessResult(argv, None, "", str(exc), 0.0, not_found=argv[0])
    out, err = _Tail(tail_bytes), _Tail(tail_bytes)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    deadline = start + timeout_s if timeout_s is not None else None
    timed_out = cancelled = False
    while True:
        try:
            proc.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        except BaseException:  # Ctrl-C in the main thread: the child must not outlive us
            kill_group(proc, grace_s=1.0)
            raise
        if cancel is not None and cancel.is_set():
            cancelled = True
        elif deadline is not None and time.monotonic() >= deadline:
            timed_out = True
        if timed_out or cancelled:
            kill_group(proc)
            break
    if not (timed_out or cancelled):
        # The leader exited; a grandchild holding the pipes open must not keep us waiting.
        _reap_group(proc.pid)
    for pump in pumps:
        pump.join(timeout=5.0)
    return ProcessResult(
        argv=argv,
        returncode=proc.returncode,
        stdout=out.text(),
        stderr=err.text(),
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        cancelled=cancelled,
    )


def _reap_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def tail_lines(text: str, lines: int = 20) -> str:
    parts = text.rstrip("\n").splitlines()
    return "\n".join(parts[-lines:])


GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def git(repo: Path | str, *args: str, timeout_s: float = 60.0) -> ProcessResult:
    """``git ARGS`` in ``repo``: never prompts, takes no optional locks, speaks C."""
    return run_process(["git", *args], timeout_s=timeout_s, cwd=repo, env={**os.environ, **GIT_ENV})
