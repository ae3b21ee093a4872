"""The run pipeline's small decisions: stack bring-up, PATH, report paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

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
    pipeline.check_report_paths(pipeline.GateRequest(json_path=tmp_path / "new" / "r.json"))
    with pytest.raises(UsageError, match="is a directory"):
        pipeline.check_report_paths(pipeline.GateRequest(junit_path=tmp_path))
