"""A hard deadline on a library call that may loop (``bounded``), and durations as the probes'
messages write them (``seconds``). No third-party import: every adapter and helper uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from jobcheck.outcomes import CheckFailed

T = TypeVar("T")


def seconds(value: float) -> str:
    """'1s', '0.5s': durations in messages (durations.format_duration would import pydantic)."""
    return f"{value:g}s"


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def bounded(call: Callable[[], T], limit_s: float, what: str) -> T:
    """``call()``, or ``CheckFailed`` when it has not returned within ``limit_s``.

    Why a thread: celery and kombu retry connections inside their own loops, and not every
    path honours a timeout. The thread is a daemon, so a call that never returns is abandoned
    (its socket times out later) and never holds the process at exit.
    """
    outcome = _Outcome()
    done = threading.Event()

    def target() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            outcome.error = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"jobcheck: {what}", daemon=True).start()
    if not done.wait(limit_s):
        raise CheckFailed(f"{what}: no answer within {seconds(limit_s)}")
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[no-any-return]
