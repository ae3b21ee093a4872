"""What a check's process left behind when it ended, found and killed; and the watchdog.

Every process ``process.run_process`` starts carries ``JOBCHECK_PROCESS_TAG=RUN.SEQ`` in its
environment (``marker_value``), which its children inherit even when they leave the group
(``setsid``, a double fork). When it ends, ``find_marked`` reads ``/proc`` for the processes
created since it started that carry its tag, or hold the write end of its output pipes (one
that left the group and dropped the marker); ``kill_marked`` kills them (docs/processes.md).
``Watchdog`` talks to ``process_watchdog.py``, the process that kills every group and marked
process of this run if jobcheck itself dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jobcheck.process_watchdog import MARKER, tags_in

LEFTOVER_GRACE_S = 1.0
KILL_SWEEP_S = 2.0  # after the grace: SIGKILL, again and again, for at most this long
EXEC_WAIT_S = 0.25  # a process caught inside execve: its environment read again this long
PF_KTHREAD = 0x00200000  # linux/sched.h: the flag of a kernel thread


@dataclass(frozen=True)
class LeftProcess:
    """A process a command daemonized (it outlived the command): its pid and name."""

    pid: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "name": self.name}


_TAGS: dict[int, str] = {}


def run_tag() -> str:
    """This process's part of the marker: its pid and a random word (pids are reused)."""
    pid = os.getpid()
    if pid not in _TAGS:  # a forked child gets its own
        _TAGS[pid] = f"{pid}-{secrets.token_hex(4)}"
    return _TAGS[pid]


