"""The end of a run as text: one model of what to show in which order, and its plain form.

``end_of_run`` decides: every failed, errored or waived check told in full (blocking failures
first, then warnings, then waivers), a table of every check that ran (failures first), the
stack's bring-up, waivers about to expire, and the verdict. ``render_text`` writes it as plain
lines: ``jobcheck report RUN.json --format text``, ``report merge``, ``release --from-reports``
and the end of ``jobcheck run`` without a live view; ``terminal.render_rich_report`` draws the
same model with colours and panels. No colour, no terminal control, so tests assert it exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jobcheck.durations import format_duration
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status
from jobcheck.tables import format_table
from jobcheck.waiver_status import EXPIRED, EXPIRING, describe_expiry, state_of

if TYPE_CHECKING:
    from jobcheck.reports.formats import View

OUTPUT_TAIL = 20
LABEL = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.ERROR: "ERROR",
    Status.SKIP: "SKIP",
    Status.WAIVED: "WAIVED",
}
# A warning that failed or errored does not block the gate: it reads WARN.
WARN = "WARN"
_FIRST = {Status.FAIL: 0, Status.ERROR: 1, Status.WAIVED: 3, Status.SKIP: 4, Status.PASS: 5}
STATUS_WORDS = {  # the statuses as counted in prose: `2 failed`
    Status.PASS: "passed",
    Status.FAIL: "failed",
    Status.ERROR: "errored",
    Status.WAIVED: "waived",
    Status.SKIP: "skipped",
}
_ORDER = [Status.PASS, Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIP]
TABLE_HEADER = ("status", "check", "severity", "owner", "time", "result")


@dataclass(frozen=True)
class EndOfRun:
    """What the end of a run shows, in this order; the renderers only style it."""

    problems: list[CheckResult]  # told in full: blocking failures, warnings, then waivers
    table: list[CheckResult]  # every check that ran, failures first
    stack_up: AttemptDetail | None  # the stack's bring-up, when the run brought it up
    notes: list[str]  # waivers that expire soon or have expired
    summary: str  # the verdict line


def end_of_run(run: RunResult, *, today: dt.date) -> EndOfRun:
    """The model of ``run``'s end, without the checks it deselected (what a person saw run)."""
    run = run.ran()
    waived = [c for c in run.checks if c.status == Status.WAIVED]
    return EndOfRun(
        problems=problems_first(run.checks) + waived,
        table=failures_first(run.checks),
        stack_up=run.stack_up,
        notes=waiver_notes(run.checks, today=today),
        summary=summary_line(run),
    )


def render_text(run: RunResult, *, today: dt.date | None = None, root: Path | None = None) -> str:
    """``root``: checklist paths under it are shown relative to it (the current folder, say)."""
    model = end_of_run(run, today=today or dt.date.today())
    out: list[str] = []
    for check in model.problems:
        out += [*problem_block(check, root), ""]
    if model.table:
        out += [*format_table([list(row) for row in table_rows(model.table)]), ""]
    if model.stack_up is not None:
        out += [stack_summary(model.stack_up), ""]
    out += [*model.notes, *([""] if model.notes else [])]
    out.append(model.summary)
    return "\n".join(out) + "\n"


def report(run: RunResult, view: View) -> str:
    """The ``text`` report format (``reports.formats``)."""
    return render_text(run, today=view.today, root=view.root)


def is_warning(check: CheckResult) -> bool:
    """A failed or errored check whose severity lets the gate pass anyway."""
    return check.status in (Status.FAIL, Status.ERROR) and check.severity != "blocker"


def status_word(check: CheckResult) -> str:
    return WARN if is_warning(check) else LABEL[check.status]


def _rank(check: CheckResult) -> tuple[int, int]:
    return (2 if is_warning(check) else _FIRST[check.status], _FIRST[check.status])


