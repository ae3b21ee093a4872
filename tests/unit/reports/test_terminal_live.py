"""The live view on a (forced) terminal: progress while running, then failures and a table."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from jobcheck.loading import load_checklist
from jobcheck.plan import select
from jobcheck.reports.terminal import LiveReporter, PlainReporter, footer
from jobcheck.run_settings import RunSettings
from jobcheck.runner import Runner
from jobcheck.secrets import Masker


def test_live_view_ends_with_failures_first_and_a_table(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: live
        defaults: {owner: "@team", expect: works, rollback: revert it}
        checks:
          - {id: good, kind: command, with: {run: "sleep 0.3"}}
          - {id: bad, kind: command, title: The bad one, with: {run: "false"}}
    """)
    checklist = load_checklist(path, dict(os.environ))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system=None)
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=2)
    run = Runner(select(checklist.checks), settings, [LiveReporter(console)]).run(checklist.name)
    text = stream.getvalue()
    assert run.exit_code == 1
    assert "bad — The bad one" in text
    assert text.index("rollback: revert it") < text.index("FAILED: live")
    assert "status" in text and "owner" in text  # the final table's header


WARNING_CHECKLIST = """
    version: 1
    name: warned
    defaults: {owner: "@team", expect: works, rollback: revert it}
    checks:
      - {id: good, kind: command, with: {run: "true"}}
      - {id: soft, kind: command, severity: warning, with: {run: "false"}}
"""


def test_a_failed_warning_is_a_yellow_warn_live_and_in_the_table(
    write_checklist: Callable[..., Path],
) -> None:
    checklist = load_checklist(write_checklist(WARNING_CHECKLIST), dict(os.environ))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system="standard")
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=2)
    run = Runner(select(checklist.checks), settings, [LiveReporter(console)]).run(checklist.name)
    text = stream.getvalue()
    assert run.exit_code == 0
    assert "\x1b[1;33mWARN   \x1b[0msoft" in text  # the line as it finishes
    assert " \x1b[1;33mWARN  \x1b[0m │ soft" in text  # the table's status cell
    assert "FAIL" not in text
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", text)
    assert re.search(r"status\s+┃\s+check\s+┃\s+severity\s+┃\s+owner", plain)
    assert re.search(r"WARN\s+│\s+soft\s+│\s+warning\s+│\s+@team", plain)
    assert "PASSED: warned: 1 pass, 1 fail, 1 warning in" in plain


def test_plain_lines_colour_the_warn_word_only_when_asked(
    write_checklist: Callable[..., Path],
) -> None:
    checklist = load_checklist(write_checklist(WARNING_CHECKLIST), dict(os.environ))
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=1)
    for color, word in ((False, "WARN   "), (True, "\x1b[1;33mWARN\x1b[0m   ")):
        stream = io.StringIO()
        reporter = PlainReporter(stream, color=color)
        Runner(select(checklist.checks), settings, [reporter]).run(checklist.name)
        line = next(x for x in stream.getvalue().splitlines() if "soft" in x)
        assert line.startswith(f"{word}soft ")
        assert "`false` exited 1, expected 0" in line


def test_the_footer_says_done_running_waiting_and_elapsed() -> None:
    assert footer(3, 8, ["a", "b"], ["x", "y", "z", "w"], 12.4) == (
        "[bold]3/8 done[/] · 2 running · 4 waiting: x, y, z, +1 · [dim]12.4s[/]"
    )
    assert footer(8, 8, [], [], 61) == "[bold]8/8 done[/] · [dim]61s[/]"


def test_an_only_run_neither_lists_nor_counts_deselected_checks(
    write_checklist: Callable[..., Path],
) -> None:
    path = write_checklist("""
        version: 1
        name: selected
        defaults: {owner: "@team", expect: works, rollback: revert it}
        checks:
          - {id: fast-a, kind: command, with: {run: "true"}}
          - {id: fast-b, kind: command, with: {run: "sleep 0.4"}}
          - {id: slow-c, kind: command, with: {run: "true"}}
          - {id: slow-d, kind: command, with: {run: "true"}}
    """)
    checklist = load_checklist(path, dict(os.environ))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system=None)
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=1)
    plan = select(checklist.checks, only=["fast-*"])
    run = Runner(plan, settings, [LiveReporter(console)]).run(checklist.name)
    text = stream.getvalue()
    # The report keeps them as `skip` (the JSON contract); the terminal shows what ran.
    assert [(c.id, c.status.value) for c in run.checks][2:] == [
        ("slow-c", "skip"),
        ("slow-d", "skip"),
    ]
    assert [c.id for c in run.ran().checks] == ["fast-a", "fast-b"]
    assert run.ran().summary["skip"] == 0
    assert run.deselected == {"slow-c": "not selected (--only)", "slow-d": "not selected (--only)"}
    assert "slow-" not in text
    assert "1/2 done · 1 running · [dim]" not in text  # markup never leaks
    assert re.search(r"1/2 done · 1 running · \d+ms", text)  # the footer while fast-b runs
    assert "PASSED: selected: 2 pass in" in text


