"""How a check ends other than by returning an Outcome: raise one of these.

A kind (or a probe it calls) raises ``CheckFailed`` when the service under test misbehaved and
``CheckError`` when the check could not tell (setup problem, wrong framework, unknown task,
missing package). The runner maps both — and any other exception — to a result, and masks it.
"""

from __future__ import annotations

from typing import Any


class CheckEnded(Exception):
    """Base of the two ways a check ends by exception; carries output and details."""

    def __init__(self, message: str, *, output: str = "", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.output = output
        self.details = dict(details or {})


class CheckFailed(CheckEnded):
    """The check ran and its expectation did not hold: status ``fail``."""


class CheckError(CheckEnded):
    """The check could not run or cannot tell: status ``error``."""
