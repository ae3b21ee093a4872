"""The terminal view: live progress on a TTY, plain lines elsewhere; failures first."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from jobcheck.checklist import Check
from jobcheck.durations import format_duration
from jobcheck.kinds.base import StackInfo
from jobcheck.process import tail_lines
from jobcheck.reports.text import waiver_notes
from jobcheck.results import AttemptDetail, CheckResult, Outcome, RunResult, Status
from jobcheck.runner import BaseListener

OUTPUT_LINES = 15
LABEL = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.ERROR: "ERROR",
    Status.SKIP: "SKIP",
    Status.WAIVED: "WAIVED",
}
STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIP: "dim",
    Status.WAIVED: "yellow",
}
# The same styles as ANSI SGR codes, for plain lines on a coloured stream (FORCE_COLOR in CI).
_ANSI = {
    "green": "32",
    "bold red": "1;31",
    "bold magenta": "1;35",
    "dim": "2",
    "yellow": "33",
    "bold yellow": "1;33",
}
# A warning that failed or errored does not block the gate: it reads WARN, in yellow.
WARN = "WARN"
WARN_STYLE = "bold yellow"
_FIRST = {Status.FAIL: 0, Status.ERROR: 1, Status.WAIVED: 3, Status.SKIP: 4, Status.PASS: 5}


def is_warning(check: CheckResult) -> bool:
    """A failed or errored check whose severity lets the gate pass anyway."""
    return check.status in (Status.FAIL, Status.ERROR) and check.severity != "blocker"


def status_word(check: CheckResult) -> str:
    return WARN if is_warning(check) else LABEL[check.status]


def status_style(check: CheckResult) -> str:
    return WARN_STYLE if is_warning(check) else STYLE[check.status]


def _rank(check: CheckResult) -> tuple[int, int]:
    return (2 if is_warning(check) else _FIRST[check.status], _FIRST[check.status])


def failures_first(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Blocking failures and errors, then warnings, waivers, skips and passes; file order
    within each."""
    return sorted(checks, key=_rank)


def summary_line(run: RunResult) -> str:
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


def problem_block(check: CheckResult) -> list[str]:
    """The full story of one failed, errored or waived check, as plain lines."""
    lines = [problem_title(check)]
    for name, value in problem_rows(check):
        first, *more = value.splitlines() or [""]
        lines.append(f"  {name + ':':<10}{first}")
        lines += [f"  {'':<10}{line}" for line in more]
    if check.output.strip():
        lines.append(f"  output (last {OUTPUT_LINES} lines):")
        lines += [f"    | {line}" for line in tail_lines(check.output, OUTPUT_LINES).splitlines()]
    return lines


def problem_title(check: CheckResult) -> str:
    if is_warning(check):
        severity = f" [{check.severity}: {check.status}, does not block]"
    else:
        severity = "" if check.severity == "blocker" else f" [{check.severity}]"
    return f"{status_word(check)}  {_named(check)}{severity}"


def problem_rows(check: CheckResult) -> list[tuple[str, str]]:
    """What failed, what was expected, who owns it, how to roll back, whether to retry."""
    rows = [
        ("what", check.message),
        ("expected", check.expect or "-"),
        ("owner", check.owner),
        ("rollback", check.rollback or "-"),
        ("retry", _retry_note(check)),
    ]
    if check.runbook:
        rows.append(("runbook", check.runbook))
    if check.source:
        rows.append(("defined", f"{check.source}:{check.line}"))
    return rows


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _named(check: CheckResult) -> str:
    return check.id if check.title == check.id else f"{check.id} — {check.title}"


def _retry_note(check: CheckResult) -> str:
    tries = f"{check.attempts} attempt{'s' if check.attempts != 1 else ''}"
    safe = (
        "safe to re-run" if check.retry_safe else "not marked retry_safe: check before re-running"
    )
    return f"{tries}; {safe}"


def paint(text: str, style: str) -> str:
    """``text`` in one of the styles above, as ANSI codes (plain lines on a coloured stream)."""
    return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"


def shown_time(check: CheckResult, skipped: str = "-") -> str:
    """A check's time as the terminal shows it: ``cached`` for a replayed pass."""
    if check.cached:
        return "cached"
    return format_duration(check.duration_s) if check.status != Status.SKIP else skipped


def result_line(check: CheckResult, width: int = 24, *, color: bool = False) -> str:
    took = shown_time(check)
    word = status_word(check)
    label = f"{word:<7}"
    if color:
        label = paint(word, status_style(check)) + label[len(word) :]
    return f"{label}{check.id:<{width}} {took:>7}  {_first_line(check.message)}"


