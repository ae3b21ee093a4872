"""The registry of report formats: every command renders and writes through it, so a run's
report reads the same from `run --FORMAT PATH` as from `report RUN.json --format FORMAT`."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
from golden_runs import fixture_run
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.errors import UsageError
from jobcheck.reports.formats import BY_NAME, FILE_OPTIONS, FORMATS, View, named, write_reports

TODAY = dt.date(2026, 11, 27)


def test_every_format_has_a_renderer_a_suffix_and_a_unique_flag() -> None:
    for fmt in FORMATS:
        module = importlib.import_module(f"jobcheck.reports.{fmt.module}")
        assert callable(module.report), fmt.name
        assert fmt.suffix.startswith(".") and fmt.what
    assert len({f.flag for f in FORMATS}) == len(FORMATS)
    assert [f.flag for f in FILE_OPTIONS] == ["--json", "--junit", "--markdown", "--html"]


def test_each_format_renders_as_its_module_does() -> None:
    from jobcheck.reports.junit import render_junit
    from jobcheck.reports.markdown import render_markdown
    from jobcheck.reports.text import render_text

    run = fixture_run("mixed.json")
    view = View(today=TODAY, root=Path("/repo"))
    assert BY_NAME["junit"].render(run, view) == render_junit(run)
    assert BY_NAME["markdown"].render(run, view) == render_markdown(
        run, today=TODAY, root=view.root
    )
    assert BY_NAME["text"].render(run, view) == render_text(run, today=TODAY, root=view.root)
    assert BY_NAME["json"].render(run, view).startswith('{\n  "schema": ')
    assert BY_NAME["html"].render(run, view).startswith("<!DOCTYPE html>")


def test_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="--format pdf: expected one of json, junit, markdown"):
        named("pdf")


def test_write_reports_writes_each_asked_file_and_says_which_failed(tmp_path: Path) -> None:
    run = fixture_run("passing.json")
    said: list[str] = []
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    reports = {"junit": tmp_path / "r.xml", "markdown": tmp_path / "a-file" / "r.md"}
    assert not write_reports(run, reports, view=View(today=TODAY), warn=said.append)
    assert (tmp_path / "r.xml").read_text(encoding="utf-8").startswith("<?xml")
    assert said and said[0].startswith(f"error: could not write {tmp_path / 'a-file' / 'r.md'}")
    masked = write_reports(run, {"json": tmp_path / "r.json"}, mask=lambda t: t.replace("@", "#"))
    assert masked and "#erin" in (tmp_path / "r.json").read_text(encoding="utf-8")


CHECKLIST = """
    version: 1
    name: same everywhere
    defaults: {owner: "@team", expect: works, rollback: revert it}
    checks:
      - {id: good, kind: command, with: {run: "true"}}
      - {id: bad, kind: command, title: The bad one, with: {run: "false"}}
      - {id: soft, kind: command, severity: warning, with: {run: "false"}}
"""


def test_a_run_reads_the_same_from_run_and_from_report(
    write_checklist: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --html/--markdown` and `report -f html/markdown` of its JSON are the same text
    (paths relative to the current folder in both); the end of `run --no-color` is
    `report -f text`."""
    write_checklist(CHECKLIST, "checks/jobcheck.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    runner = CliRunner()
    args = ["run", "checks/jobcheck.yaml", "--no-color", "--json", "out/run.json"]
    done = runner.invoke(app, [*args, "--html", "out/run.html", "--markdown", "out/run.md"])
    assert done.exit_code == 1, done.output
    again = runner.invoke(app, ["report", "out/run.json", "-f", "markdown"])
    assert again.exit_code == 0, again.output
    assert again.output == (tmp_path / "out" / "run.md").read_text(encoding="utf-8")
    # the JSON keeps durations to the millisecond, the timeline's percentages differ: the
    # paths are what must agree
    page = runner.invoke(app, ["report", "out/run.json", "-f", "html"]).output
    written = (tmp_path / "out" / "run.html").read_text(encoding="utf-8")
    for html in (page, written):
        assert f"<code>{tmp_path}/checks/jobcheck.yaml:6</code>" not in html
        assert "<code>checks/jobcheck.yaml:6</code>" in html
    text = runner.invoke(app, ["report", "out/run.json", "-f", "text"])
    assert text.exit_code == 0 and text.output.startswith("FAIL  bad — The bad one\n")
    assert done.output.endswith("\n" + text.output)


def test_the_readme_names_every_format() -> None:
    """A format's doc: the README's command table and its "Reports" list."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    row = "`jobcheck report RUN.json --format " + "\\|".join(BY_NAME) + "`"
    assert row in readme
    reports = readme.split("## Reports", 1)[1].split("\n## ", 1)[0]
    for fmt in FORMATS:
        assert f"--{fmt.name}" in reports or f"--format {fmt.name}" in reports, fmt.name
