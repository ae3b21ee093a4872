"""The result cache: a check that declares its inputs is not run again while they are unchanged.

A check with ``cache: {inputs: [globs], env: [names]}`` gets a key: jobcheck's version, the
check's own definition (kind, options after interpolation, timeout, retries), the contents of
its input files and the values of the named environment variables (hashed; never stored). A
pass is stored under ``.jobcheck/cache/entries/KEY.json`` (masked, written atomically); a later
run with the same key replays it, marked ``cached``. Only passes are stored: a failure or an
error is run again every time (a flaky failure must not be replayed, and an error says more
about the machine than about the inputs).

Hashing a large tree stays fast the way git's index does it: a stat index (size, mtime, inode
and ctime: an edit with its mtime put back, ``touch -r``, still moves the ctime) per file, so
a file is read and hashed only when its stat changed, or when it changed so recently that the
stat cannot be trusted ("racily clean", see ``_RACY_NS``). A symlinked folder or file inside
an input folder counts with its contents when it stays inside the repository; one that leads
out of it makes the check uncached (its changes could not be seen).

A cache is input from outside (CI restores ``.jobcheck/`` from a cache other jobs wrote), so
an entry and the stat index are authenticated: an HMAC-SHA256 with a key only this machine's
jobcheck knows (``cache_key``). An entry without a valid one is a miss: a hand-written
``"status": "pass"`` is never replayed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import glob
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcheck import __version__
from jobcheck.checklist import Check
from jobcheck.fsutil import atomic_write_text, ignore_in_git, read_regular
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker, mask_data

CACHE_DIR = ".jobcheck/cache"
ENTRY_FORMAT = 2  # 2: entries and index carry an HMAC; the index keeps each file's ctime
KEY_ENV = "JOBCHECK_CACHE_KEY"  # a CI secret: entries written by one job verify in the next
KEY_FILE = "jobcheck/cache-key"  # else a per-machine key under the user's state folder
MAX_ENTRY_BYTES = 8 * 1024 * 1024
MAX_INDEX_BYTES = 64 * 1024 * 1024
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
    return ResultCache(base_dir, env, mask, limit_bytes=max_bytes(env), secret=cache_key(env))


def cache_key(env: Mapping[str, str]) -> bytes | None:
    """The key entries are signed with: ``JOBCHECK_CACHE_KEY`` when set (a CI secret, so a job
    verifies what an earlier job of the same project stored), else a random key created once
    (0600, in a 0700 folder) at ``$XDG_STATE_HOME/jobcheck/cache-key`` (default
    ``~/.local/state``). Never under ``.jobcheck/``: that folder is what CI caches share, and a
    key in it would sign forgeries too. None when no key can be had (then nothing is replayed
    or stored)."""
    given = env.get(KEY_ENV, "")
    if given:
        return hashlib.sha256(b"jobcheck cache key\0" + given.encode()).digest()
    state = env.get("XDG_STATE_HOME") or (
        os.path.join(env["HOME"], ".local", "state") if env.get("HOME") else ""
    )
    if not state or not os.path.isabs(state):
        return None
    path = os.path.join(state, KEY_FILE)
    with contextlib.suppress(OSError, ValueError):
        return _read_key(path)
    with contextlib.suppress(OSError, ValueError):
        return _create_key(path)
    with contextlib.suppress(OSError, ValueError):
        return _read_key(path)  # another run created it meanwhile
    return None


def _read_key(path: str) -> bytes:
    """The key file's bytes, only when it is a regular file of this user, unreadable by others."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise ValueError(f"{path}: not a regular file of this user")
        if info.st_mode & 0o077:
            raise ValueError(f"{path}: readable by others (mode {info.st_mode & 0o777:o})")
        key = bytes.fromhex(os.read(fd, 256).decode("ascii").strip())
    finally:
        os.close(fd)
    if len(key) < 32:
        raise ValueError(f"{path}: too short to be a key")
    return key


def _create_key(path: str) -> bytes:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


