"""Waivers: every waiver of a checklist with its owner, reason, expiry and days left.

A waiver is valid through its ``until`` date (inclusive); the day after, it has expired and the
check it covers fails again. Within ``WARN_DAYS`` days of expiry it is a warning in every report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from jobcheck import exit_codes
from jobcheck.results import WaiverNote
from jobcheck.tables import format_table

WARN_DAYS = 7

OK = "ok"
EXPIRING = "expiring"
EXPIRED = "expired"


class CheckLike(Protocol):
    """What this module needs from a check: the loader's model or a report's CheckResult."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def waiver(self) -> WaiverNote | None: ...


@dataclass(frozen=True)
class WaiverRow:
    check_id: str
    title: str
    owner: str
    reason: str
    until: dt.date
    by: str
    days_left: int
    state: str


def parse_until(value: object) -> dt.date | None:
    """The ``until`` of a waiver as a date: a date, or an ISO string as found in a JSON report."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def days_left(until: dt.date, today: dt.date) -> int:
    return (until - today).days


def state_of(until: dt.date, today: dt.date) -> str:
    left = days_left(until, today)
    if left < 0:
        return EXPIRED
    return EXPIRING if left <= WARN_DAYS else OK


def describe_expiry(until: dt.date, today: dt.date) -> str:
    """``expires in 3 days``, ``expires today``, ``expired 2 days ago``."""
    left = days_left(until, today)
    if left < 0:
        return f"expired {_days(-left)} ago"
    if left == 0:
        return "expires today"
    return f"expires in {_days(left)}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def waiver_rows(checks: Iterable[CheckLike], *, today: dt.date) -> list[WaiverRow]:
    """One row per waived check, in checklist order."""
    rows = []
    for check in checks:
        if check.waiver is None:
            continue
        until = check.waiver.until
        rows.append(
            WaiverRow(
                check_id=check.id,
                title=check.title,
                owner=check.owner,
                reason=check.waiver.reason,
                until=until,
                by=check.waiver.by,
                days_left=days_left(until, today),
                state=state_of(until, today),
            )
        )
    return rows


def exit_code(rows: Iterable[WaiverRow]) -> int:
    """1 when any waiver has expired (its check fails again), else 0."""
    return exit_codes.FAILED if any(row.state == EXPIRED for row in rows) else exit_codes.OK


def render_waivers(rows: list[WaiverRow], *, checklist: str = "") -> str:
    """A plain table of waivers, then one line per waiver that needs attention."""

    if not rows:
        where = f" in {checklist}" if checklist else ""
        return f"no waivers{where}\n"
    header = ["CHECK", "OWNER", "UNTIL", "DAYS LEFT", "STATE", "BY", "REASON"]
    body = [
        [r.check_id, r.owner, r.until.isoformat(), str(r.days_left), r.state, r.by, r.reason]
        for r in rows
    ]
    lines = format_table([header, *body])
    lines.append("")
    lines.extend(_attention(rows))
    lines.append(_summary(rows))
    return "\n".join(lines) + "\n"


def _attention(rows: list[WaiverRow]) -> list[str]:
    lines = []
    for row in rows:
        if row.state == EXPIRED:
            lines.append(
                f"error: waiver for {row.check_id} expired on {row.until.isoformat()}: "
                f"the check fails again; fix it or renew the waiver ({row.owner})"
            )
        elif row.state == EXPIRING:
            left = "today" if row.days_left == 0 else f"in {_days(row.days_left)}"
            lines.append(
                f"warning: waiver for {row.check_id} expires {left} "
                f"({row.until.isoformat()}); ask {row.owner} to fix it or renew the waiver"
            )
    return lines


def _summary(rows: list[WaiverRow]) -> str:
    counts = {state: sum(r.state == state for r in rows) for state in (OK, EXPIRING, EXPIRED)}
    return (
        f"{len(rows)} waiver{'s' if len(rows) != 1 else ''}: "
        f"{counts[OK]} ok, {counts[EXPIRING]} expiring within {WARN_DAYS} days, "
        f"{counts[EXPIRED]} expired"
    )


def waivers_report(
    checks: Iterable[CheckLike], *, today: dt.date, checklist: str = ""
) -> tuple[str, int]:
    """What ``jobcheck waivers`` prints and its exit code (1 when a waiver has expired)."""
    rows = waiver_rows(checks, today=today)
    return render_waivers(rows, checklist=checklist), exit_code(rows)
