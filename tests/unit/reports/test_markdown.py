from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

from golden_runs import Golden, fixture_run

from jobcheck.reports.markdown import render_markdown
from jobcheck.results import AttemptDetail, CheckResult, RunResult, Status

TODAY = dt.date(2026, 11, 27)


def test_mixed_run_exact_text(golden: Golden) -> None:
    text = render_markdown(fixture_run("mixed.json"), today=TODAY)
    assert text == golden("mixed.expected.md", text)


def test_same_run_renders_the_same_text_twice() -> None:
    run = fixture_run("mixed.json")
    assert render_markdown(run, today=TODAY) == render_markdown(run, today=TODAY)


def test_passing_run_has_no_failure_section(golden: Golden) -> None:
    text = render_markdown(fixture_run("passing.json"), today=TODAY)
    assert text == golden("passing.expected.md", text)


def test_waiver_within_seven_days_is_a_warning_and_expired_is_flagged() -> None:
    run = fixture_run("passing.json")
    text = render_markdown(run, today=dt.date(2026, 12, 24))
    assert "> - waiver for `graceful-shutdown` expires in 7 days (2026-12-31), owner @erin" in text
    assert "⚠️ expires in 7 days" in text
    assert "expires in 8 days |" in render_markdown(run, today=dt.date(2026, 12, 23))
    assert "> [!WARNING]" not in render_markdown(run, today=dt.date(2026, 12, 23))
    expired = render_markdown(run, today=dt.date(2027, 1, 2))
    assert "waiver for `graceful-shutdown` expired 2 days ago (2026-12-31)" in expired
    assert "expires today" in render_markdown(run, today=dt.date(2026, 12, 31))


def _check(**changes: object) -> CheckResult:
    base = CheckResult(
        id="c1",
        title="Check one",
        kind="command",
        status=Status.FAIL,
        severity="blocker",
        owner="@o",
        expect="exit 0",
        rollback="revert",
        message="boom",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _run(*checks: CheckResult, interrupted: bool = False) -> RunResult:
    started = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
    return RunResult("demo", started, 1.0, list(checks), interrupted=interrupted)


def test_html_is_escaped_outside_code_spans_only() -> None:
    text = render_markdown(_run(_check(message="got <Response [503]> from `a<b>`")), today=TODAY)
    assert "- **Seen:** got &lt;Response [503]&gt; from `a<b>`" in text


def test_output_fence_is_longer_than_backticks_in_the_output() -> None:
    text = render_markdown(_run(_check(output="```\ncode\n```")), today=TODAY)
    assert "````text\n```\ncode\n```\n````" in text


def test_output_shows_only_the_tail() -> None:
    output = "\n".join(f"line {i}" for i in range(1, 31))
    text = render_markdown(_run(_check(output=output)), today=TODAY)
    assert "Output (last 20 of 30 lines)" in text
    assert "line 10\n" not in text and "line 11\n" in text and "line 30\n" in text


def test_absolute_sources_are_shown_relative_to_root(tmp_path: Path) -> None:
    check = _check(source=str(tmp_path / "checklists" / "r.yaml"), line=3)
    text = render_markdown(_run(check), today=TODAY, root=tmp_path)
    assert "`checklists/r.yaml:3`" in text


def test_interrupted_run_and_missing_fields() -> None:
    text = render_markdown(
        _run(_check(expect="", rollback="", owner=""), interrupted=True), today=TODAY
    )
    assert text.splitlines()[2].startswith("⏹️ **INTERRUPTED** · 1 failed of 1 checks")
    assert "- **Owner:** _none_" in text
    assert "- **Expected:** _not stated_" in text
    assert "- **Rollback:** _none given_" in text
    assert "**Runbook:**" not in text


def test_the_stack_bring_up_shows_with_its_status_and_duration() -> None:
    run = fixture_run("timeline.json")  # its stack came up in 3.1 s
    text = render_markdown(run, today=TODAY)
    line = "✅ Staging stack: bring-up **pass** in 3.1s (beside the checks that do not use it)"
    assert line in text
    assert text.index(line) < text.index("## ")  # under the verdict, before the checks
    failed = dataclasses.replace(
        run, stack_up=AttemptDetail(start_s=1.5, duration_s=42.0, status=Status.FAIL)
    )
    shown = render_markdown(failed, today=TODAY)
    assert "❌ Staging stack: bring-up **fail** in 42s (from +1.5s, beside" in shown
    assert "Staging stack" not in render_markdown(fixture_run("mixed.json"), today=TODAY)


def test_a_runbook_is_a_link_only_when_it_is_a_plain_http_url() -> None:
    """`runbook: 'https://x/"><script>...'` rendered a <script> element under CommonMark, and
    `javascript:` runbooks became links (the HTML report keeps them as text)."""
    run = fixture_run("mixed.json")
    failed = next(c for c in run.checks if c.status == Status.FAIL)
    for runbook, shown in [
        ("https://wiki.example/runbooks/api", "<https://wiki.example/runbooks/api>"),
        ('https://x/"><script>alert(1)</script>', '` https://x/"><script>alert(1)</script> `'),
        ("javascript:alert(1)", "` javascript:alert(1) ` (not a link)"),
        ("[click](javascript:alert(1))", "` [click](javascript:alert(1)) ` (not a link)"),
    ]:
        checks = [dataclasses.replace(c, runbook=runbook) if c is failed else c for c in run.checks]
        text = render_markdown(dataclasses.replace(run, checks=checks), today=dt.date(2026, 11, 27))
        line = next(x for x in text.splitlines() if x.startswith("- **Runbook:**"))
        assert shown in line, line
        outside_code = re.sub(r"`[^`]*`", "", line)
        assert "<script" not in outside_code and "javascript" not in outside_code