def _mac(secret: bytes, data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def signed(secret: bytes, data: Any) -> dict[str, Any]:
    """``data`` with its HMAC: what an entry or the index file holds."""
    return {"format": ENTRY_FORMAT, "data": data, "mac": _mac(secret, data)}


def verified(secret: bytes | None, path: Path, limit: int) -> Any:
    """The data of a signed file; ValueError (or OSError) when it cannot be trusted: no key,
    not a regular file, too large, not JSON, too deep, not a number JSON allows, or a MAC that
    does not match."""
    if secret is None:
        raise ValueError("no cache key")
    try:
        doc = json.loads(read_regular(path, limit).decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"{path}: nested too deep") from None
    if not isinstance(doc, dict) or doc.get("format") != ENTRY_FORMAT:
        raise ValueError(f"{path}: not a cache file of this format")
    mac = doc.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(secret, doc.get("data"))):
        raise ValueError(f"{path}: not signed by this machine's key")
    return doc["data"]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


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
        secret: bytes | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.repository = repository_root(base_dir)
        self.root = cache_root(base_dir)
        self.env = env
        self.mask = mask
        self.limit_bytes = limit_bytes
        self.secret = secret  # None: no key, so nothing is replayed or stored
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.index = StatIndex(self.root / "index.json", secret)
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def begin(self, started_at: dt.datetime) -> None:
        """The run that stores passes from now on, as its report names it (``started_at``)."""
        self.run_id = started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- one check ------------------------------------------------------------------------

    def replay(self, check: Check) -> Replay | None:
        """The stored pass for this check as it is now, or None (a miss: run it)."""
        if check.cache is None or self.secret is None:
            return None
        key = self.key(check)
        if key is None:
            return None
        with self._lock:
            self._keys[check.id] = key
        return read_entry(self._entry(key), key, self.secret)

    def store(self, check: Check, outcome: Outcome, attempts: int, duration_s: float) -> None:
        """Keep a pass under the key computed before it ran; anything else is not kept."""
        with self._lock:
            key = self._keys.pop(check.id, None)
        if key is None or outcome.status != Status.PASS or self.secret is None:
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
            ignore_in_git(self.root.parent)
            atomic_write_text(self._entry(key), json.dumps(signed(self.secret, entry)))

    def finish(self) -> None:
        """After the run: save the stat index, then keep the cache under its size bound."""
        with contextlib.suppress(OSError, ValueError):
            ignore_in_git(self.root.parent)
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
        except (OSError, ValueError):  # unreadable input, a link out of the repository; options
            return None  # JSON cannot hold
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
            for path, st in _expanded(self.base_dir, pattern, self.repository):
                relative = _relative(path, self.base_dir)
                digest.update(f"{relative}\0{self.index.digest(path, st)}\n".encode())
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.root / "entries" / f"{key}.json"


def env_digest(names: Sequence[str], env: Mapping[str, str]) -> str:
    """The named values, hashed together: a changed value changes the key; none is stored."""
    digest = hashlib.sha256()
    for name in sorted(set(names)):
        value = env.get(name)
        digest.update(f"{name}\0{'unset' if value is None else 'set'}\0{value or ''}\0".encode())
    return digest.hexdigest()


def repository_root(base_dir: Path) -> str:
    """The work tree ``base_dir`` is in (the nearest folder up holding ``.git``), else
    ``base_dir``: symlinks among the inputs are followed only while they stay inside it."""
    start = os.path.realpath(base_dir)
    folder = start
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


class OutsideRepository(ValueError):
    """An input reached through a symlink that leads out of the repository."""


def expand(base_dir: Path, pattern: str) -> list[str]:
    """The files a glob names, relative to ``base_dir`` (``**`` crosses folders); a folder
    stands for every file under it, symlinked folders too. Hidden files and folders,
    ``__pycache__`` left out. OutsideRepository when a symlink leads out of the repository."""
    return [path for path, _ in _expanded(base_dir, pattern, repository_root(base_dir))]


def _expanded(base_dir: Path, pattern: str, root: str) -> list[tuple[str, os.stat_result]]:
    """``expand`` with each file's stat: one ``stat`` per file, reused by the index."""
    full = os.path.normpath(os.path.join(base_dir, pattern))
    found = glob.glob(full, recursive=True) if glob.has_magic(pattern) else [full]
    files: dict[str, os.stat_result] = {}
    real_folders: dict[str, str] = {}
    for path in found:
        try:
            st = os.stat(path)
        except OSError:
            continue
        _check_links(path, root, real_folders)
        if stat.S_ISDIR(st.st_mode):
            if os.path.basename(path) not in _SKIPPED_DIRS:
                files.update(_walk(path, root))
        elif stat.S_ISREG(st.st_mode):
            files[path] = st
    return sorted(files.items())


