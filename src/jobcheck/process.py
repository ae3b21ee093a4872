"""Subprocesses with a process group, a deadline, cancellation and bounded output.

No process is left behind (docs/processes.md): every process started here runs in its own
group and carries ``JOBCHECK_PROCESS_TAG=RUN.SEQ`` in its environment, which its children
inherit even when they leave the group (``setsid``, a double fork). When the process ends,
what still carries its marker, or still holds its output pipes (a process that left the group
and dropped the marker: ``env -u JOBCHECK_PROCESS_TAG setsid ...``), was daemonized by it:
killed, or reported and left running when the caller allows background processes. Waiting
for the output after the kill is bounded (DRAIN_S): nothing can hold the run up. A watchdog
process (``process_watchdog.py``) kills every group and marked process of this run if jobcheck
itself dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TAIL_BYTES = 64 * 1024
KILL_GRACE_S = 2.0
# A timeout or a cancel: SIGTERM, then SIGKILL after this (a timed-out check ends at most
# TIMEOUT_GRACE_S + DRAIN_S after its timeout, docs/processes.md).
TIMEOUT_GRACE_S = 1.0
DRAIN_S = 0.5  # after the kill: the output still in the pipes, read for at most this long
POLL_S = 0.05
MARKER = "JOBCHECK_PROCESS_TAG"
LEFTOVER_GRACE_S = 1.0
KILL_SWEEP_S = 2.0  # after the grace: SIGKILL, again and again, for at most this long
EXEC_WAIT_S = 0.25  # a process caught inside execve: its environment read again this long
PF_KTHREAD = 0x00200000  # linux/sched.h: the flag of a kernel thread


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


@dataclass(frozen=True)
class LeftProcess:
    """A process a command daemonized (it outlived the command): its pid and name."""

    pid: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "name": self.name}


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
    full_env = {**base_env, MARKER: _marker_value(base_env, tag)}
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
        left = _settled(find_marked(tag, proc.pid, pipes=pipes))
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


def _reap_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# -- daemonized processes: found by the marker they inherit --------------------------------

_SEQUENCE = itertools.count(1)
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
        if (environ is not None and wanted in _tags_in(environ)) or (
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
            elif environ is not None and wanted in _tags_in(environ):
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
    return _tags_in(environ) if environ is not None else []


def _tags_in(environ: bytes) -> list[bytes]:
    environ = b"\0" + environ
    at = environ.find(b"\0" + MARKER.encode() + b"=")
    if at < 0:
        return []
    start = at + len(MARKER) + 2
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else None].split()


def _marker_value(env: Mapping[str, str], tag: str) -> str:
    """This process's tag after those it inherited: an outer run still finds what it left."""
    inherited = env.get(MARKER, "").split()
    return " ".join([*inherited[-7:], tag])  # bounded: a deep nesting keeps the nearest


def _settled(found: list[LeftProcess]) -> list[LeftProcess]:
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
        first = _settled(first)  # named by the program it runs, not the shell that forked it
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


def tail_lines(text: str, lines: int = 20) -> str:
    parts = text.rstrip("\n").splitlines()
    return "\n".join(parts[-lines:])


GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def git(repo: Path | str, *args: str, timeout_s: float = 60.0) -> ProcessResult:
    """``git ARGS`` in ``repo``: never prompts, takes no optional locks, speaks C."""
    return run_process(["git", *args], timeout_s=timeout_s, cwd=repo, env={**os.environ, **GIT_ENV})