def render_plain_report(run: RunResult, *, table: bool = True, today: dt.date | None = None) -> str:
    """Failures first with their details, then every check, waiver warnings, the summary."""
    run = run.ran()
    out: list[str] = []
    problems = [c for c in failures_first(run.checks) if c.status in (Status.FAIL, Status.ERROR)]
    waived = [c for c in run.checks if c.status == Status.WAIVED]
    for check in problems + waived:
        out += [*problem_block(check), ""]
    if table:
        width = max([len(c.id) for c in run.checks] + [8]) + 1
        out += [result_line(c, width) for c in failures_first(run.checks)]
        out.append("")
    if run.stack_up is not None:
        out += [stack_summary(run.stack_up), ""]
    notes = waiver_notes(run.checks, today=today or dt.date.today())
    out += [*notes, *([""] if notes else [])]
    out.append(summary_line(run))
    return "\n".join(out) + "\n"


STACK = "stack"  # how the bring-up is named where checks are listed (never a check's id)


def stack_line(span: AttemptDetail, message: str, width: int = 24, *, color: bool = False) -> str:
    """The bring-up as a check's line: ``PASS   (stack) ... 41.2s  the stack is up``."""
    word = LABEL[span.status]
    label = f"{word:<7}"
    if color:
        label = paint(word, STYLE[span.status]) + label[len(word) :]
    took = format_duration(span.duration_s)
    return f"{label}{'(' + STACK + ')':<{width}} {took:>7}  {_first_line(message)}"


def stack_summary(span: AttemptDetail) -> str:
    """One line under the table: when the bring-up ran, how long, how it ended."""
    return (
        f"stack: bring-up {span.status} in {format_duration(span.duration_s)} "
        f"(from {format_duration(span.start_s)}, beside the checks that do not use it)"
    )


