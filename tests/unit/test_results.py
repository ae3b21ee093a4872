"""Results as data: the JSON report's check entries round-trip; old reports still load."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from jobcheck.results import REPORT_SCHEMA, AttemptDetail, CheckResult, RunResult, Status

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def sample() -> RunResult:
    check = CheckResult(
        id="api",
        title="API",
        kind="http",
        status=Status.PASS,
        message="ok",
        attempts=2,
        duration_s=1.5,
        needs=["stack"],
        started_s=0.25,
        attempts_detail=[
            AttemptDetail(0.25, 0.5, Status.FAIL),
            AttemptDetail(1.25, 0.5, Status.PASS),
        ],
    )
    return RunResult(
        checklist="c",
        started_at=dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC),
        duration_s=2.0,
        checks=[check],
        stack_up=AttemptDetail(0.0, 0.2, Status.PASS),
    )


def test_schema_two_check_entries_carry_the_timeline() -> None:
    data = sample().to_dict()
    assert data["schema"] == REPORT_SCHEMA == 3
    check = data["checks"][0]
    assert check["needs"] == ["stack"]
    assert check["started_s"] == 0.25
    assert check["attempts_detail"] == [
        {"start_s": 0.25, "duration_s": 0.5, "status": "fail"},
        {"start_s": 1.25, "duration_s": 0.5, "status": "pass"},
    ]
    assert check["cached"] is False and check["cached_from"] == ""
    assert data["stack_up"] == {"start_s": 0.0, "duration_s": 0.2, "status": "pass"}


def test_a_report_round_trips_through_json() -> None:
    data = json.loads(json.dumps(sample().to_dict()))
    again = RunResult.from_dict(data)
    assert again.to_dict() == data
    assert again.checks[0].attempts_detail[1] == AttemptDetail(1.25, 0.5, Status.PASS)


def test_a_schema_one_report_still_loads_with_empty_timeline() -> None:
    data = json.loads((RUNS / "mixed.json").read_text(encoding="utf-8"))
    assert data["schema"] == 1
    run = RunResult.from_dict(data)
    check = run.checks[0]
    assert check.started_s is None and check.attempts_detail == [] and check.needs == []
    assert not check.cached and run.stack_up is None
    # every key of schema 1 is still written, with the same values
    written = run.to_dict()
    for key, value in data.items():
        if key not in ("schema", "checks"):
            assert written[key] == value, key
    for old, new in zip(data["checks"], written["checks"], strict=True):
        assert {k: new[k] for k in old} == old
