"""The options `run` and `release` share are declared once (``cli.GATE_OPTIONS``), the report
files once (``reports.formats``), and one ``GateOptions.request`` builds the GateRequest of
both commands. The option names are contracts (DESIGN.md): these lists pin them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from jobcheck.cli import app
from jobcheck.pipeline import GateRequest

REPORTS = ["--json", "--junit", "--markdown", "--html"]
SELECT = ["--only", "--skip", "-j/--jobs", "--wait-jobs", "--fail-fast"]
SHOW = ["--no-color", "--color", "--stack-up/--no-stack-up", "-e/--env"]
OPTIONS = {
    "run": [
        "-c/--checklist", *SELECT, *REPORTS, *SHOW,
        "--failed", "--shard", "--durations", "--no-cache",
    ],
    "release": [
        "-c/--checklist", "--dry-run", "-y/--yes", *SELECT, *REPORTS, *SHOW,
        "--cache", "--from-reports", "--notes",
    ],
    "report": ["-f/--format", "-o/--output", *REPORTS],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_command_lists_the_options_it_always_had(name: str) -> None:
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    shown = [
        "/".join(sorted(p.opts, key=len) + p.secondary_opts)
        for p in command.params
        if p.param_type_name == "option"
    ]
    assert shown == OPTIONS[name]


ARGS = [
    "-c", "x.yaml", "--only", "a", "--skip", "b", "-j", "2", "--wait-jobs", "3", "--fail-fast",
    "--json", "o/r.json", "--markdown", "o/r.md", "--no-color", "--no-stack-up", "-e", "A=1",
]  # fmt: skip


def _asked(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> dict[str, Any]:
    """Replace a command body by one that keeps what it was given."""
    given: dict[str, Any] = {}

    def keep(*args: Any, **kwargs: Any) -> int:
        given.update(args=args, **kwargs)
        return 0

    monkeypatch.setattr(f"jobcheck.commands.{module}.{name}", keep)
    return given


def test_run_and_release_build_the_same_request(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    ran = _asked(monkeypatch, "run", "run")
    assert runner.invoke(app, ["run", *ARGS, "--failed", "--shard", "1/2"]).exit_code == 0
    released = _asked(monkeypatch, "release", "release")
    assert runner.invoke(app, ["release", "v1.0.0", *ARGS, "--cache"]).exit_code == 0
    run_request: GateRequest = ran["args"][0]
    release_request: GateRequest = released["args"][1]
    for request in (run_request, release_request):
        assert request.checklist == Path("x.yaml")
        assert (request.only, request.skip, request.jobs, request.wait_jobs) == (["a"], ["b"], 2, 3)
        assert request.fail_fast and request.plain and request.color == "never"
        assert request.reports == {"json": Path("o/r.json"), "markdown": Path("o/r.md")}
        assert request.stack_up is False and request.extra_env == {"A": "1"}
        assert request.cache
    assert run_request.failed and run_request.shard == "1/2"
    assert not release_request.failed and release_request.shard is None


def test_report_merge_takes_the_report_files(monkeypatch: pytest.MonkeyPatch) -> None:
    given = _asked(monkeypatch, "merge", "report_or_merge")
    args = ["report", "merge", "a.json", "b.json", "--junit", "m.xml", "--html", "m.html"]
    assert CliRunner().invoke(app, args).exit_code == 0
    paths, fmt, output, reports, _ = given["args"]
    assert [str(p) for p in paths] == ["merge", "a.json", "b.json"]
    assert (fmt, output) == ("markdown", None)
    assert reports == {"junit": Path("m.xml"), "html": Path("m.html")}
