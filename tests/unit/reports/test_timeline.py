"""The timeline's numbers: critical path, parallelism, axis ticks, percentages."""

from __future__ import annotations

from golden_runs import fixture_run

from jobcheck.reports.timeline import (
    STACK_UP,
    Step,
    critical_path,
    critical_path_s,
    extent,
    has_timeline,
    parallelism,
    peak,
    percent,
    ticks,
)
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status


def check(
    check_id: str,
    duration: float,
    needs: list[str] | None = None,
    *spans: tuple[float, float],
    kind: str = "command",
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        kind=kind,
        status=Status.PASS,
        message="",
        duration_s=duration,
        needs=needs or [],
        started_s=spans[0][0] if spans else None,
        attempts_detail=[AttemptDetail(s, d, Status.PASS) for s, d in spans],
    )


def test_the_critical_path_is_the_longest_chain_by_duration() -> None:
    checks = [
        check("stack", 3.0),
        check("lint", 5.0),
        check("api", 1.0, ["stack"]),
        check("canary", 2.5, ["api"]),
        check("report", 0.5, ["lint"]),
    ]
    # stack -> api -> canary: 6.5s beats lint -> report: 5.5s
    assert critical_path(checks) == ["stack", "api", "canary"]


def test_the_critical_path_follows_the_longer_need() -> None:
    checks = [check("a", 1.0), check("b", 4.0), check("c", 1.0, ["a", "b"])]
    assert critical_path(checks) == ["b", "c"]


def test_ties_go_to_the_first_check_and_needs_may_come_later_in_the_report() -> None:
    checks = [check("late", 1.0, ["early"]), check("x", 2.0), check("early", 1.0)]
    assert critical_path(checks) == ["early", "late"]


def test_a_need_missing_from_the_report_is_ignored() -> None:
    assert critical_path([check("a", 2.0, ["not-selected"])]) == ["a"]


def test_no_critical_path_when_nothing_took_time() -> None:
    assert critical_path([check("a", 0.0), check("b", 0.0, ["a"])]) == []
    assert critical_path([]) == []


def test_parallelism_counts_attempts_not_backoff() -> None:
    checks = [
        check("a", 4.0, None, (0.0, 1.0), (3.0, 1.0)),  # a retry after a 2s backoff
        check("b", 2.0, None, (0.5, 2.0)),
        check("c", 1.0, None, (2.5, 1.0)),  # starts as b ends
    ]
    steps = parallelism(checks)
    assert steps == [
        Step(0.0, 1),
        Step(0.5, 2),
        Step(1.0, 1),
        Step(2.5, 1),  # b ended and c started at the same instant
        Step(3.0, 2),
        Step(3.5, 1),
        Step(4.0, 0),
    ]
    assert peak(steps) == 2
    assert parallelism([]) == [] and peak([]) == 0


def test_ticks_are_round_and_few() -> None:
    assert ticks(12.3) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    assert ticks(0.9) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert ticks(300.0) == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    assert len(ticks(100000.0)) <= 9


def test_percent_is_short_and_clamped() -> None:
    assert percent(3.0, 12.0) == "25%"
    assert percent(1.0, 3.0) == "33.333%"
    assert percent(5.0, 4.0) == "100%" and percent(-1.0, 4.0) == "0%"


def test_the_fixture_run_has_a_timeline_and_old_reports_do_not() -> None:
    run = fixture_run("timeline.json")
    assert has_timeline(run)
    assert extent(run) == 12.3
    assert critical_path(run.checks) == ["unit-tests", "release-tag"]
    assert critical_path(run.checks, run.stack_up) == [STACK_UP, "graceful-shutdown"]
    assert round(critical_path_s(run), 3) == 9.1
    assert not has_timeline(fixture_run("mixed.json"))


def test_the_stack_bring_up_is_one_node_that_docker_and_stack_checks_depend_on() -> None:
    # `service` is Docker-backed and `http` talks to the stack's ports: both wait for the
    # bring-up; `command` does not, so a long local check can still be the critical path.
    stack = AttemptDetail(0.0, 30.0, Status.PASS)
    checks = [
        check("lint", 20.0),
        check("api-up", 5.0, kind="service"),
        check("health", 2.0, ["api-up"], kind="http"),
    ]
    assert critical_path(checks, stack) == [STACK_UP, "api-up", "health"]
    assert critical_path(checks) == ["lint"]  # no bring-up in this run: as before
    checks[0] = check("lint", 40.0)
    assert critical_path(checks, stack) == ["lint"]


def test_the_critical_path_length_counts_the_bring_up() -> None:
    run = RunResult(
        checklist="x",
        started_at=fixture_run("timeline.json").started_at,
        duration_s=40.0,
        checks=[check("lint", 20.0), check("api-up", 5.0, kind="service")],
        stack_up=AttemptDetail(0.0, 30.0, Status.PASS),
    )
    assert critical_path_s(run) == 35.0


def test_a_kind_this_install_does_not_know_does_not_wait_for_the_stack() -> None:
    stack = AttemptDetail(0.0, 30.0, Status.PASS)
    checks = [check("plugin", 5.0, kind="no-such-kind"), check("lint", 1.0)]
    assert critical_path(checks, stack) == [STACK_UP]