def _pid_window(first: int) -> range | tuple[range, range]:
    """Pids created since ``first`` was: up to the last pid the kernel handed out (the 5th
    field of /proc/loadavg, in our pid namespace), wrapping at pid_max."""
    try:
        last = int(Path("/proc/loadavg").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return range(1, 1 << 30)  # cannot tell: look at every process
    if last >= first:
        return range(first, last + 1)
    return (range(first, 1 << 30), range(1, last + 1))


def find_marked(
    tag: str, first_pid: int, *, pipes: frozenset[int] = frozenset()
) -> list[LeftProcess]:
    """Live processes carrying ``tag`` in their marker, or holding one of the pipes
    ``pipes`` (by inode: a process that dropped the marker but writes to the check's
    output), among those created since ``first_pid``."""
    window = _pid_window(first_pid)
    ranges = window if isinstance(window, tuple) else (window,)
    wanted = tag.encode()
    links = frozenset(f"pipe:[{inode}]".encode() for inode in pipes)
    me = os.getpid()
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    pids = [int(n) for n in names if n.isdigit() and int(n) != me]
    found, in_exec = [], []
    for pid in (pid for pid in pids if any(pid in r for r in ranges)):
        environ = _environ(pid)
        if (environ is not None and wanted in tags_in(environ)) or (
            links and _holds_pipe(pid, links)
        ):
            found.append(LeftProcess(pid, _name_of(pid)))
        elif environ == b"" and _may_be_in_exec(pid):
            in_exec.append(pid)
    return found + _marked_after_exec(in_exec, wanted)


def _marked_after_exec(pids: list[int], wanted: bytes) -> list[LeftProcess]:
    """Of ``pids``, whose environments read empty, those carrying ``wanted`` once they show
    it. A process inside ``execve`` has an empty environment until the new program's is
    laid out (the kernel's ``environ_read`` of an ``mm`` without ``env_end``): on a loaded
    machine that moment is long enough to be seen. Read again for at most EXEC_WAIT_S; one
    started with an empty environment (``env -i``) stays empty and is not ours."""
    found: list[LeftProcess] = []
    until = time.monotonic() + EXEC_WAIT_S
    while pids and time.monotonic() < until:
        time.sleep(0.01)
        still = []
        for pid in pids:
            environ = _environ(pid)
            if environ == b"" and _may_be_in_exec(pid):
                still.append(pid)
            elif environ is not None and wanted in tags_in(environ):
                found.append(LeftProcess(pid, _name_of(pid)))
        pids = still
    return found


def _environ(pid: int) -> bytes | None:
    """Process ``pid``'s environment as the kernel shows it; None when gone or unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _may_be_in_exec(pid: int) -> bool:
    """Whether an empty environment may be a moment inside ``execve``: not for a kernel
    thread (PF_KTHREAD in /proc/PID/stat's flags) nor a zombie, whose are always empty.
    Unreadable counts as not: nothing to wait for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] not in ("Z", "X") and not int(fields[6]) & PF_KTHREAD
    except (OSError, IndexError, ValueError):
        return False


def marker_tags(pid: int) -> list[bytes]:
    """The tags in process ``pid``'s marker: its own and those of the jobcheck runs above it
    (a gate whose check runs jobcheck again); [] when unreadable or gone."""
    environ = _environ(pid)
    return tags_in(environ) if environ is not None else []


def marker_value(env: Mapping[str, str], tag: str) -> str:
    """This process's tag after those it inherited: an outer run still finds what it left."""
    inherited = env.get(MARKER, "").split()
    return " ".join([*inherited[-7:], tag])  # bounded: a deep nesting keeps the nearest


def _holds_pipe(pid: int, wanted: frozenset[bytes]) -> bool:
    """Whether process ``pid`` has the write end of one of the pipes ``wanted``
    (``pipe:[INODE]``) open. Only the write end: our read ends are also in a process another
    check's Popen just forked (until it execs), and that process is not this check's."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").encode() not in wanted:
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as handle:
                info = handle.read(4096)
        except OSError:
            continue
        flags = re.search(rb"^flags:\s*([0-7]+)", info, re.MULTILINE)
        if flags and int(flags.group(1), 8) & os.O_ACCMODE != os.O_RDONLY:
            return True
    return False


def settled(found: list[LeftProcess]) -> list[LeftProcess]:
    """The same processes named again a moment later: one just forked shows its parent's
    name (``sh``) until it has started its own program."""
    if not found:
        return found
    time.sleep(0.1)
    return [LeftProcess(p.pid, _name_of(p.pid)) for p in found]


def _name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "?"
    except OSError:
        return "?"


def kill_marked(
    tag: str,
    first_pid: int,
    grace_s: float = LEFTOVER_GRACE_S,
    *,
    pipes: frozenset[int] = frozenset(),
) -> list[LeftProcess]:
    """SIGTERM every process still carrying ``tag`` (or holding one of ``pipes``), SIGKILL
    what remains after ``grace_s``, and again until none is found (a dying daemon may fork);
    the processes found first."""
    first = find_marked(tag, first_pid, pipes=pipes)
    if first and grace_s > 0:
        first = settled(first)  # named by the program it runs, not the shell that forked it
    found = list(first)
    term_until = time.monotonic() + grace_s
    kill_until = term_until + KILL_SWEEP_S
    while found and time.monotonic() < kill_until:
        sig = signal.SIGTERM if time.monotonic() < term_until else signal.SIGKILL
        for leftover in found:
            with contextlib.suppress(OSError):
                os.kill(leftover.pid, sig)
        time.sleep(0.05 if sig == signal.SIGTERM else 0.01)
        found = find_marked(tag, first_pid, pipes=pipes)
    return first


class Watchdog:
    """The process that kills this run's check processes if jobcheck dies without doing it
    (process_watchdog.py); started at the first process, told of each start and end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.failed = ""

    def _ensure(self) -> int | None:
        if self._pipe is not None and self._pid == os.getpid():
            return self._pipe
        if self.failed:
            return None
        script = Path(__file__).with_name("process_watchdog.py")
        read_end, write_end = os.pipe()  # both close-on-exec; the child gets read_end as stdin
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(script), run_tag()],
                # unmarked: an outer run's cleanup must not kill it before it has swept
                env={k: v for k, v in os.environ.items() if k != MARKER},
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            os.close(write_end)
            self.failed = str(exc)
            return None
        finally:
            os.close(read_end)
        self._pipe, self._pid = write_end, os.getpid()
        return write_end

    def ensure(self) -> None:
        with self._lock:
            self._ensure()

    def _send(self, line: str) -> None:
        with self._lock:
            pipe = self._ensure()
            if pipe is None:
                return
            try:
                os.write(pipe, line.encode() + b"\n")
            except OSError as exc:  # the watchdog died: nothing more to tell it
                self.failed = str(exc)

    def started(self, seq: int, pgid: int, pipes: frozenset[int] = frozenset()) -> None:
        self._send(" ".join(["+", str(seq), str(pgid), *map(str, sorted(pipes))]))

    def ended(self, seq: int) -> None:
        self._send(f"- {seq}")

    def kept(self, seq: int) -> None:
        self._send(f"keep {seq}")


WATCHDOG = Watchdog()
