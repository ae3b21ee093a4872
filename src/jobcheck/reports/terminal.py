"""The terminal view: live progress on a TTY, plain lines elsewhere; failures first."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from jobcheck.checklist import Check
from jobcheck.durations import format_duration
from jobcheck.kinds.base import StackInfo
from jobcheck.listeners import BaseListener
from jobcheck.reports.formats import BY_NAME, View
from jobcheck.reports.text import (
    LABEL,
    end_of_run,
    first_line,
    is_warning,
    output_heading,
    output_tail,
    problem_rows,
    problem_title,
    shown_time,
    stack_summary,
    status_word,
    table_rows,
)
from jobcheck.results import AttemptDetail, CheckResult, Outcome, RunResult, Status

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
WARN_STYLE = "bold yellow"


def status_style(check: CheckResult) -> str:
    return WARN_STYLE if is_warning(check) else STYLE[check.status]


def paint(text: str, style: str) -> str:
    """``text`` in one of the styles above, as ANSI codes (plain lines on a coloured stream)."""
    return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"


def result_line(check: CheckResult, width: int = 24, *, color: bool = False) -> str:
    took = shown_time(check)
    word = status_word(check)
    label = f"{word:<7}"
    if color:
        label = paint(word, status_style(check)) + label[len(word) :]
    return f"{label}{check.id:<{width}} {took:>7}  {first_line(check.message)}"


def render_plain_report(run: RunResult, *, today: dt.date | None = None) -> str:
    """The end of a run as plain lines: the text format (the one model, ``text.end_of_run``)."""
    return BY_NAME["text"].render(run, View(today=today or dt.date.today()))


STACK = "stack"  # how the bring-up is named where checks are listed (never a check's id)


def stack_line(span: AttemptDetail, message: str, width: int = 24, *, color: bool = False) -> str:
    """The bring-up as a check's line: ``PASS   (stack) ... 41.2s  the stack is up``."""
    word = LABEL[span.status]
    label = f"{word:<7}"
    if color:
        label = paint(word, STYLE[span.status]) + label[len(word) :]
    took = format_duration(span.duration_s)
    return f"{label}{'(' + STACK + ')':<{width}} {took:>7}  {first_line(message)}"


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
        self._write(("\n" if not self.quiet else "") + render_plain_report(run))


class LiveReporter(BaseListener):
    """A rich live view: what is running (with elapsed time), what is done, then the report."""

    WAITING_SHOWN = 3

    def __init__(self, console: Any) -> None:
        from rich.live import Live  # lazy: rich, only on a terminal

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
        from rich.spinner import Spinner  # lazy: rich, only on a terminal
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
        from rich.text import Text  # lazy: rich, only on a terminal

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
            f"{_escape(first_line(result.message))}",
            highlight=False,
        )

    def on_stack_start(self, stack: StackInfo | None) -> None:
        self.stack = (stack.project if stack else "staging stack", time.monotonic())

    def on_stack_progress(self, line: str) -> None:
        from rich.text import Text  # lazy: rich, only on a terminal

        self.console.print(Text(f"  stack: {line}", style="dim"), highlight=False)

    def on_stack_done(self, span: AttemptDetail, message: str) -> None:
        self.stack = None
        style = STYLE[span.status]
        self.console.print(
            f"[{style}]{LABEL[span.status]:<7}[/]({STACK})  "
            f"[dim]{format_duration(span.duration_s)}[/]  {_escape(first_line(message))}",
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
    from rich.markup import escape  # lazy: rich, only on a terminal

    return escape(text)


def _problem_grid(check: CheckResult, root: Path) -> Any:
    """The rows of a problem as a two-column grid: a long value wraps inside its column, so
    every continuation line keeps the indent of its first."""
    from rich.console import Group  # lazy: rich, only on a terminal
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in problem_rows(check, root):
        grid.add_row(Text(f"{name}:"), Text(value))
    tail, total = output_tail(check.output)
    if not tail:
        return grid
    output = Table.grid(padding=(0, 1))
    output.add_column(no_wrap=True, style="dim")
    output.add_column(overflow="fold")
    for line in tail:
        output.add_row("|", Text(line))
    return Group(grid, Text(f"{output_heading(tail, total)}:"), output)


def render_rich_report(console: Any, run: RunResult, *, today: dt.date | None = None) -> None:
    """The one text model (``text.end_of_run``) with colours: a panel per problem, a table."""
    from rich.panel import Panel  # lazy: rich, only on a terminal
    from rich.table import Table
    from rich.text import Text

    model = end_of_run(run, today=today or dt.date.today())
    root = Path.cwd()
    for check in model.problems:
        title = Text(problem_title(check))  # a Text: never read as markup
        console.print(
            Panel(
                _problem_grid(check, root),
                title=title,
                title_align="left",
                border_style=status_style(check),
            )
        )
    header, *rows = table_rows(model.table)
    table = Table(show_edge=False, header_style="bold")
    for column in header:
        table.add_column(column.lower(), overflow="fold")
    for check, (word, *cells) in zip(model.table, rows, strict=True):
        table.add_row(Text(word, style=status_style(check)), *(Text(c) for c in cells))
    if model.table:
        console.print(table)
    if model.stack_up is not None:
        console.print(Text(stack_summary(model.stack_up), style=STYLE[model.stack_up.status]))
    for note in model.notes:
        console.print(Text(note, style="yellow"))
    colour = "green" if run.status == "pass" else "red"
    console.print(Text(model.summary, style=f"bold {colour}"))
