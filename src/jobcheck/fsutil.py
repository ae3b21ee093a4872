"""Atomic file writes: a report is either complete or absent, never half-written.

The temporary file is ``.NAME.<pid>-<random>.tmp`` beside the target. A writer killed mid-write
(SIGKILL, power cut) leaves it behind; the next write into the same folder removes such files
whose writer is gone (docs/processes.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

# mkstemp's random part: 8 characters of [a-z0-9_]
_OWN_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)-[a-z0-9_]{8}\.tmp")
_LEGACY_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")  # before the pid was in it
LEGACY_STALE_S = 3600.0
_swept: set[Path] = set()
_swept_lock = threading.Lock()


def atomic_write_text(
    path: Path | str, text: str, *, check: Callable[[Path], None] | None = None
) -> Path:
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename over it.

    The file gets the mode a plain ``open(path, "w")`` would give it (0666 less the umask),
    or keeps the mode of the file it replaces: ``mkstemp`` alone would leave it 0600.
    ``check`` reads the written temporary file before it replaces anything; whatever it
    raises leaves ``path`` untouched. Every file jobcheck writes goes through here."""
    target = Path(path)
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
    own = _OWN_TEMP.fullmatch(entry.name)
    if own:
        pid = int(own["pid"])
        if pid == os.getpid():
            return False  # ours: another thread may be writing it now
        started = process_start_time(pid)
        return started is None or started > written
    if _LEGACY_TEMP.fullmatch(entry.name):
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
