"""The project's own files as ``init`` reads them: through the one bounded reader.

A repository ``init`` runs in is input from outside: a FIFO named ``pyproject.toml`` would
block, a symlink to ``/dev/zero`` never ends, a huge file costs memory, deep nesting raises
RecursionError, and a key may hold any TOML type. Each such file is no file here (``None`` or
an empty table), never a hang or a traceback; ``init`` drafts from what it could read.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from jobcheck.fsutil import MAX_PROJECT_FILE_BYTES, read_regular_text


def read_text(path: Path) -> str | None:
    """The UTF-8 text of a regular file of at most MAX_PROJECT_FILE_BYTES; else None."""
    try:
        return read_regular_text(path, MAX_PROJECT_FILE_BYTES)
    except (OSError, UnicodeDecodeError):  # no file, a FIFO, a device, too big, not UTF-8
        return None


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's top-level table; unreadable, invalid or nested too deep: empty."""
    text = read_text(path)
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError):  # ValueError: TOMLDecodeError
        return {}


def table(data: object, *keys: str) -> dict[str, Any]:
    """``data[k1][k2]...`` when each step is a table, else empty (``tool = 1``)."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def strings(value: object) -> list[str]:
    """A list of strings from a TOML value that should be one; anything else: empty."""
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []
