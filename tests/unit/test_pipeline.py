"""The run pipeline's small decisions: stack bring-up, PATH, report paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobcheck import pipeline
from jobcheck.errors import UsageError
from jobcheck.loading import load_checklist
from jobcheck.plan import select

STACK = """
version: 1
name: stacked
defaults: {owner: "@x"}
stack: {compose: [compose.yaml], project: demo, up: %s}
checks:
  - {id: local, kind: command, with: {run: "true"}}
%s
"""
DOCKER_CHECK = "  - {id: api, kind: service, with: {service: api}}"


def preparer(write_checklist: Callable[..., Path], up: str, docker: bool, force: bool = False):  # type: ignore[no-untyped-def]
    path = write_checklist(STACK % (up, DOCKER_CHECK if docker else ""))
    checklist = load_checklist(path, {})
    plan = select(checklist.checks)
    return pipeline.stack_preparer(pipeline.stack_info(checklist), plan, {}, force=force)


def test_stack_comes_up_only_when_asked_and_a_docker_check_runs(
    write_checklist: Callable[..., Path],
) -> None:
    assert preparer(write_checklist, "true", docker=True) is not None
    assert preparer(write_checklist, "false", docker=True) is None
    assert preparer(write_checklist, "false", docker=True, force=True) is not None
    assert preparer(write_checklist, "true", docker=False) is None


def test_checks_find_the_tools_installed_beside_jobcheck() -> None:
    env = pipeline.with_own_bin({"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert pipeline.with_own_bin(dict(env))["PATH"] == env["PATH"]  # not added twice


def test_report_path_checks(tmp_path: Path) -> None:
    pipeline.prepare_report_paths(pipeline.GateRequest(json_path=tmp_path / "new" / "r.json"))
    with pytest.raises(UsageError, match="is a directory"):
        pipeline.prepare_report_paths(pipeline.GateRequest(junit_path=tmp_path))


def test_an_http_check_of_the_stack_brings_it_up_too(write_checklist: Callable[..., Path]) -> None:
    http = '  - {id: api, kind: http, with: {url: "http://127.0.0.1:18999/health"}}'
    path = write_checklist(STACK % ("true", http))
    checklist = load_checklist(path, {})
    prepare = pipeline.stack_preparer(pipeline.stack_info(checklist), select(checklist.checks), {})
    assert prepare is not None


def test_wait_jobs_reaches_the_runner_with_a_default(
    write_checklist: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from jobcheck.runner import Runner, RunSettings

    seen: list[RunSettings] = []
    original = Runner.__init__

    def spy(self: Runner, plan: Any, settings: RunSettings, listeners: Any = ()) -> None:
        seen.append(settings)
        original(self, plan, settings, listeners)

    monkeypatch.setattr(Runner, "__init__", spy)
    path = write_checklist(STACK % ("false", ""))
    for given, expected in ((None, pipeline.DEFAULT_WAIT_JOBS), (3, 3)):
        request = pipeline.GateRequest(checklist=path, wait_jobs=given, history=False, plain=True)
        result = pipeline.run_gate(request, {"PATH": os.environ["PATH"]}, out=io.StringIO())
        assert result.exit_code == 0
        assert seen[-1].wait_jobs == expected


def test_the_cli_takes_wait_jobs_and_refuses_zero(write_checklist: Callable[..., Path]) -> None:
    import subprocess

    path = write_checklist(STACK % ("false", ""))
    for value, code in (("2", 0), ("0", 2)):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jobcheck",
                "run",
                str(path),
                "--no-color",
                "--wait-jobs",
                value,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=path.parent,
        )
        assert done.returncode == code, done.stderr
