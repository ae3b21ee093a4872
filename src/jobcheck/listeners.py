"""The runner's events, and the listeners (the reporters) that hear them.

The runner emits every event from the calling thread, so a listener needs no locks; a listener
that raises is logged and left out of that event, never the end of the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobcheck.checklist import Check
from jobcheck.kinds.base import StackInfo
from jobcheck.results import AttemptDetail, CheckResult, Outcome, RunResult


class Listener(Protocol):
    def on_start(self, checks: Sequence[Check]) -> None: ...
    def on_check_start(self, check: Check) -> None: ...
    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None: ...
    def on_check_done(self, result: CheckResult) -> None: ...
    def on_finish(self, run: RunResult) -> None: ...


class BaseListener:
    """A listener that ignores everything; subclass and override what you need.

    The staging stack's bring-up, a node of the plan but not a check of the checklist, has
    its own optional events: ``on_stack_start(stack)``, ``on_stack_progress(line)`` and
    ``on_stack_done(span, message)``; a listener without them simply does not see it. So is
    ``on_check_waited(check, why)``: right before ``on_check_start`` of a check that order
    alone held back (``after``, or a service a disruptive check shares with it)."""

    def on_start(self, checks: Sequence[Check]) -> None:
        pass

    def on_check_start(self, check: Check) -> None:
        pass

    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None:
        pass

    def on_check_done(self, result: CheckResult) -> None:
        pass

    def on_finish(self, run: RunResult) -> None:
        pass

    def on_stack_start(self, stack: StackInfo | None) -> None:
        pass

    def on_stack_progress(self, line: str) -> None:
        pass

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        pass
