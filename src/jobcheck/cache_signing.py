"""The cache's signatures: an entry or the stat index is trusted only when this machine signed it.

A cache is input from outside (CI restores ``.jobcheck/`` from a cache other jobs wrote), so
an entry and the stat index are authenticated: an HMAC-SHA256 (``signed``, ``verified``) with a
key only this machine's jobcheck knows (``cache_key``). An entry without a valid one is a miss:
a hand-written ``"status": "pass"`` is never replayed (docs/cache.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobcheck.fsutil import read_regular

ENTRY_FORMAT = 2  # 2: entries and index carry an HMAC; the index keeps each file's ctime
KEY_ENV = "JOBCHECK_CACHE_KEY"  # a CI secret: entries written by one job verify in the next
KEY_FILE = "jobcheck/cache-key"  # else a per-machine key under the user's state folder


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
