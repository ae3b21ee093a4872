"""A user's regular expression, bounded by a time limit and by cancellation: the one matcher
for every pattern a checklist gives (command output, HTTP headers, env values, tag names,
scheduler command lines).

``re`` holds the GIL for the whole of a match, and a pattern such as ``(a|aa)+$`` backtracks
for hours on 60 characters: run in a thread it freezes every thread (other checks time out
falsely), run in the main thread it defers Ctrl-C until it ends. The ``regex`` package
matches with a ``timeout`` (TimeoutError past it) and, with ``concurrent=True``, without
holding the GIL. Its default mode reads a pattern as ``re`` does. The match runs in a
short-lived thread the caller waits on: a cancel or a signal returns at once, and the
abandoned match ends by its own timeout.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# How often a cancellable wait looks at the cancel event.
_POLL_S = 0.05
DEFAULT_TIMEOUT_S = 5.0  # where a caller has no deadline of its own


class RegexFailed(Exception):
    """The match did not finish."""


class RegexTimeout(RegexFailed, TimeoutError):
    """The match ran past its time limit."""

    def __init__(self, pattern: str, timeout_s: float) -> None:
        super().__init__(
            f"the pattern {pattern!r} did not finish within {timeout_s:g}s "
            "(it may backtrack catastrophically, like (a|aa)+$): simplify it"
        )
        self.pattern = pattern
        self.timeout_s = timeout_s


class RegexCancelled(RegexFailed):
    """The run was cancelled while the match ran."""


@dataclass(frozen=True)
class Found:
    """What a match found: like ``re.Match``, without holding the searched text."""

    span: tuple[int, int]
    matched: str
    groups: tuple[str | None, ...] = ()
    names: dict[str, int] = field(default_factory=dict)

    def group(self, key: int | str = 0) -> str | None:
        index = self.names[key] if isinstance(key, str) else key
        return self.matched if index == 0 else self.groups[index - 1]

    @property
    def first(self) -> str:
        """The first group that matched, else the whole match: what to show in a report."""
        return next((g for g in self.groups if g is not None), self.matched)


def check_pattern(pattern: str) -> None:
    """Raise ``re.error`` when ``pattern`` is not one the matcher accepts (for load-time
    validation: the same engine that will match it)."""
    import regex  # lazy: the regex package, only for a user's pattern

    try:
        regex.compile(pattern)
    except (regex.error, OverflowError, ValueError, RecursionError) as exc:
        raise re.error(str(exc), pattern) from None


def search(
    pattern: str,
    text: str,
    *,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    flags: int = 0,
) -> Found | None:
    """``re.search(pattern, text, flags)`` that gives up after ``timeout_s`` (RegexTimeout;
    None: DEFAULT_TIMEOUT_S) or when ``cancel`` is set (RegexCancelled); a bad pattern raises
    ``re.error``."""
    return _bounded("search", pattern, text, timeout_s, cancel, flags)


def fullmatch(
    pattern: str,
    text: str,
    *,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    flags: int = 0,
) -> Found | None:
    """``re.fullmatch`` bounded as ``search`` is."""
    return _bounded("fullmatch", pattern, text, timeout_s, cancel, flags)


def _bounded(
    how: str,
    pattern: str,
    text: str,
    timeout_s: float | None,
    cancel: threading.Event | None,
    flags: int,
) -> Found | None:
    import regex  # lazy: the regex package, only for a user's pattern

    timeout_s = max(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s, 0.001)

    def match() -> Any:
        try:
            method: Callable[..., Any] = getattr(regex, how)
            return method(pattern, text, int(flags), timeout=timeout_s, concurrent=True)
        except TimeoutError:
            raise RegexTimeout(pattern, timeout_s) from None
        except (regex.error, OverflowError, ValueError, RecursionError) as exc:
            raise re.error(str(exc), pattern) from None

    found = _waited(match, cancel, pattern, timeout_s)
    return None if found is None else _found(found)


def _waited(
    match: Callable[[], Any], cancel: threading.Event | None, pattern: str, timeout_s: float
) -> Any:
    """Run ``match`` in a thread of its own and wait for it: the waiting thread stays free to
    see a cancel or, in the main thread, a signal (Ctrl-C, SIGTERM) at once, and holds the
    deadline itself (``regex`` looks at its clock only now and then, and may overrun)."""
    deadline = time.monotonic() + timeout_s
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, match()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="jobcheck-regex", daemon=True)
    worker.start()
    while worker.is_alive():
        if cancel is not None and cancel.is_set():
            raise RegexCancelled(f"cancelled while matching {pattern!r}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise RegexTimeout(pattern, timeout_s)
        worker.join(min(_POLL_S, left))
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _found(match: Any) -> Found:
    groups = tuple(match.groups())
    return Found(
        span=match.span(),
        matched=match.group(0),
        groups=groups,
        names=dict(match.re.groupindex),
    )
