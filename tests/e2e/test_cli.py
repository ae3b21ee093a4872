"""The CLI as a real subprocess and through typer's CliRunner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobcheck import __version__
from jobcheck.cli import app

CHECKLIST = """
version: 1
name: e2e
defaults: {owner: "@team", expect: works, rollback: "git revert the change"}
checks:
  - {id: ok, kind: command, tags: [fast], with: {run: "echo fine"}}
  - {id: broken, kind: command, tags: [slowish], with: {run: "sh -c 'echo boom >&2; exit 4'"}}
  - {id: after, kind: command, needs: [broken], with: {run: "true"}}
"""


def jobcheck(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_is_fast() -> None:
    start = time.monotonic()
    result = jobcheck("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"jobcheck {__version__}"
    assert time.monotonic() - start < 2.0


def test_run_writes_json_and_junit_and_exits_1(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_checklist(CHECKLIST)
    result = jobcheck("run", str(path), "--json", "out.json", "--junit", "out.xml", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["schema"] == 3 and report["checklist"] == "e2e" and report["status"] == "fail"
    assert report["summary"] == {"pass": 1, "fail": 1, "error": 0, "skip": 1, "waived": 0}
    broken = next(c for c in report["checks"] if c["id"] == "broken")
    for key in (
        "id",
        "title",
        "kind",
        "status",
        "severity",
        "owner",
        "expect",
        "rollback",
        "message",
        "attempts",
        "duration_s",
        "retry_safe",
    ):
        assert key in broken
    assert "exited 4, expected 0" in broken["message"]
    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "3"
    failure = suite.find("testcase[@name='broken']/failure")
    assert failure is not None and "git revert the change" in (failure.text or "")
    # failures come first in the plain report, with owner and rollback
    assert result.stdout.index("FAIL  broken\n") < result.stdout.index("FAILED: e2e")
    assert "rollback: git revert the change" in result.stdout
    assert "owner:    @team" in result.stdout


def test_only_and_skip_select_by_tag(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    path = write_checklist(CHECKLIST)
    assert jobcheck("run", str(path), "--only", "fast", cwd=tmp_path).returncode == 0
    assert jobcheck("run", str(path), "--skip", "slowish", cwd=tmp_path).returncode == 0
    unknown = jobcheck("run", str(path), "--only", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no check has this id or tag" in unknown.stderr


def test_default_checklist_is_found(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    write_checklist(CHECKLIST.replace("exit 4", "exit 0"), name="checklists/release.yaml")
    result = jobcheck("run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED: e2e" in result.stdout


def test_no_checklist_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = jobcheck("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "no checklist given and none found" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_writes_the_report_and_exits_130(
    write_checklist: Callable[..., Path], tmp_path: Path, sig: signal.Signals
) -> None:
    marker = tmp_path / "started"
    path = write_checklist(f"""
version: 1
name: interrupted
defaults: {{owner: "@team"}}
checks:
  - {{id: quick, kind: command, with: {{run: "true"}}}}
  - id: long
    kind: command
    needs: [quick]
    with: {{shell: true, run: "echo $$$$ > {marker}; exec sleep 60"}}
  - {{id: later, kind: command, needs: [long], with: {{run: "true"}}}}
""")  # long needs quick: on a loaded machine the signal could otherwise come before quick ran
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobcheck", "run", str(path), "--json", "out.json", "--jobs", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(marker.read_text())
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["interrupted"] is True
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses == {"quick": "pass", "long": "error", "later": "skip"}
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper, 0)


def test_no_color_output_has_no_escape_codes(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_checklist(CHECKLIST)
    result = jobcheck("run", str(path), "--no-color", cwd=tmp_path)
    assert "\x1b[" not in result.stdout
    result = jobcheck("run", str(path), cwd=tmp_path, env={"NO_COLOR": "1"})
    assert "\x1b[" not in result.stdout


# -- through CliRunner -----------------------------------------------------------------


def test_cli_runner_run_and_validate(write_checklist: Callable[..., Path], clean_env: dict) -> None:
    path = write_checklist(CHECKLIST)
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(path), "--no-color"])
    assert result.exit_code == 1
    assert "FAILED: e2e" in result.output
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "e2e: 3 checks, valid" in result.output


def test_cli_runner_strict_validate_needs_rollback(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist("""
version: 1
name: strict
checks:
  - {id: bare, kind: command, owner: "@x", with: {run: "true"}}
""")
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    result = runner.invoke(app, ["validate", "--strict", str(path)])
    assert result.exit_code == 2
    assert "blocker `bare` has no `rollback` note" in result.output


def test_cli_runner_list_explain_schema(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(CHECKLIST)
    runner = CliRunner()
    listed = runner.invoke(app, ["list", str(path)])
    assert listed.exit_code == 0 and "broken" in listed.output and "needs: broken" in listed.output
    explained = runner.invoke(app, ["explain", "broken", "-c", str(path)])
    assert explained.exit_code == 0
    assert "rollback:   git revert the change" in explained.output
    assert "needed by:  after" in explained.output
    missing = runner.invoke(app, ["explain", "nope", "-c", str(path)])
    assert missing.exit_code == 2 and "no check with id `nope`" in missing.output
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert "command" in schema["$defs"]["CheckSpec"]["properties"]["kind"]["enum"]


def test_cli_runner_bad_env_flag(write_checklist: Callable[..., Path]) -> None:
    path = write_checklist(CHECKLIST)
    result = CliRunner().invoke(app, ["run", str(path), "--env", "NOEQUALS"])
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_report_path_that_is_a_directory_is_a_usage_error(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_checklist(CHECKLIST)
    result = jobcheck("run", str(path), "--json", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    assert "PASS" not in result.stdout  # nothing ran


def test_report_folders_are_created(write_checklist: Callable[..., Path], tmp_path: Path) -> None:
    path = write_checklist(CHECKLIST.replace("exit 4", "exit 0"))
    result = jobcheck("run", str(path), "--markdown", "out/a/b/report.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/a/b/report.md").read_text().startswith("# Readiness report: e2e")


def test_run_writes_an_html_report_and_report_renders_one(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_checklist(CHECKLIST)
    result = jobcheck(
        "run", str(path), "--json", "out.json", "--html", "out/report.html", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>FAIL · e2e · jobcheck</title>" in page
    assert page.count('class="tl-check') == 2  # ok and broken ran; after was skipped
    report = json.loads((tmp_path / "out.json").read_text())
    assert len(report["digest"]) == 64
    assert f'title="{report["digest"]}"' in page
    again = jobcheck("report", "out.json", "--format", "html", "-o", "again.html", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.html").read_text(encoding="utf-8").count('class="tl-check') == 2


def test_html_path_that_is_a_directory_is_a_usage_error(
    write_checklist: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_checklist(CHECKLIST)
    result = jobcheck("run", str(path), "--html", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"--html {tmp_path}: is a directory" in result.stderr