def failures_first(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Blocking failures and errors, then warnings, waivers, skips and passes; file order
    within each."""
    return sorted(checks, key=_rank)


def problems_first(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Failed and errored checks in the order of ``failures_first``: blocking failures, blocking
    errors, then warnings."""
    return [c for c in failures_first(checks) if c.status in (Status.FAIL, Status.ERROR)]


def counts_phrase(run: RunResult) -> str:
    """``4 passed, 2 failed, 1 skipped`` in a fixed order; statuses with no check are left out."""
    summary = run.summary
    words = [f"{summary[s.value]} {STATUS_WORDS[s]}" for s in _ORDER if summary[s.value]]
    return ", ".join(words) if words else "no checks"


def summary_line(run: RunResult) -> str:
    """``FAILED: billing: 4 pass, 2 fail, 2 blocking, 1 warning in 12.3s``."""
    run = run.ran()
    counts = run.summary
    parts = [f"{counts[s.value]} {s.value}" for s in LABEL if counts[s.value]]
    verdict = "INTERRUPTED" if run.interrupted else ("PASSED" if run.status == "pass" else "FAILED")
    blockers = sum(1 for c in run.checks if c.blocks)
    warnings = sum(1 for c in run.checks if is_warning(c))
    tail = f", {blockers} blocking" if blockers else ""
    tail += f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    cached = sum(1 for c in run.checks if c.cached)
    tail += f" ({cached} cached)" if cached else ""
    return (
        f"{verdict}: {run.checklist}: {', '.join(parts) or 'no checks'}{tail} "
        f"in {format_duration(run.duration_s)}"
    )


def problem_block(check: CheckResult, root: Path | None = None) -> list[str]:
    """The full story of one failed, errored or waived check, as plain lines."""
    lines = [problem_title(check)]
    for name, value in problem_rows(check, root):
        first, *more = value.splitlines() or [""]
        lines.append(f"  {name + ':':<10}{first}".rstrip())
        lines += [f"  {'':<10}{line}".rstrip() for line in more]
    tail, total = output_tail(check.output)
    if tail:
        lines.append(f"  {output_heading(tail, total)}:")
        lines += [f"    | {line}".rstrip() for line in tail]
    return lines


def problem_title(check: CheckResult) -> str:
    if is_warning(check):
        severity = f" [{check.severity}: {check.status}, does not block]"
    else:
        severity = "" if check.severity == "blocker" else f" [{check.severity}]"
    return f"{status_word(check)}  {named(check)}{severity}"


def problem_rows(check: CheckResult, root: Path | None = None) -> list[tuple[str, str]]:
    """What failed, what was expected, who owns it, how to roll back, whether to retry."""
    rows = [
        ("what", check.message),
        ("expected", check.expect or "-"),
        ("owner", check.owner or "-"),
        ("rollback", check.rollback or "-"),
        ("retry", _retry_note(check)),
    ]
    if check.runbook:
        rows.append(("runbook", check.runbook))
    if check.source:
        rows.append(("defined", shown_source(check, root)))
    return rows


def output_heading(tail: Sequence[str], total: int) -> str:
    return f"output (last {len(tail)} of {total} lines)"


def table_rows(checks: Sequence[CheckResult]) -> list[tuple[str, ...]]:
    """The table of checks: a header, then one row per check (the result's first line)."""
    rows = [tuple(name.upper() for name in TABLE_HEADER)]
    for check in checks:
        row = (status_word(check), check.id, check.severity, check.owner or "-")
        rows.append((*row, shown_time(check), first_line(check.message)))
    return rows


def shown_time(check: CheckResult, skipped: str = "-") -> str:
    """A check's time as the reports show it: ``cached`` for a replayed pass."""
    if check.cached:
        return "cached"
    return format_duration(check.duration_s) if check.status != Status.SKIP else skipped


def stack_summary(span: AttemptDetail) -> str:
    """One line under the table: when the bring-up ran, how long, how it ended."""
    return (
        f"stack: bring-up {span.status} in {format_duration(span.duration_s)} "
        f"(from {format_duration(span.start_s)}, beside the checks that do not use it)"
    )


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def named(check: CheckResult) -> str:
    return check.id if check.title == check.id else f"{check.id} — {check.title}"


def _retry_note(check: CheckResult) -> str:
    tries = f"{check.attempts} attempt{'s' if check.attempts != 1 else ''}"
    safe = (
        "safe to re-run" if check.retry_safe else "not marked retry_safe: check before re-running"
    )
    return f"{tries}; {safe}"


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
