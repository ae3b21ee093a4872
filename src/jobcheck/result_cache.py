"""The result cache: a check that declares its inputs is not run again while they are unchanged.

A check with ``cache: {inputs: [globs], env: [names]}`` gets a key: jobcheck's version, the
check's own definition (kind, options after interpolation, timeout, retries), the contents of
its input files and the values of the named environment variables (hashed; never stored). A
pass is stored under ``.jobcheck/cache/entries/KEY.json`` (masked, written atomically); a later
run with the same key replays it, marked ``cached``. Only passes are stored: a failure or an
error is run again every time (a flaky failure must not be replayed, and an error says more
about the machine than about the inputs).

Hashing a large tree stays fast the way git's index does it: a stat index (size, mtime, inode)
per file, so a file is read and hashed only when its stat changed, or when it changed so
recently that the stat cannot be trusted ("racily clean", see ``_RACY_NS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import glob
import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcheck import __version__
from jobcheck.checklist import Check
from jobcheck.fsutil import atomic_write_text
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker, mask_data

CACHE_DIR = ".jobcheck/cache"
ENTRY_FORMAT = 1
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_BYTES_ENV = "JOBCHECK_CACHE_MAX_MB"
# A file whose mtime is this close to the moment it was hashed may change again within the
# file system's timestamp granularity (2 s on FAT) without its stat changing: hash it again.
_RACY_NS = 2_000_000_000
_SKIPPED_DIRS = ("__pycache__", "node_modules")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Replay:
    """A stored pass, as a run replays it."""

    outcome: Outcome
    attempts: int
    duration_s: float  # how long the original run took
    cached_from: str  # the start time of the run that stored it (its id in the history)


def for_run(
    checks: Sequence[Check], base_dir: Path, env: Mapping[str, str], mask: Masker
) -> ResultCache | None:
    """The run's cache, or None when no check of the run declares ``cache:``."""
    if not any(c.cache is not None for c in checks):
        return None
    return ResultCache(base_dir, env, mask, limit_bytes=max_bytes(env))


def cache_root(base_dir: Path) -> Path:
    return base_dir / CACHE_DIR


def max_bytes(environ: Mapping[str, str]) -> int:
    try:
        return max(0, int(float(environ[MAX_BYTES_ENV]) * 1024 * 1024))
    except (KeyError, ValueError):
        return DEFAULT_MAX_BYTES


