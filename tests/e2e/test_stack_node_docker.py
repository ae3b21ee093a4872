"""Against a real engine: `stack.up` is a node of the plan. A local check runs (and ends) while
the stack comes up; the Docker checks start once it is healthy; a stack that cannot come up
ends its dependants at once with its cause while the local checks run on.

Own compose projects (jc-sched, jc-sched-fail), no published ports; each is taken down with
`docker compose -p P down -v` (or v1, whichever jobcheck uses) when its test ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobcheck.staging import compose_cli

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("JOBCHECK_SCHED_IMAGE", "jobcheck/demo-service:staging")
# Healthy after about 4 s: time enough to see a local check start and end before it.
COMPOSE = f"""\
services:
  slow:
    image: {IMAGE}
    command: ["sh", "-c", "sleep 4; touch /tmp/ready; exec sleep 3600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 60
"""
BROKEN = f"""\
services:
  broken:
    image: {IMAGE}
    command: ["sh", "-c", "echo 'cannot reach the database' >&2; exit 3"]
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 1s
"""


def checklist(project: str, local_seconds: float) -> str:
    return f"""\
version: 1
name: stack node
defaults: {{owner: "@team", expect: works, rollback: redeploy}}
stack: {{compose: [compose.yaml], project: {project}, up: true, build: false, wait: 90s}}
checks:
  - {{id: local, kind: command, with: {{run: "sleep {local_seconds}"}}}}
  - {{id: svc, kind: service, with: {{service: {"slow" if project == "jc-sched" else "broken"}}}}}
  - {{id: after-svc, kind: command, needs: [svc], with: {{run: "true"}}}}
"""


def compose_down(folder: Path, project: str) -> None:
    cli = compose_cli.detect()  # the CLI jobcheck used: v2 when there (JOBCHECK_COMPOSE wins)
    subprocess.run(
        [*cli.argv, "-p", project, "-f", str(folder / "compose.yaml"), "down", "-v"],
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name, compose = request.param
    (tmp_path / "compose.yaml").write_text(compose)
    compose_down(tmp_path, name)
    yield tmp_path, name
    compose_down(tmp_path, name)


def run(folder: Path, text: str) -> tuple[int, dict[str, Any], str]:
    (folder / "jobcheck.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", "--json", "r.json", "--no-color", "--jobs", "1"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    report = json.loads((folder / "r.json").read_text())
    return result.returncode, report, result.stdout


@pytest.mark.parametrize("project", [("jc-sched", COMPOSE)], indirect=True)
def test_a_local_check_runs_while_the_stack_comes_up(project: tuple[Path, str]) -> None:
    folder, name = project
    code, report, out = run(folder, checklist(name, 1))
    checks = {c["id"]: c for c in report["checks"]}
    assert code == 0, out
    assert [c["id"] for c in report["checks"]] == ["local", "svc", "after-svc"]  # the contract
    span = report["stack_up"]
    assert span["status"] == "pass" and span["duration_s"] >= 3.5
    healthy_at = span["start_s"] + span["duration_s"]
    local = checks["local"]
    # the local check started, and even ended, before the stack was healthy
    assert local["started_s"] < healthy_at and local["started_s"] + local["duration_s"] < healthy_at
    assert checks["svc"]["status"] == "pass" and checks["svc"]["started_s"] >= healthy_at
    lines = out.splitlines()
    stack_line = next(i for i, x in enumerate(lines) if x.startswith("PASS   (stack)"))
    assert lines.index(next(x for x in lines if x.startswith("PASS   local"))) < stack_line
    assert any(x.startswith("stack: ") for x in lines[:stack_line])  # its progress, as it went


@pytest.mark.parametrize("project", [("jc-sched-fail", BROKEN)], indirect=True)
def test_a_failed_stack_up_ends_its_dependants_at_once(project: tuple[Path, str]) -> None:
    folder, name = project
    code, report, out = run(folder, checklist(name, 30))
    checks = {c["id"]: c for c in report["checks"]}
    assert code == 1, out
    span = report["stack_up"]
    assert span["status"] == "error"
    svc = checks["svc"]
    assert svc["status"] == "error" and svc["attempts"] == 0
    assert svc["message"].startswith("the staging stack did not come up: ")
    assert "broken" in svc["message"] and "exited" in svc["message"]  # names the cause
    assert checks["after-svc"]["status"] == "skip"
    local = checks["local"]
    assert local["status"] == "pass"
    # at once: the stack failed, and `svc` and its dependant ended right then, while the
    # 30 s local check was still running (not when the run ended)
    assert span["start_s"] + span["duration_s"] < local["started_s"] + local["duration_s"]
    ended = [x.split()[1] for x in out.splitlines() if x.startswith(("ERROR", "PASS", "SKIP"))]
    assert ended[:4] == ["(stack)", "svc", "after-svc", "local"], out
