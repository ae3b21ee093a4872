from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from jobcheck import waiver_status as waivers
from jobcheck.commands.waivers import waivers_text
from jobcheck.loading import load_checklist
from jobcheck.results import CheckResult, Status

TODAY = dt.date(2026, 11, 27)

CHECKLIST = """\
version: 1
name: demo
defaults: {owner: "@team"}
checks:
  - id: flaky-canary
    kind: command
    with: {run: "true"}
    waiver: {reason: "known flake, JOB-42", until: 2026-12-31, by: "@captain"}
  - id: env-parity
    kind: command
    with: {run: "true"}
    owner: "@dave"
    waiver: {reason: "staging has no Sentry yet", until: 2026-12-01, by: "@captain"}
  - id: old-waiver
    kind: command
    with: {run: "false"}
    owner: "@bob"
    waiver: {reason: "migration in progress", until: 2026-11-20, by: "@lead"}
  - id: no-waiver
    kind: command
    with: {run: "true"}
"""


@pytest.fixture
def checks(tmp_path: Path) -> list[object]:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(CHECKLIST, encoding="utf-8")
    return list(load_checklist(path, {}).checks)


def test_rows_from_a_loaded_checklist(checks: list[object]) -> None:
    rows = waivers.waiver_rows(checks, today=TODAY)  # type: ignore[arg-type]
    assert [(r.check_id, r.owner, r.days_left, r.state) for r in rows] == [
        ("flaky-canary", "@team", 34, "ok"),
        ("env-parity", "@dave", 4, "expiring"),
        ("old-waiver", "@bob", -7, "expired"),
    ]


def test_report_text_and_exit_code(checks: list[object]) -> None:
    text, code = waivers.waivers_report(checks, today=TODAY)  # type: ignore[arg-type]
    assert code == 1
    assert text == textwrap.dedent(
        """\
        CHECK         OWNER  UNTIL       DAYS LEFT  STATE     BY        REASON
        flaky-canary  @team  2026-12-31  34         ok        @captain  known flake, JOB-42
        env-parity    @dave  2026-12-01  4          expiring  @captain  staging has no Sentry yet
        old-waiver    @bob   2026-11-20  -7         expired   @lead     migration in progress

        warning: waiver for env-parity expires in 4 days (2026-12-01); ask @dave to fix it or renew the waiver
        error: waiver for old-waiver expired on 2026-11-20: the check fails again; fix it or renew the waiver (@bob)
        3 waivers: 1 ok, 1 expiring within 7 days, 1 expired
        """  # noqa: E501
    )


def test_no_expired_waiver_exits_zero(checks: list[object]) -> None:
    _, code = waivers.waivers_report(checks, today=dt.date(2026, 11, 19))  # type: ignore[arg-type]
    assert code == 0


def test_no_waivers() -> None:
    assert waivers.waivers_report([], today=TODAY, checklist="demo") == ("no waivers in demo\n", 0)


@pytest.mark.parametrize(
    ("until", "state", "words"),
    [
        (dt.date(2026, 12, 5), "ok", "expires in 8 days"),
        (dt.date(2026, 12, 4), "expiring", "expires in 7 days"),
        (dt.date(2026, 11, 28), "expiring", "expires in 1 day"),
        (TODAY, "expiring", "expires today"),
        (dt.date(2026, 11, 26), "expired", "expired 1 day ago"),
    ],
)
def test_the_until_date_is_the_last_valid_day(until: dt.date, state: str, words: str) -> None:
    assert waivers.state_of(until, TODAY) == state
    assert waivers.describe_expiry(until, TODAY) == words


def test_rows_from_report_results_with_dict_waivers() -> None:
    result = CheckResult(
        id="x", title="X", kind="command", status=Status.WAIVED, severity="blocker",
        owner="@o", expect="", rollback="", message="",
        waiver={"reason": "r", "until": "2026-12-01", "by": "@c"},
    )  # fmt: skip
    (row,) = waivers.waiver_rows([result], today=TODAY)
    assert (row.until, row.reason, row.by, row.state) == (
        dt.date(2026, 12, 1),
        "r",
        "@c",
        "expiring",
    )


def test_parse_until_accepts_dates_and_iso_strings() -> None:
    assert waivers.parse_until("2026-12-01") == dt.date(2026, 12, 1)
    assert waivers.parse_until(dt.datetime(2026, 12, 1, 5, 0)) == dt.date(2026, 12, 1)
    assert waivers.parse_until("soon") is None
    assert waivers.parse_until(None) is None


def test_waivers_command_loads_the_checklist(tmp_path: Path) -> None:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(CHECKLIST, encoding="utf-8")
    text, code = waivers_text(path, environ={}, today=TODAY)
    assert code == 1
    assert text.splitlines()[1].startswith("flaky-canary  @team  2026-12-31  34")


def test_waivers_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    path = tmp_path / "jobcheck.yaml"
    path.write_text(CHECKLIST, encoding="utf-8")
    result = CliRunner().invoke(app, ["waivers", str(path)])
    assert result.exit_code == 1  # old-waiver expired on 2026-11-20
    assert "error: waiver for old-waiver expired on 2026-11-20" in result.output
