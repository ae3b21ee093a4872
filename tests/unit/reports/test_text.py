from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from golden_runs import RUNS, Golden, fixture_run

from jobcheck.reports.text import format_table, render_text, summary_line

TODAY = dt.date(2026, 11, 27)


def test_mixed_run_exact_text(golden: Golden) -> None:
    text = render_text(fixture_run("mixed.json"), today=TODAY)
    assert text == golden("mixed.expected.txt", text)


def test_passing_run_exact_text(golden: Golden) -> None:
    text = render_text(fixture_run("passing.json"), today=TODAY)
    assert text == golden("passing.expected.txt", text)


def test_expired_waiver_is_an_error_line() -> None:
    text = render_text(fixture_run("passing.json"), today=dt.date(2027, 1, 1))
    assert "error: waiver for graceful-shutdown expired 1 day ago (2026-12-31), owner @erin" in text


def test_failures_come_first_then_errors_warnings_and_waivers() -> None:
    """The order of the end of a run (``text.end_of_run``), whatever the file's order."""
    run = fixture_run("mixed.json")
    run.checks.reverse()
    text = render_text(run, today=TODAY)
    titles = ["FAIL  api-health", "ERROR  canary-job", "WARN  memory-limits", "WAIVED  env-parity"]
    at = [text.index(f"{title} — ") for title in titles]
    assert at == sorted(at)
    table = [line.split()[:2] for line in text.splitlines() if line.startswith(("FAIL ", "PASS "))]
    assert table[0] == ["FAIL", "api-health"] and table[-1][0] == "PASS"


def test_summary_of_an_interrupted_or_empty_run() -> None:
    run = dataclasses.replace(fixture_run("passing.json"), interrupted=True)
    assert summary_line(run).startswith("INTERRUPTED: billing-service release: 2 pass, 1 waived")
    empty = dataclasses.replace(run, checks=[], interrupted=False)
    assert summary_line(empty) == "PASSED: billing-service release: no checks in 3.5s"


def test_format_table_pads_columns_and_strips_trailing_blanks() -> None:
    assert format_table([["A", "BB", ""], ["ccc", "d", ""]]) == ["A    BB", "ccc  d"]


def test_report_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app
    from jobcheck.reports.markdown import render_markdown

    monkeypatch.chdir(tmp_path)
    source = str(RUNS / "mixed.json")
    runner = CliRunner()
    text = runner.invoke(app, ["report", source, "--format", "text"])
    assert text.exit_code == 0  # only shown: the run's own status does not matter
    assert text.output == render_text(fixture_run("mixed.json"))
    target = tmp_path / "readiness.md"
    assert runner.invoke(app, ["report", source, "-o", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8") == render_markdown(
        fixture_run("mixed.json"), today=dt.date.today(), root=tmp_path
    )
    junit = runner.invoke(app, ["report", source, "--format", "junit"])
    assert junit.exit_code == 0 and junit.output.startswith("<?xml")
    page = runner.invoke(app, ["report", source, "--format", "html"])
    assert page.exit_code == 0 and page.output.startswith("<!DOCTYPE html>")
    assert runner.invoke(app, ["report", source, "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app, ["report", str(tmp_path / "missing.json")]).exit_code == 2
