"""The critical path of a long chain, written backwards, costs what the report holds."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from jobcheck.reports.timeline import critical_path
from jobcheck.results import CheckResult, Status


def chain(count: int) -> list[CheckResult]:
    """c0 <- c1 <- ... each needing the one before, listed last first."""
    checks = [
        CheckResult(
            id=f"c{i}",
            title=f"c{i}",
            kind="command",
            status=Status.PASS,
            message="",
            duration_s=0.1,
            needs=[f"c{i - 1}"] if i else [],
        )
        for i in range(count)
    ]
    return checks[::-1]


def lines_in_timeline(work: Callable[[], object]) -> int:
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename.endswith("jobcheck/reports/timeline.py"):
            count += event == "line"
            return tracer
        return None

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def test_a_backwards_chain_gives_its_whole_critical_path_in_linear_work() -> None:
    assert critical_path(chain(3000)) == [f"c{i}" for i in range(3000)]
    small = lines_in_timeline(lambda: critical_path(chain(200)))
    large = lines_in_timeline(lambda: critical_path(chain(800)))
    assert large / small < 6  # repeated passes over the report: 16
