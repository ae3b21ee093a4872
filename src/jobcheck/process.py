"""Subprocesses with a process group, a deadline, cancellation and bounded output.

No process is left behind (docs/processes.md): ``run_process`` starts every process in its own
group, marked (``JOBCHECK_PROCESS_TAG=RUN.SEQ`` in its environment, which its children inherit),
and kills the group on timeout, cancel or Ctrl-C. When the process ends, what it daemonized
(still marked, or holding its output pipes) is killed, or reported and left running when the
caller allows background processes: finding and killing those, and the watchdog that does it
if jobcheck itself dies, is ``process_leftovers.py``. Waiting for the output after the kill is
bounded (DRAIN_S): nothing can hold the run up. ``git`` runs git the same way.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobcheck.process_leftovers import (
    LEFTOVER_GRACE_S,
    WATCHDOG,
    LeftProcess,
    find_marked,
    kill_marked,
    marker_value,
    run_tag,
    settled,
)
from jobcheck.process_watchdog import MARKER

TAIL_BYTES = 64 * 1024
KILL_GRACE_S = 2.0
# A timeout or a cancel: SIGTERM, then SIGKILL after this (a timed-out check ends at most
# TIMEOUT_GRACE_S + DRAIN_S after its timeout, docs/processes.md).
TIMEOUT_GRACE_S = 1.0
DRAIN_S = 0.5  # after the kill: the output still in the pipes, read for at most this long
POLL_S = 0.05
_SEQUENCE = itertools.count(1)  # this process's commands: the SEQ of their marker


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
    timeout_s: float | None = None  # the timeout it was given (a timed-out one says so)
    cancelled: bool = False
    not_found: str = ""
    # Processes still running after the command ended, outside its group: killed, or left
    # running when the caller allowed background processes.
    background_killed: list[LeftProcess] = field(default_factory=list)
    background_left: list[LeftProcess] = field(default_factory=list)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def background_note(result: ProcessResult) -> str:
    """One sentence on what the command left behind, for a check's message; '' if nothing."""
    if result.background_left:
        shown = ", ".join(str(p) for p in result.background_left)
        return f"left running (background: allowed): {shown}"
    if result.background_killed:
        shown = ", ".join(str(p) for p in result.background_killed)
        return f"killed what it left running in the background: {shown}"
    return ""


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
    background_allowed: bool = False,
) -> ProcessResult:
    """Run ``argv`` in its own process group; kill the whole group on timeout or cancel.

    When it ends, processes it daemonized are killed, or, with ``background_allowed``, left
    running and listed in the result (``background_left``)."""
    argv = list(argv)
    seq = next(_SEQUENCE)
    tag = f"{run_tag()}.{seq}"
    base_env = env if env is not None else os.environ
    full_env = {**base_env, MARKER: marker_value(base_env, tag)}
    start = time.monotonic()
    WATCHDOG.ensure()  # before the first process, so none runs unwatched
    try:
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd) if cwd is not None else None,
            env=full_env,
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
    pipes = _pipe_inodes(proc)
    WATCHDOG.started(seq, proc.pid, pipes)
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
            kill_marked(tag, proc.pid, grace_s=0.0, pipes=pipes)
            WATCHDOG.ended(seq)
            raise
        if cancel is not None and cancel.is_set():
            cancelled = True
        elif deadline is not None and time.monotonic() >= deadline:
            timed_out = True
        if timed_out or cancelled:
            kill_group(proc, grace_s=TIMEOUT_GRACE_S)
            break
    left: list[LeftProcess] = []
    killed: list[LeftProcess] = []
    if background_allowed and not (timed_out or cancelled):
        WATCHDOG.kept(seq)
        # What it left may hold the pipes open for as long as it runs: do not wait for that.
        for pump in pumps:
            pump.join(timeout=0.2)
        left = settled(find_marked(tag, proc.pid, pipes=pipes))
    else:
        if not (timed_out or cancelled):
            # The leader exited; a grandchild holding the pipes open must not keep us waiting.
            _reap_group(proc.pid)
        # Past a timeout or a cancel, leftovers get SIGKILL at once: the check is over.
        grace = 0.0 if (timed_out or cancelled) else LEFTOVER_GRACE_S
        killed = kill_marked(tag, proc.pid, grace_s=grace, pipes=pipes)
        WATCHDOG.ended(seq)
        _drain(pumps, DRAIN_S)
    return ProcessResult(
        argv=argv,
        returncode=proc.returncode,
        stdout=out.text(),
        stderr=err.text(),
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        timeout_s=timeout_s,
        cancelled=cancelled,
        background_killed=killed,
        background_left=left,
    )


def _drain(pumps: list[threading.Thread], within_s: float) -> None:
    """Wait for the pumps to read what is left in the pipes, at most ``within_s`` in all: a
    process nothing could find (no marker, not in the group) may hold a pipe open forever."""
    until = time.monotonic() + within_s
    for pump in pumps:
        pump.join(timeout=max(0.0, until - time.monotonic()))


def _pipe_inodes(proc: subprocess.Popen[bytes]) -> frozenset[int]:
    """The inodes of the pipes the process writes its output to (our read ends share them)."""
    inodes = set()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                inodes.add(os.fstat(stream.fileno()).st_ino)
    return frozenset(inodes)


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