class ResultCache:
    """One run's view of the cache; thread-safe (checks compute their keys in parallel)."""

    def __init__(
        self,
        base_dir: Path,
        env: Mapping[str, str],
        mask: Masker,
        *,
        limit_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.base_dir = base_dir
        self.root = cache_root(base_dir)
        self.env = env
        self.mask = mask
        self.limit_bytes = limit_bytes
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.index = StatIndex(self.root / "index.json")
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def begin(self, started_at: dt.datetime) -> None:
        """The run that stores passes from now on, as its report names it (``started_at``)."""
        self.run_id = started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- one check ------------------------------------------------------------------------

    def replay(self, check: Check) -> Replay | None:
        """The stored pass for this check as it is now, or None (a miss: run it)."""
        if check.cache is None:
            return None
        key = self.key(check)
        if key is None:
            return None
        with self._lock:
            self._keys[check.id] = key
        return read_entry(self._entry(key), key)

    def store(self, check: Check, outcome: Outcome, attempts: int, duration_s: float) -> None:
        """Keep a pass under the key computed before it ran; anything else is not kept."""
        with self._lock:
            key = self._keys.pop(check.id, None)
        if key is None or outcome.status != Status.PASS:
            return
        entry = {
            "format": ENTRY_FORMAT,
            "key": key,
            "check": check.id,
            "status": outcome.status.value,
            "message": self.mask(outcome.message),
            "output": self.mask(outcome.output),
            "details": mask_data(outcome.details, self.mask),
            "attempts": attempts,
            "duration_s": round(duration_s, 3),
            "cached_from": self.run_id,
        }
        with contextlib.suppress(OSError, TypeError, ValueError):  # a cache never fails a run
            _ignore_in_git(self.root.parent)
            atomic_write_text(self._entry(key), json.dumps(entry))

    def finish(self) -> None:
        """After the run: save the stat index, then keep the cache under its size bound."""
        with contextlib.suppress(OSError):
            _ignore_in_git(self.root.parent)
            self.index.save()
        evict(self.root / "entries", self.limit_bytes)  # never raises

    # -- the key --------------------------------------------------------------------------

    def key(self, check: Check) -> str | None:
        """sha256 of everything the check's result depends on; None when an input cannot be
        read (the check then runs, uncached)."""
        spec = check.cache
        if spec is None:
            return None
        try:
            inputs = self.inputs_digest(spec.inputs)
            options = check.options.model_dump(mode="json")
        except (OSError, ValueError):  # unreadable input; options JSON cannot hold
            return None
        definition = {
            "format": ENTRY_FORMAT,
            "jobcheck": __version__,
            "id": check.id,
            "kind": check.kind,
            "options": options,
            "timeout_s": check.timeout_s,
            "retries": check.retries,
            "retry_safe": check.retry_safe,
            "inputs": list(spec.inputs),
            "env": env_digest(spec.env, self.env),
            "files": inputs,
        }
        text = json.dumps(definition, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def inputs_digest(self, patterns: Sequence[str]) -> str:
        digest = hashlib.sha256()
        for pattern in patterns:
            digest.update(f"pattern {pattern}\n".encode())
            for path, st in _expanded(self.base_dir, pattern):
                relative = _relative(path, self.base_dir)
                digest.update(f"{relative}\0{self.index.digest(path, st)}\n".encode())
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.root / "entries" / f"{key}.json"


def _ignore_in_git(state: Path) -> None:
    """``.jobcheck/`` keeps itself out of git (as the run history does): a cached run never
    makes the work tree dirty."""
    marker = state / ".gitignore"
    if not marker.exists():
        atomic_write_text(
            marker, "# written by jobcheck: run history and cache stay out of git\n*\n"
        )


def env_digest(names: Sequence[str], env: Mapping[str, str]) -> str:
    """The named values, hashed together: a changed value changes the key; none is stored."""
    digest = hashlib.sha256()
    for name in sorted(set(names)):
        value = env.get(name)
        digest.update(f"{name}\0{'unset' if value is None else 'set'}\0{value or ''}\0".encode())
    return digest.hexdigest()


def expand(base_dir: Path, pattern: str) -> list[str]:
    """The files a glob names, relative to ``base_dir`` (``**`` crosses folders); a folder
    stands for every file under it. Hidden files and folders, ``__pycache__`` left out."""
    return [path for path, _ in _expanded(base_dir, pattern)]


def _expanded(base_dir: Path, pattern: str) -> list[tuple[str, os.stat_result]]:
    """``expand`` with each file's stat: one ``stat`` per file, reused by the index."""
    full = os.path.normpath(os.path.join(base_dir, pattern))
    found = glob.glob(full, recursive=True) if glob.has_magic(pattern) else [full]
    files: dict[str, os.stat_result] = {}
    for path in found:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if os.path.basename(path) not in _SKIPPED_DIRS:
                files.update(_walk(path))
        elif stat.S_ISREG(st.st_mode):
            files[path] = st
    return sorted(files.items())


def _walk(folder: str) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``folder`` (no fifo or socket is ever opened), with their stat."""
    for parent, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(parent, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if stat.S_ISREG(st.st_mode):
                    yield path, st


def _relative(path: str, base_dir: Path) -> str:
    """``os.path.relpath``, computed once per folder (its two ``abspath`` calls per file were a
    third of the warm key's time over 10,000 files)."""
    folder, name = os.path.split(path)
    return os.path.join(_relative_folder(folder, str(base_dir)), name)


@functools.lru_cache(maxsize=4096)
def _relative_folder(folder: str, base_dir: str) -> str:
    return os.path.relpath(folder, base_dir)


class StatIndex:
    """path → (size, mtime_ns, inode, hashed_at_ns, sha256), as git's index keeps it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[str, list[Any]] = _read_index(path)
        self._lock = threading.Lock()
        self.hashed = 0  # files read this run (tests and the benchmark look)

    def digest(self, path: str, st: os.stat_result) -> str:
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        with self._lock:
            row = self._rows.get(path)
        if row is not None and row[:3] == stamp and row[3] - st.st_mtime_ns > _RACY_NS:
            return str(row[4])
        hashed_at = time.time_ns()
        digest = _file_sha256(path)
        with self._lock:
            self._rows[path] = [*stamp, hashed_at, digest]
            self.hashed += 1
        return digest

    def save(self) -> None:
        with self._lock:
            rows = {p: r for p, r in self._rows.items() if os.path.exists(p)}
        atomic_write_text(self.path, json.dumps({"format": ENTRY_FORMAT, "files": rows}))


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_index(path: Path) -> dict[str, list[Any]]:
    """The saved index; anything unreadable is an empty one (every file is hashed again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["files"] if data.get("format") == ENTRY_FORMAT else {}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}
    if not isinstance(rows, dict):
        return {}
    return {p: r for p, r in rows.items() if _good_row(r)}


def _good_row(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 5
        and all(isinstance(n, int) for n in row[:4])
        and isinstance(row[4], str)
    )


def read_entry(path: Path, key: str) -> Replay | None:
    """A stored pass; a missing, unreadable or malformed entry is a miss, never a crash."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] != ENTRY_FORMAT or data["key"] != key or data["status"] != "pass":
            return None
        replay = Replay(
            Outcome(
                Status.PASS,
                _text(data["message"]),
                _text(data.get("output", "")),
                dict(data.get("details") or {}),
            ),
            int(data.get("attempts", 1)),
            float(data.get("duration_s", 0.0)),
            _text(data.get("cached_from", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used: the newest to evict
    return replay


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def evict(folder: Path, limit_bytes: int) -> list[Path]:
    """Delete the least recently used entries until the folder holds at most ``limit_bytes``."""
    entries = []
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            with contextlib.suppress(OSError):
                st = path.stat()
                entries.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries):
        if total <= limit_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
        total -= size
    return removed


def clear(base_dir: Path) -> tuple[int, int]:
    """Remove every entry and the stat index: (files removed, bytes freed)."""
    root = cache_root(base_dir)
    count = freed = 0
    for path in [*(root / "entries").glob("*"), root / "index.json"]:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            count += 1
            freed += size
    for folder in (root / "entries", root):
        with contextlib.suppress(OSError):
            folder.rmdir()
    return count, freed