def _check_links(path: str, root: str, real_folders: dict[str, str]) -> None:
    """A path the glob reached through a symlink must stay inside the repository (the glob
    follows symlinked folders; the folder's real path is resolved once per folder)."""
    folder, name = os.path.split(os.path.abspath(path))
    if folder not in real_folders:
        real_folders[folder] = os.path.realpath(folder)
    real = os.path.join(real_folders[folder], name)
    if os.path.islink(real):
        real = os.path.realpath(real)
    if real != os.path.join(folder, name):
        _inside(real, root, path)


def _inside(real: str, root: str, shown: str) -> None:
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise OutsideRepository(f"{shown} leads out of the repository ({real})")


def _walk(folder: str, root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``folder`` (no fifo or socket is ever opened), with their stat.
    Symlinked folders and files are followed while they stay inside ``root``, a folder that a
    link leads to only once (a link back up is no loop); one leading out raises
    OutsideRepository."""
    seen = {os.path.realpath(folder)}
    todo = [folder]
    while todo:
        try:
            with os.scandir(todo.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                real = os.path.realpath(entry.path) if entry.is_symlink() else ""
                if real:
                    _inside(real, root, entry.path)
                if entry.is_dir():
                    if entry.name in _SKIPPED_DIRS or real in seen:
                        continue
                    if real:
                        seen.add(real)
                    todo.append(entry.path)
                    continue
                st = os.stat(entry.path)
                if stat.S_ISREG(st.st_mode):
                    yield entry.path, st


def _relative(path: str, base_dir: Path) -> str:
    """``os.path.relpath``, computed once per folder (its two ``abspath`` calls per file were a
    third of the warm key's time over 10,000 files)."""
    folder, name = os.path.split(path)
    return os.path.join(_relative_folder(folder, str(base_dir)), name)


@functools.lru_cache(maxsize=4096)
def _relative_folder(folder: str, base_dir: str) -> str:
    return os.path.relpath(folder, base_dir)


class StatIndex:
    """path → (size, mtime_ns, inode, ctime_ns, hashed_at_ns, sha256), as git's index keeps it.
    Signed with the cache's key: an index the key does not verify is an empty one."""

    def __init__(self, path: Path, secret: bytes | None = None) -> None:
        self.path = path
        self.secret = secret
        self._rows: dict[str, list[Any]] = _read_index(path, secret)
        self._lock = threading.Lock()
        self.hashed = 0  # files read this run (tests and the benchmark look)

    def digest(self, path: str, st: os.stat_result) -> str:
        # ctime: an edit whose mtime was put back (`touch -r`) still moves it
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        with self._lock:
            row = self._rows.get(path)
        if row is not None and row[:4] == stamp and row[4] - st.st_mtime_ns > _RACY_NS:
            return str(row[5])
        hashed_at = time.time_ns()
        digest = _file_sha256(path)
        with self._lock:
            self._rows[path] = [*stamp, hashed_at, digest]
            self.hashed += 1
        return digest

    def save(self) -> None:
        if self.secret is None:
            return
        with self._lock:
            rows = {p: r for p, r in self._rows.items() if os.path.exists(p)}
        atomic_write_text(self.path, json.dumps(signed(self.secret, rows)))


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_index(path: Path, secret: bytes | None) -> dict[str, list[Any]]:
    """The saved index; anything unreadable or unsigned is an empty one (every file is hashed
    again)."""
    try:
        rows = verified(secret, path, MAX_INDEX_BYTES)
    except (OSError, ValueError):
        return {}
    if not isinstance(rows, dict):
        return {}
    return {p: r for p, r in rows.items() if _good_row(r)}


def _good_row(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 6
        and all(type(n) is int for n in row[:5])
        and isinstance(row[5], str)
    )


def read_entry(path: Path, key: str, secret: bytes | None) -> Replay | None:
    """A stored pass; a missing, unreadable, malformed or unsigned entry is a miss, never a
    crash (a FIFO, a link to /dev/zero, deep JSON: all misses)."""
    try:
        data = verified(secret, path, MAX_ENTRY_BYTES)
        if data["key"] != key or data["status"] != "pass":
            return None
        duration = float(data.get("duration_s", 0.0))
        if not math.isfinite(duration) or duration < 0:
            return None
        replay = Replay(
            Outcome(
                Status.PASS,
                _text(data["message"]),
                _text(data.get("output", "")),
                dict(data.get("details") or {}),
            ),
            max(1, int(data.get("attempts", 1))),
            duration,
            _text(data.get("cached_from", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used: the newest to evict
    return replay


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    value.encode("utf-8")  # a lone surrogate (`"\\ud800"`) could not be written out again
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