def test_wrapped_lines_keep_their_indent() -> None:
    from jobcheck.reports.terminal import render_rich_report
    from jobcheck.results import CheckResult, RunResult, Status

    long = "the canary job stayed queued: " + " ".join(f"word{i}" for i in range(30))
    check = CheckResult(
        id="canary", title="canary", kind="job", owner="@jobs", expect="done in 10s",
        rollback="restart the worker", status=Status.FAIL, message=long,
    )  # fmt: skip
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=60, color_system=None)
    run = RunResult("wrap", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1.0, [check])
    render_rich_report(console, run)
    panel = stream.getvalue().split("╰")[0].splitlines()
    what = next(i for i, line in enumerate(panel) if "what:" in line)
    column = panel[what].index("the canary")
    continued = panel[what + 1 : what + 4]
    assert all(line[column - 1] == " " and line[column].isalnum() for line in continued), panel
    assert "expected:" in panel[what + 4] or any("expected:" in line for line in panel[what:])


def test_hostile_titles_and_output_stay_text_live_and_plain(
    write_checklist: Callable[..., Path],
) -> None:
    """`[/]` in a title once crashed the live view (rich markup); a check's output could clear
    the screen, retitle the window or write the clipboard (OSC 52) through plain/CI output."""
    path = write_checklist(r"""
        version: 1
        name: hostile
        defaults: {owner: "@team", expect: "[red]works[/]", rollback: "[/] undo"}
        checks:
          - id: evil
            title: "[/] [bold red]title"
            kind: command
            with: {run: ["sh", "-c", "printf '\e[2J\e]0;pwned\a\e]52;c;ZXZpbA==\aboom\n'; exit 1"]}
    """)
    checklist = load_checklist(path, dict(os.environ))
    settings = RunSettings(base_dir=checklist.base_dir, env=os.environ, mask=Masker(), jobs=1)
    live_stream = io.StringIO()
    console = Console(file=live_stream, force_terminal=True, width=120, color_system=None)
    plain_stream = io.StringIO()
    listeners = [LiveReporter(console), PlainReporter(plain_stream)]
    run = Runner(select(checklist.checks), settings, listeners).run(checklist.name)
    assert run.checks[0].status.value == "fail"
    for text in (live_stream.getvalue(), plain_stream.getvalue()):
        assert "\x1b]" not in text and "\x1b[2J" not in text and "\x07" not in text
        assert "\\x1b]52;c;ZXZpbA==\\x07boom" in text
    assert "[/] [bold red]title" in live_stream.getvalue()


def test_live_lines_are_masked_a_retry_too(write_checklist: Callable[..., Path]) -> None:
    """The lines printed while checks run (RETRY in plain mode, the rich view's lines) show
    no secret: a retry's message is masked as the finished result is."""
    secret = "Zq9-live-retry-secret"
    path = write_checklist("""
        version: 1
        name: live
        defaults: {owner: "@team", expect: works, rollback: revert it}
        checks:
          - id: flaky
            kind: command
            retries: 1
            retry_safe: true
            with: {run: "false ${APP_PASSWORD}"}
    """)
    environ = {**os.environ, "APP_PASSWORD": secret}
    checklist = load_checklist(path, environ)
    settings = RunSettings(
        base_dir=checklist.base_dir, env=environ, mask=Masker.from_env(environ), jobs=1
    )
    plain = io.StringIO()
    rich_stream = io.StringIO()
    console = Console(file=rich_stream, force_terminal=True, width=120, color_system=None)
    reporters = [PlainReporter(plain), LiveReporter(console)]
    Runner(select(checklist.checks), settings, reporters).run(checklist.name)
    assert "RETRY  flaky" in plain.getvalue() and "false ***" in plain.getvalue()
    assert secret not in plain.getvalue()
    assert secret not in rich_stream.getvalue()
