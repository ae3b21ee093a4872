"""A cached check's inputs, hashed: its files (through a stat index) and its named variables.

``inputs_digest`` hashes the files the check's ``cache: inputs`` globs name (``expand``), and
``env_digest`` the values of its ``cache: env`` names (never stored). Hashing a large tree stays
fast the way git's index does it: a stat index (``StatIndex``: size, mtime, inode and ctime: an
edit with its mtime put back, ``touch -r``, still moves the ctime) per file, so a file is read
and hashed only when its stat changed, or when it changed so recently that the stat cannot be
trusted ("racily clean", see ``_RACY_NS``). A symlinked folder or file inside an input folder
counts with its contents when it stays inside the repository; one that leads out of it raises
OutsideRepository (the check is then uncached: its changes could not be seen).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jobcheck.cache_signing import signed, verified
from jobcheck.fsutil import atomic_write_text

MAX_INDEX_BYTES = 64 * 1024 * 1024
# A file whose mtime is this close to the moment it was hashed may change again within the
# file system's timestamp granularity (2 s on FAT) without its stat changing: hash it again.
_RACY_NS = 2_000_000_000
_SKIPPED_DIRS = ("__pycache__", "node_modules")
_CHUNK = 1024 * 1024


def inputs_digest(
    base_dir: Path, patterns: Sequence[str], index: StatIndex, repository: str
) -> str:
    """sha256 of the files the globs name, each by its path relative to ``base_dir`` and its
    contents' digest (from ``index`` while its stat holds); OutsideRepository when a symlink
    leads out of ``repository``, OSError when a file cannot be read."""
    digest = hashlib.sha256()
    for pattern in patterns:
        digest.update(f"pattern {pattern}\n".encode())
        for path, st in _expanded(base_dir, pattern, repository):
            relative = _relative(path, base_dir)
            digest.update(f"{relative}\0{index.digest(path, st)}\n".encode())
    return digest.hexdigest()


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
