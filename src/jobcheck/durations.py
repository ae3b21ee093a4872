"""Durations: ``250ms``, ``30s``, ``5m``, ``1h`` or a plain number of seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_DURATION = r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$"  # compiled at first use
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
DURATION_HINT = "a duration such as 250ms, 30s, 5m, 1h or a number of seconds"


MAX_SECONDS = 366 * 24 * 3600.0


def parse_duration(value: object) -> float:
    """Seconds from a duration; ValueError with the accepted forms otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int of hundreds of digits
            raise ValueError(
                f"a duration must be at most a year, got {str(value)[:40]}..."
            ) from None
    elif isinstance(value, str) and (match := re.match(_DURATION, value)):
        seconds = float(match["num"]) * _UNITS[match["unit"]]
    else:
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if not seconds <= MAX_SECONDS:  # also NaN and the inf of a number too large for a float
        raise ValueError(f"a duration must be at most a year, got {str(value)[:40]!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s".replace(".0s", "s")
    if seconds < 7200:
        return f"{seconds / 60:.1f}m".replace(".0m", "m")
    return f"{seconds / 3600:.1f}h".replace(".0h", "h")


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)?$"},
            ],
            "description": DURATION_HINT,
        }
    ),
]
