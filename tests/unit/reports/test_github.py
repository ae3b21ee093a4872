from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from jobcheck.reports import github
from jobcheck.results import RunResult

RUNS = Path(__file__).parents[2] / "fixtures" / "runs"
TODAY = dt.date(2026, 11, 27)


def fixture_run(name: str) -> RunResult:
    return RunResult.from_dict(json.loads((RUNS / name).read_text(encoding="utf-8")))


def test_escaping_follows_the_workflow_command_spec() -> None:
    assert github.escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert github.escape_property("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext%3A a%2Cb"


def test_command_leaves_out_empty_properties() -> None:
    assert github.command("error", "m", {"file": "", "title": "t"}) == "::error title=t::m"
    assert github.command("warning", "m") == "::warning::m"


MIXED_ANNOTATIONS = [
    "::error file=checklists/release.yaml,line=24,"
    "title=API answers its health check (api-health) failed::"
    "GET http://127.0.0.1:8000/health answered 503, expected 200; retrying is safe"
    '%0Aowner: @alice%0Aexpected: /health answers 200 with {"ok": true}'
    "%0Arollback: redeploy the previous image tag with `make rollback`"
    "%0Arunbook: https://wiki.example/runbooks/api",
    "::error file=checklists/integration.yaml,line=7,"
    "title=A canary job round-trips through RQ (canary-job) error::"
    "docker engine unreachable at unix:///var/run/docker.sock: start it with "
    "`sudo systemctl start docker`%0Aowner: @carol%0Aexpected: the canary job finishes within 10s"
    "%0Arollback: scale the worker back to the previous release: `docker compose up -d worker`",
    "::warning file=checklists/release.yaml,line=40,"
    "title=Services have memory limits (memory-limits) failed::"
    "compose: 1 finding%0Aworker: no memory limit (rule memory-limits)"
    "%0Aowner: @dave%0Aexpected: every service sets mem_limit",
    "::warning file=checklists/release.yaml,line=52,title=Waiver for env-parity expires in 4 days::"
    "waiver until 2026-12-01: staging has no Sentry | until INFRA-7 (by @captain, owner @dave); "
    "fix the check or renew the waiver before it expires",
]


def test_annotations_for_failures_warnings_and_expiring_waivers() -> None:
    assert github.workflow_annotations(fixture_run("mixed.json"), today=TODAY) == MIXED_ANNOTATIONS


def test_a_passing_run_with_a_distant_waiver_has_no_annotations() -> None:
    assert github.workflow_annotations(fixture_run("passing.json"), today=TODAY) == []


def test_annotation_paths_are_relative_to_the_workspace(tmp_path: Path) -> None:
    run = fixture_run("mixed.json")
    run.checks = [
        dataclasses.replace(c, source=str(tmp_path / "ci" / "gate.yaml"), title="a, b: c")
        for c in run.checks[2:3]
    ]
    (line,) = github.workflow_annotations(run, today=TODAY, workspace=tmp_path)
    assert line.startswith(
        "::error file=ci/gate.yaml,line=24,title=a%2C b%3A c (api-health) failed::"
    )


def test_group_fences_the_output_against_workflow_commands() -> None:
    text = github.group("fail: lint", "::error::not ours\nmore\n", token="t0k")
    assert text.splitlines() == [
        "::group::fail: lint",
        "::stop-commands::t0k",
        "::error::not ours",
        "more",
        "::t0k::",
        "::endgroup::",
    ]


def test_group_tokens_are_random_by_default() -> None:
    assert github.group("a", "b") != github.group("a", "b")


def test_check_groups_cover_checks_with_output_failures_first() -> None:
    run = fixture_run("mixed.json")
    run.checks[0].output = "All checks passed!"
    groups = github.check_groups(run, token="T")
    assert [g.splitlines()[0] for g in groups] == [
        "::group::fail: API answers its health check (api-health)",
        "::group::pass: Lint is clean (lint)",
    ]


def test_append_step_summary_appends_to_the_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert github.append_step_summary("# jobcheck", env) is True
    assert github.append_step_summary("more\n", env) is True
    assert summary.read_text(encoding="utf-8") == "# earlier step\n# jobcheck\nmore\n"
    assert github.append_step_summary("x", {}) is False


@pytest.mark.parametrize(
    ("env", "gh", "ci"),
    [
        ({}, False, False),
        ({"CI": "true"}, False, True),
        ({"CI": "1"}, False, True),
        ({"CI": "false"}, False, False),
        ({"GITHUB_ACTIONS": "true"}, True, True),
        ({"GITHUB_ACTIONS": "false", "CI": "true"}, False, True),
    ],
)
def test_is_github_and_is_ci(env: dict[str, str], gh: bool, ci: bool) -> None:
    assert github.is_github(env) is gh
    assert github.is_ci(env) is ci


def test_reproduce_line_drops_report_paths_and_quotes() -> None:
    argv = [
        "run",
        "ci/gate.yaml",
        "--json",
        "o.json",
        "--junit=o.xml",
        "--markdown",
        "r.md",
        "--only",
        "api health",
        "--jobs",
        "4",
    ]
    assert github.reproduce_line(argv) == (
        "reproduce locally with: jobcheck run ci/gate.yaml --only 'api health' --jobs 4"
    )


def test_reproduce_line_accepts_the_program_name_and_masks_secret_env() -> None:
    argv = ["jobcheck", "run", "-e", "API_TOKEN=s3cret", "--env=MODE=fast", "--env=DB_PASSWORD=pw"]
    assert github.reproduce_line(argv) == (
        "reproduce locally with: jobcheck run -e 'API_TOKEN=***' --env=MODE=fast "
        "'--env=DB_PASSWORD=***'"
    )
    assert github.reproduce_line(["jobcheck"]) == "reproduce locally with: jobcheck run"


def test_ci_epilogue_on_github(tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": "true", "CI": "true"}
    text = github.ci_epilogue(fixture_run("mixed.json"), env, argv=["run"], today=TODAY, token="T")
    lines = text.splitlines()
    assert lines[0] == "::group::fail: API answers its health check (api-health)"
    assert lines[6:10] == MIXED_ANNOTATIONS
    assert lines[-1] == "reproduce locally with: jobcheck run"


def test_ci_epilogue_on_other_ci_and_locally() -> None:
    run = fixture_run("mixed.json")
    epilogue = github.ci_epilogue(run, {"CI": "true"}, argv=[])
    assert epilogue == "reproduce locally with: jobcheck run\n"
    assert github.ci_epilogue(run, {}, argv=["run"]) == ""


def test_ci_reporter_writes_epilogue_and_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    out = io.StringIO()
    (reporter,) = github.ci_listeners(env, out, argv=["run", "--json", "x.json"])
    reporter.on_finish(fixture_run("mixed.json"))
    assert "::error file=checklists/release.yaml,line=24," in out.getvalue()
    assert out.getvalue().endswith("reproduce locally with: jobcheck run\n")
    assert summary.read_text(encoding="utf-8").startswith(
        "# Readiness report: billing-service release\n"
    )
    assert github.ci_listeners({}, out, argv=[]) == []
