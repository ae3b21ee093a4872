"""The watchdog: kills a run's check processes when jobcheck itself dies, even by SIGKILL.

Started once per jobcheck process (``process_leftovers.Watchdog``) as ``python -I -S THIS_FILE
TAG``, in its own session, with the read end of a pipe as its stdin. jobcheck writes one line per
event:

    + SEQ PGID [INODE ...]   a check process started (its group is PGID, its marker TAG.SEQ,
                   its output pipes these inodes)
    - SEQ          it ended and jobcheck cleaned up after it itself
    keep SEQ       it ended and may leave processes behind (``background: allowed``)

When the pipe reaches end of file — jobcheck exited, normally or not, since nothing else holds
the write end — the watchdog SIGKILLs the process group of every process still started, and
every process whose environment's ``JOBCHECK_PROCESS_TAG`` holds ``TAG.SEQ`` for a SEQ not kept
(daemons that left the group with ``setsid`` or a double fork inherit the marker), and every
process that still holds an output pipe of a process still started (a daemon that also dropped
the marker), until a scan finds none or its deadline passes, then exits. Standard library only,
imports nothing from jobcheck: it must start fast and outlive the package's interpreter state.
Every run that starts a process pays for this interpreter's start-up, so it imports only
built-in modules: ``_signal`` (what ``signal`` wraps, without its enums) and no ``contextlib``
(together 2/3 of its CPU).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not from typing, which imports re: mypy reads the name all the same
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # the built-in module: `signal` would import enum

MARKER = "JOBCHECK_PROCESS_TAG"
SWEEP_DEADLINE_S = 10.0


def marked(tag_prefix: bytes, kept: set[bytes]) -> list[int]:
    """Pids of live processes with a tag in their marker that starts with ``tag_prefix``
    (``RUN.``) and is not kept. A marker holds the tags of nested runs, space-separated."""
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        for tag in _tags_of(int(name)):
            if tag.startswith(tag_prefix) and tag[len(tag_prefix) :] not in kept:
                found.append(int(name))
                break
    return found


def _tags_of(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return tags_in(handle.read())
    except OSError:
        return []


def tags_in(environ: bytes) -> list[bytes]:
    """The tags in the marker of a process environment as /proc shows it (NUL-separated), the
    outer runs' first; [] without one. jobcheck's scan (``process_leftovers``) reads them here."""
    environ = b"\0" + environ
    at = environ.find(b"\0" + MARKER.encode() + b"=")
    if at < 0:
        return []
    start = at + len(MARKER) + 2
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else None].split()


def holding(links: set[str]) -> list[int]:
    """Pids of processes with one of ``links`` (``pipe:[INODE]``) among their open files.
    Only the check processes' write ends are left: jobcheck, which held the read ends, is
    gone."""
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            fds = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{name}/fd/{fd}") in links:
                    found.append(int(name))
                    break
            except OSError:
                continue
    return found


def sweep(
    tag: str, groups: dict[str, int], kept: set[bytes], pipes: set[str] | None = None
) -> None:
    for pgid in groups.values():
        try:  # noqa: SIM105 (contextlib costs a third of this start-up)
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    prefix = tag.encode() + b"."
    deadline = time.monotonic() + SWEEP_DEADLINE_S
    while time.monotonic() < deadline:
        pids = marked(prefix, kept) + (holding(pipes) if pipes else [])
        if not pids:
            return
        for pid in pids:
            try:  # noqa: SIM105
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def main(tag: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C for jobcheck is not for us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: dict[str, int] = {}
    pipes: dict[str, list[str]] = {}
    kept: set[bytes] = set()
    for line in sys.stdin.buffer:
        parts = line.split()
        if len(parts) >= 3 and parts[0] == b"+":
            groups[parts[1].decode()] = int(parts[2])
            pipes[parts[1].decode()] = [f"pipe:[{int(p)}]" for p in parts[3:]]
        elif len(parts) == 2 and parts[0] in (b"-", b"keep"):
            groups.pop(parts[1].decode(), None)
            pipes.pop(parts[1].decode(), None)
            if parts[0] == b"keep":
                kept.add(parts[1])
    sweep(tag, groups, kept, {link for links in pipes.values() for link in links})


if __name__ == "__main__":
    main(sys.argv[1])
