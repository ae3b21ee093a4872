"""A plain-text report of a run: failures first, then every check in a table, then the verdict.

Used by ``jobcheck report RUN.json --format text``; no colour, no terminal control, so the text
is the same wherever it is written and tests assert it exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from jobcheck.durations import format_duration
from jobcheck.results import CheckResult, RunResult, Status
from jobcheck.tables import format_table
from jobcheck.waiver_status import EXPIRED, EXPIRING, describe_expiry, state_of

OUTPUT_TAIL = 20
_WORDS = {
    Status.PASS: "passed",
    Status.FAIL: "failed",
    Status.ERROR: "errored",
    Status.WAIVED: "waived",
    Status.SKIP: "skipped",
}
_ORDER = [Status.PASS, Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIP]


def render_text(run: RunResult, *, today: dt.date | None = None, root: Path | None = None) -> str:
    """``root``: checklist paths under it are shown relative to it (the current folder, say)."""
    today = today or dt.date.today()
    parts = []
    failures = problems_first(run.checks)
    if failures:
        parts.append("\n\n".join(["FAILURES", *(_failure(c, root) for c in failures)]))
    notes = waiver_notes(run.checks, today=today)
    if notes:
        parts.append("\n".join(["WAIVERS", *notes]))
    parts.append("\n".join(["CHECKS", "", *format_table(_check_rows(run.checks))]))
    parts.append(verdict_line(run))
    return "\n\n".join(parts) + "\n"


def problems_first(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Failed and errored checks: blockers first, then warnings, each in run order."""
    failed = [c for c in checks if c.status in (Status.FAIL, Status.ERROR)]
    return sorted(failed, key=lambda c: c.severity != "blocker")


def counts_phrase(run: RunResult) -> str:
    """``4 passed, 2 failed, 1 skipped`` in a fixed order; statuses with no check are left out."""
    summary = run.summary
    words = [f"{summary[s.value]} {_WORDS[s]}" for s in _ORDER if summary[s.value]]
    return ", ".join(words) if words else "no checks"


def verdict_line(run: RunResult) -> str:
    word = "INTERRUPTED" if run.interrupted else run.status.upper()
    total = len(run.checks)
    return (
        f"{word} {run.checklist}: {counts_phrase(run)} "
        f"({total} check{'s' if total != 1 else ''}, {format_duration(run.duration_s)})"
    )


def waiver_notes(checks: Sequence[CheckResult], *, today: dt.date) -> list[str]:
    """One line per waiver that expires within the warning window or has expired."""
    notes = []
    for check in checks:
        until = check.waiver.until if check.waiver else None
        if until is None:
            continue
        state = state_of(until, today)
        if state in (EXPIRING, EXPIRED):
            level = "error" if state == EXPIRED else "warning"
            notes.append(
                f"{level}: waiver for {check.id} {describe_expiry(until, today)} "
                f"({until.isoformat()}), owner {check.owner or '-'}"
            )
    return notes


def output_tail(output: str, limit: int = OUTPUT_TAIL) -> tuple[list[str], int]:
    """The last ``limit`` lines of an output and the total number of lines."""
    lines = output.rstrip().splitlines()
    return lines[-limit:], len(lines)


def shown_source(check: CheckResult, root: Path | None) -> str:
    """``file:line`` of the check, relative to ``root`` when the file is inside it."""
    path = check.source
    if root is not None and Path(path).is_absolute():
        with contextlib.suppress(ValueError):
            path = Path(path).relative_to(root).as_posix()
    return f"{path}:{check.line}" if check.line else path


def _failure(check: CheckResult, root: Path | None) -> str:
    word = "WARN" if check.severity != "blocker" else check.status.value.upper()
    lines = [f"[{word}] {check.id}: {check.title}"]
    lines.append("  " + " · ".join(_facts(check)))
    lines.extend(_field("seen", check.message))
    lines.extend(_field("expected", check.expect or "(not stated)"))
    lines.extend(_field("rollback", check.rollback or "(none given)"))
    if check.runbook:
        lines.extend(_field("runbook", check.runbook))
    if check.source:
        lines.extend(_field("where", shown_source(check, root)))
    if check.output.strip():
        tail, total = output_tail(check.output)
        lines.append(f"  output (last {len(tail)} of {total} lines):")
        lines.extend(f"    {line}".rstrip() for line in tail)
    return "\n".join(lines)


def _facts(check: CheckResult) -> list[str]:
    facts = [check.severity, f"owner {check.owner or '-'}"]
    facts.append(f"{check.attempts} attempt{'s' if check.attempts != 1 else ''}")
    facts.append("retry safe" if check.retry_safe else "not retry safe")
    facts.append(format_duration(check.duration_s))
    return facts


def _field(name: str, value: str) -> list[str]:
    label = f"  {name + ':':<10}"
    first, *rest = value.splitlines() or [""]
    return [f"{label}{first}".rstrip(), *(f"{' ' * len(label)}{line}".rstrip() for line in rest)]


def _check_rows(checks: Sequence[CheckResult]) -> list[list[str]]:
    rows = [["STATUS", "ID", "SEVERITY", "OWNER", "TIME", "TITLE"]]
    for check in checks:
        rows.append(
            [
                check.status.value,
                check.id,
                check.severity,
                check.owner or "-",
                "cached" if check.cached else format_duration(check.duration_s),
                check.title,
            ]
        )
    return rows
