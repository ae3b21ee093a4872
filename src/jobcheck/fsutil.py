"""Files in and out: bounded reads of untrusted files, atomic writes of reports.

Every file jobcheck reads that it did not write itself in this run (checklists, includes, env
and compose files, everything under ``.jobcheck/``, shard reports) goes through
``read_regular``: a regular file only (a FIFO would block, ``/dev/zero`` never ends), and at
most a given size, checked before and while reading.

A report is either complete or absent, never half-written.

The temporary file is ``.NAME.<pid>-<random>.tmp`` beside the target. A writer killed mid-write
(SIGKILL, power cut) leaves it behind; the next write into the same folder removes such files
whose writer is gone (docs/processes.md).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# mkstemp's random part: 8 characters of [a-z0-9_]. Compiled at first use (re caches them).
_OWN_TEMP = r"\.(?P<name>.+)\.(?P<pid>[0-9]+)-[a-z0-9_]{8}\.tmp"
_LEGACY_TEMP = r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp"  # before the pid was in it
LEGACY_STALE_S = 3600.0
_swept: set[Path] = set()
_swept_lock = threading.Lock()


_SPECIAL = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(path: Path | str) -> str:
    """What ``path`` is when it exists and is not a regular file (``a character device``;
    a symlink counts as what it points to), else ''. A file is only ever written where
    nothing is or a regular file is: renaming over ``/dev/null`` replaces the device."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return ""
    if stat.S_ISREG(mode):
        return ""
    return next((what for test, what in _SPECIAL if test(mode)), "not a regular file")


class NotRegularFile(OSError):
    """A path to read names a FIFO, a device, a socket or a folder."""

    def __init__(self, path: Path | str, what: str) -> None:
        super().__init__(errno.EINVAL, f"{path} is {what}, not a regular file")
        self.what = what


class FileTooLarge(OSError):
    """A file to read is larger than its reader accepts."""

    def __init__(self, path: Path | str, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{path} is larger than {limit:,} bytes")
        self.limit = limit


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    NotRegularFile for a FIFO, device, socket or folder (told from ``stat`` before opening,
    and again from the open file: the path may be swapped meanwhile); FileTooLarge past
    ``limit`` (a file that grows while read is cut off at ``limit + 1`` bytes, not followed);
    other OSErrors as ``open`` raises them (FileNotFoundError ...)."""
    what = not_regular(path)
    if what:
        raise NotRegularFile(path, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, "not a regular file")
        if info.st_size > limit:
            raise FileTooLarge(path, limit)
        chunks = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1024 * 1024))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise FileTooLarge(path, limit)
    return b"".join(chunks)


MAX_PROJECT_FILE_BYTES = 4 * 1024 * 1024  # a project file `init` reads (pyproject.toml, a .py)


def read_regular_text(path: Path | str, limit: int) -> str:
    """``read_regular`` as UTF-8 text (UnicodeDecodeError, a ValueError, when it is not)."""
    return read_regular(path, limit).decode("utf-8")


def ignore_in_git(state: Path) -> None:
    """jobcheck's state folder (``.jobcheck/``: run history, result cache) keeps itself out of
    git, so saving a run or a cached result never makes the work tree dirty."""
    marker = state / ".gitignore"
    if not marker.exists():
        atomic_write_text(
            marker, "# written by jobcheck: run history and cache stay out of git\n*\n"
        )


def atomic_write_text(
    path: Path | str, text: str, *, check: Callable[[Path], None] | None = None
) -> Path:
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename over it.

    The file gets the mode a plain ``open(path, "w")`` would give it (0666 less the umask),
    or keeps the mode of the file it replaces: ``mkstemp`` alone would leave it 0600.
    Never replaces anything but a regular file (OSError EINVAL: see ``not_regular``).
    ``check`` reads the written temporary file before it replaces anything; whatever it
    raises leaves ``path`` untouched. Every file jobcheck writes goes through here."""
    target = Path(path)
    what = not_regular(target)
    if what:
        raise OSError(errno.EINVAL, f"{target} is {what}, not a regular file")
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(target.parent)
    mode = _mode_for(target)
    prefix = f".{target.name}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (threads may be
    creating files meanwhile); else set and restored at once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sweep_once(folder: Path) -> None:
    """Remove stale temp files from ``folder``, once per folder per process."""
    key = folder.resolve()
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    remove_stale_temp_files(folder)


def remove_stale_temp_files(folder: Path | str) -> list[Path]:
    """Remove temp files of an interrupted atomic write from ``folder``; the ones removed.

    A temp file is stale when its writer's pid is not running, or the process now running
    under that pid started after the file was last written (the pid was reused). A temp file
    of the old pattern (no pid in its name) is stale when over an hour old. Never raises:
    cleaning up must not fail a run."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and _stale(entry):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _stale(entry: os.DirEntry[str]) -> bool:
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        written = entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    own = re.fullmatch(_OWN_TEMP, entry.name)
    if own:
        pid = int(own["pid"])
        if pid == os.getpid():
            return False  # ours: another thread may be writing it now
        started = process_start_time(pid)
        return started is None or started > written
    if re.fullmatch(_LEGACY_TEMP, entry.name):
        return time.time() - written > LEGACY_STALE_S
    return False


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if it is not running
    (a zombie is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return _start_time_without_proc(pid)
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return boot + int(fields[19]) / ticks


def _start_time_without_proc(pid: int) -> float | None:
    """No /proc: running or not is all that can be told; a running pid counts as the writer."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0.0


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` for every JSON jobcheck writes: strict JSON only. A NaN or an infinity
    (a duration, a metric) becomes ``null``: Python writes them as ``NaN``/``Infinity``, which
    no other JSON parser reads. The common case costs one ``dumps``; only a value holding one
    is encoded again, through Python's own parser (its ``parse_constant``), so no walker runs
    in Python."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:  # out of range float values (or a cycle: raised again below)
        loose = json.loads(json.dumps(value, **options), parse_constant=lambda _: None)
        return json.dumps(loose, allow_nan=False, **options)