def _quiet(stream: IO[str]) -> None:
    """Point the stream's descriptor at /dev/null, so the interpreter's last flush at exit
    raises no BrokenPipeError either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO)
        pass


class PlainReporter(BaseListener):
    """One line per finished check as it happens; the full report at the end."""

    def __init__(
        self, stream: IO[str] | None = None, quiet: bool = False, *, color: bool = False
    ) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.color = color
        self.width = 24
        self.reader_left = False

    def _write(self, text: str) -> None:
        """Write, until the reader of a pipe leaves (`jobcheck run | head`): then the run goes
        on quietly (its reports and exit code are still what they are), with no traceback."""
        if self.reader_left:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.reader_left = True
            _quiet(self.stream)

    def on_start(self, checks: Sequence[Check]) -> None:
        self.width = max([len(c.id) for c in checks] + [8]) + 1

    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None:
        if not self.quiet:
            self._write(
                f"RETRY  {check.id:<{self.width}} attempt {attempt} ended "
                f"{outcome.status}: {outcome.message}\n"
            )

    def on_check_done(self, result: CheckResult) -> None:
        if not self.quiet:
            self._write(result_line(result, self.width, color=self.color) + "\n")

    def on_check_waited(self, check: Check, why: str) -> None:
        if not self.quiet:
            self._write(f"WAITED {check.id:<{self.width}} waited for {why}\n")

    def on_stack_progress(self, line: str) -> None:
        if not self.quiet:
            self._write(f"stack: {line}\n")

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        if not self.quiet:
            self._write(stack_line(span, message, self.width, color=self.color) + "\n")

    def on_finish(self, run: RunResult) -> None:
        self._write(("\n" if not self.quiet else "") + render_plain_report(run, table=self.quiet))


class LiveReporter(BaseListener):
    """A rich live view: what is running (with elapsed time), what is done, then the report."""

    WAITING_SHOWN = 3

    def __init__(self, console: Any) -> None:
        from rich.live import Live

        self.console = console
        self.running: dict[str, tuple[Check, float]] = {}
        self.waiting: dict[str, Check] = {}
        self.stack: tuple[str, float] | None = None  # the bring-up while it runs
        self.done = 0
        self.total = 0
        self.started = time.monotonic()
        self.live = Live(
            console=console,
            refresh_per_second=8,
            transient=True,
            get_renderable=self._render,
        )

    def _render(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        now = time.monotonic()
        if self.stack is not None:
            project, began = self.stack
            table.add_row(
                Spinner("dots", style="cyan"),
                f"({STACK})",
                f"[dim]{_escape(project)}[/]",
                f"{now - began:.1f}s",
            )
        for check, started in self.running.values():
            table.add_row(
                Spinner("dots", style="cyan"),
                check.id,
                f"[dim]{check.kind}[/]",
                f"{now - started:.1f}s",
            )
        table.add_row(
            "", footer(self.done, self.total, self.running, self.waiting, now - self.started)
        )
        return table

    def on_start(self, checks: Sequence[Check]) -> None:
        self.total = len(checks)
        self.waiting = {c.id: c for c in checks}
        self.started = time.monotonic()
        self.live.start()

    def on_check_start(self, check: Check) -> None:
        self.waiting.pop(check.id, None)
        self.running[check.id] = (check, time.monotonic())

    def on_check_waited(self, check: Check, why: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"  {check.id} waited for {why}", style="dim"), highlight=False)

    def on_check_retry(self, check: Check, attempt: int, outcome: Outcome) -> None:
        self.console.print(
            f"[yellow]RETRY[/]  {check.id}: attempt {attempt} ended {outcome.status}",
            markup=True,
            highlight=False,
        )

    def on_check_done(self, result: CheckResult) -> None:
        self.running.pop(result.id, None)
        self.waiting.pop(result.id, None)
        self.done += 1
        style = status_style(result)
        took = shown_time(result, "")
        self.console.print(
            f"[{style}]{status_word(result):<7}[/]{result.id}  [dim]{took}[/]  "
            f"{_escape(_first_line(result.message))}",
            highlight=False,
        )

    def on_stack_start(self, stack: StackInfo | None) -> None:
        self.stack = (stack.project if stack else "staging stack", time.monotonic())

    def on_stack_progress(self, line: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"  stack: {line}", style="dim"), highlight=False)

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        self.stack = None
        style = STYLE[span.status]
        self.console.print(
            f"[{style}]{LABEL[span.status]:<7}[/]({STACK})  "
            f"[dim]{format_duration(span.duration_s)}[/]  {_escape(_first_line(message))}",
            highlight=False,
        )

    def on_finish(self, run: RunResult) -> None:
        self.live.stop()
        render_rich_report(self.console, run)


def footer(
    done: int,
    total: int,
    running: Sequence[str] | dict[str, Any],
    waiting: Sequence[str] | dict[str, Any],
    elapsed_s: float,
) -> str:
    """``3/8 done · 2 running · 3 waiting: api-health, canary-job, +1 · 12.4s``."""
    parts = [f"[bold]{done}/{total} done[/]"]
    if running:
        parts.append(f"{len(running)} running")
    if waiting:
        # the first few only: this runs at every refresh and every printed line, and a run of
        # 10,000 checks must not copy 10,000 names each time
        shown = ", ".join(itertools.islice(waiting, LiveReporter.WAITING_SHOWN))
        hidden = len(waiting) - LiveReporter.WAITING_SHOWN
        more = f", +{hidden}" if hidden > 0 else ""
        parts.append(f"{len(waiting)} waiting: {_escape(shown)}{more}")
    parts.append(f"[dim]{format_duration(elapsed_s)}[/]")
    return " · ".join(parts)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _problem_grid(check: CheckResult) -> Any:
    """The rows of a problem as a two-column grid: a long value wraps inside its column, so
    every continuation line keeps the indent of its first."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in problem_rows(check):
        grid.add_row(Text(f"{name}:"), Text(value))
    if not check.output.strip():
        return grid
    tail = tail_lines(check.output, OUTPUT_LINES).splitlines()
    output = Table.grid(padding=(0, 1))
    output.add_column(no_wrap=True, style="dim")
    output.add_column(overflow="fold")
    for line in tail:
        output.add_row("|", Text(line))
    return Group(grid, Text(f"output (last {OUTPUT_LINES} lines):"), output)


def render_rich_report(console: Any, run: RunResult) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    run = run.ran()
    problems = [c for c in failures_first(run.checks) if c.status in (Status.FAIL, Status.ERROR)]
    waived = [c for c in run.checks if c.status == Status.WAIVED]
    for check in problems + waived:
        body = _problem_grid(check)
        title = Text(f"{status_word(check)} {_named(check)}")  # a Text: never read as markup
        console.print(
            Panel(body, title=title, title_align="left", border_style=status_style(check))
        )
    table = Table(show_edge=False, header_style="bold")
    for column in ("status", "check", "severity", "owner", "time", "result"):
        table.add_column(column, overflow="fold")
    for check in failures_first(run.checks):
        took = shown_time(check)
        table.add_row(
            Text(status_word(check), style=status_style(check)),
            check.id,
            check.severity,
            check.owner,
            took,
            Text(_first_line(check.message)),
        )
    console.print(table)
    if run.stack_up is not None:
        console.print(Text(stack_summary(run.stack_up), style=STYLE[run.stack_up.status]))
    for note in waiver_notes(run.checks, today=dt.date.today()):
        console.print(Text(note, style="yellow"))
    colour = "green" if run.status == "pass" else "red"
    console.print(Text(summary_line(run), style=f"bold {colour}"))
