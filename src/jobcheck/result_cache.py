"""The result cache: a check that declares its inputs is not run again while they are unchanged.

A check with ``cache: {inputs: [globs], env: [names]}`` gets a key: jobcheck's version, the
check's own definition (kind, options after interpolation, timeout, retries), the contents of
its input files and the values of the named environment variables (hashed; never stored:
``cache_inputs.py``, with its stat index). A pass is stored under
``.jobcheck/cache/entries/KEY.json`` (masked, signed by ``cache_signing.py``, written
atomically); a later run with the same key replays it, marked ``cached``. Only passes are
stored: a failure or an error is run again every time (a flaky failure must not be replayed,
and an error says more about the machine than about the inputs). An entry this machine did not
sign is a miss. This module owns the entries: the key, storing, replaying, eviction, clearing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcheck import __version__
from jobcheck.cache_inputs import StatIndex, env_digest, inputs_digest, repository_root
from jobcheck.cache_signing import ENTRY_FORMAT, cache_key, signed, verified
from jobcheck.checklist import Check
from jobcheck.fsutil import atomic_write_text, ignore_in_git
from jobcheck.results import Outcome, Status
from jobcheck.secrets import Masker, mask_data

CACHE_DIR = ".jobcheck/cache"
MAX_ENTRY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_BYTES_ENV = "JOBCHECK_CACHE_MAX_MB"


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
        return inputs_digest(self.base_dir, patterns, self.index, self.repository)

    def _entry(self, key: str) -> Path:
        return self.root / "entries" / f"{key}.json"


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
