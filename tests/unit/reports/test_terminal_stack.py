"""The stack's bring-up in the terminal: a line like a check's, its progress, a summary line."""

from __future__ import annotations

import datetime as dt
import io
import re

from rich.console import Console

from jobcheck.kinds.base import StackInfo
from jobcheck.reports.terminal import LiveReporter, PlainReporter, render_plain_report
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status

UP = AttemptDetail(0.0, 41.2, Status.PASS)
DOWN = AttemptDetail(0.0, 3.5, Status.ERROR)
CAUSE = "the staging stack did not come up: shop_worker_1 exited with code 3"


def run_with(span: AttemptDetail) -> RunResult:
    check = CheckResult(id="lint", title="lint", kind="command", status=Status.PASS, message="ok")
    check.duration_s = 1.2
    return RunResult("shop", dt.datetime(2026, 11, 30, tzinfo=dt.UTC), 42.0, [check], stack_up=span)


def test_plain_lines_show_the_progress_and_the_end_of_the_bring_up() -> None:
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    reporter.on_stack_start(StackInfo(compose=[], project="shop"))
    reporter.on_stack_progress("building api")
    reporter.on_stack_done(DOWN, CAUSE)
    assert stream.getvalue() == (
        f"stack: building api\nERROR  {'(stack)':<24} {'3.5s':>7}  {CAUSE}\n"
    )


def test_the_final_report_has_a_line_for_the_stack() -> None:
    text = render_plain_report(run_with(UP), today=dt.date(2026, 11, 30))
    assert (
        "stack: bring-up pass in 41.2s (from 0ms, beside the checks that do not use it)\n" in text
    )
    assert "stack:" not in render_plain_report(
        RunResult("shop", dt.datetime(2026, 11, 30, tzinfo=dt.UTC), 1.0, run_with(UP).checks)
    )


def test_the_live_view_shows_the_bring_up_running_then_its_line() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system=None)
    live = LiveReporter(console)
    live.on_stack_start(StackInfo(compose=[], project="shop"))
    running = io.StringIO()
    Console(file=running, width=120, color_system=None).print(live._render())
    assert re.match(r". \(stack\) +shop 0.\ds\n", running.getvalue())
    live.on_stack_progress("building [red]api[/]")  # as text, never markup
    live.on_stack_done(UP, "the stack is up")
    assert live.stack is None
    text = stream.getvalue()
    assert "  stack: building [red]api[/]\n" in text
    assert "PASS   (stack)  41.2s  the stack is up\n" in text
