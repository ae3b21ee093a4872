"""bench/gate.py: the release gate's critical path, read from a JSON report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from gate import STACK, critical_path, local_cost, span


def check(id_: str, kind: str, attempts: list[tuple[float, float]], needs: list[str] = []) -> Any:  # noqa: B006
    detail = [{"start_s": s, "duration_s": d, "status": "pass"} for s, d in attempts]
    return {"id": id_, "kind": kind, "needs": needs, "attempts_detail": detail}


def test_the_stack_is_one_node_before_the_checks_that_need_it() -> None:
    report = {
        "duration_s": 60.0,
        "stack_up": {"start_s": 0.0, "duration_s": 30.0, "status": "pass"},
        "checks": [
            check("tests", "pytest", [(30.0, 25.0)]),  # ran after the stack, needs none
            check("api-health", "http", [(30.0, 1.0)]),
            check("canary", "job", [(31.0, 4.0)], ["api-health"]),
            check("lint", "lint", [(30.0, 2.0)]),
        ],
    }
    seconds, path = critical_path(report)
    assert (seconds, path) == (35.0, [STACK, "api-health", "canary"])
    assert local_cost(report) == 27.0


def test_retries_count_from_the_first_start_to_the_last_end() -> None:
    assert span(check("flaky", "command", [(1.0, 2.0), (4.0, 1.5)])) == 4.5
    assert span(check("skipped", "command", [])) == 0.0


def test_a_long_needs_chain_does_not_recurse() -> None:
    checks = [check("c0", "command", [(0.0, 0.01)])]
    checks += [check(f"c{i}", "command", [(i * 0.01, 0.01)], [f"c{i - 1}"]) for i in range(1, 5000)]
    seconds, path = critical_path({"checks": checks})
    assert len(path) == 5000 and abs(seconds - 50.0) < 1e-6
