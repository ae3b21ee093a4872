"""Against a real engine and the RQ staging stack (docker/compose.yaml): drills in a real gate.

The checklist lists the drills first and has a queue check that fails on purpose. Nothing
orders the checks but what they use and disrupt: the shutdown drill stops the worker, the
broker-restart drill restarts Redis (and so disrupts the worker and the API, which depend on
it). The JSON report's start and duration of every check prove that no check using the worker
or Redis ran while a drill ran, that both drills ran and reported although a queue check
failed before them, and that they said what they waited for.

Its own compose project and ports (env-overridable, like the other Docker modules), its own
image tags (an override file: the shared `jobcheck/demo-service:staging` tag is never
rebuilt from here); taken down with `down -v` when the test ends.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("JOBCHECK_DRILL_ORDER_PROJECT", "jobcheck-drill-order")
API_PORT = os.environ.get("JOBCHECK_DRILL_ORDER_API_PORT", "18720")
REDIS_PORT = os.environ.get("JOBCHECK_DRILL_ORDER_REDIS_PORT", "16720")
TAG = os.environ.get("JOBCHECK_DRILL_ORDER_TAG", "drill-order")
RUN_TIMEOUT_S = 900

OVERRIDE = f"""\
services:
  api: {{image: "jobcheck/demo-service:{TAG}"}}
  worker: {{image: "jobcheck/demo-service:{TAG}"}}
  redis: {{image: "jobcheck/demo-redis:{TAG}"}}
"""

CHECKLIST = f"""\
version: 1
name: drills in a real gate
env_files: [{ROOT}/docker/staging.env]
vars:
  redis: "redis://:${{REDIS_PASSWORD}}@${{stack.redis.6379}}/0"
secrets: [REDIS_PASSWORD]
defaults: {{owner: "@jobs", timeout: 3m}}
stack:
  compose: [{ROOT}/docker/compose.yaml, override.yaml]
  project: {PROJECT}
  up: true
  wait: 5m
checks:
  - id: broker-restart
    kind: broker_restart
    with:
      redis_url: "${{redis}}"
      task: app.jobs.canary
      sleep_task: app.jobs.sleep
      sleep_kwargs: {{seconds: "{{seconds}}"}}
      seconds: 2
      waiting: 2
      deadline: 45s
  - id: shutdown
    kind: shutdown
    with:
      service: worker
      via: rq
      redis_url: "${{redis}}"
      function: app.jobs.sleep
      seconds: 3
      deadline: 60s
  - id: queue-too-few-workers
    kind: queue
    with: {{redis_url: "${{redis}}", queue: default, min_workers: 5}}
  - id: queue-health
    kind: queue
    with: {{redis_url: "${{redis}}", queue: default, min_workers: 1, max_depth: 50}}
  - id: canary
    kind: job
    with: {{via: rq, redis_url: "${{redis}}", function: app.jobs.canary, deadline: 30s}}
  - id: local
    kind: command
    with: {{run: "sleep 1"}}
"""
USERS = ("queue-too-few-workers", "queue-health", "canary")
DRILLS = ("broker-restart", "shutdown")


def compose(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    files = ["-f", str(ROOT / "docker" / "compose.yaml"), "-f", str(folder / "override.yaml")]
    return subprocess.run(
        ["docker-compose", "-p", PROJECT, *files, *args],
        env=stack_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stack_env() -> dict[str, str]:
    return {**os.environ, "API_PORT": API_PORT, "REDIS_PORT": REDIS_PORT, "NO_COLOR": "1"}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "override.yaml").write_text(OVERRIDE)
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST)
    compose(tmp_path, "down", "-v")
    yield tmp_path
    compose(tmp_path, "down", "-v")


def span(check: dict[str, Any]) -> tuple[float, float]:
    assert check["started_s"] is not None, f"{check['id']} did not run: {check['message']}"
    return check["started_s"], check["started_s"] + check["duration_s"]


def apart(one: tuple[float, float], other: tuple[float, float]) -> bool:
    return one[1] <= other[0] + 0.05 or other[1] <= one[0] + 0.05


def test_drills_run_after_failing_checks_and_never_beside_a_check_using_their_service(
    folder: Path,
) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", "--json", "report.json", "--html", "r.html"],
        cwd=folder,
        env=stack_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert (folder / "report.json").exists(), ran.stdout + ran.stderr
    report = json.loads((folder / "report.json").read_text())
    checks = {c["id"]: c for c in report["checks"]}
    shown = "\n".join(f"{c['id']}: {c['status']} {c['message']}" for c in checks.values())
    assert ran.returncode == 1, shown  # the queue check that wants 5 workers fails
    assert checks["queue-too-few-workers"]["status"] == "fail", shown
    assert checks["queue-health"]["status"] == "pass", shown
    assert checks["canary"]["status"] == "pass", shown
    # the drills ran and reported, although a queue check failed before them
    assert checks["broker-restart"]["status"] == "pass", shown
    assert checks["shutdown"]["status"] == "pass", shown
    for drill in DRILLS:
        for user in (*USERS, *(d for d in DRILLS if d != drill)):
            assert apart(span(checks[drill]), span(checks[user])), (drill, user, shown)
    # nothing ordered the local check: it ran beside the others
    assert span(checks["local"])[0] < max(span(checks[u])[1] for u in USERS)
    # the later drill in the file waited for the first one; both say what they waited for
    assert checks["shutdown"]["waited_for"] == "broker-restart (disrupts worker)", shown
    assert checks["broker-restart"]["waited_for"].endswith("(uses api, redis, worker)"), shown
    assert re.search(r"WAITED +shutdown +waited for broker-restart \(disrupts worker\)", ran.stdout)
    page = (folder / "r.html").read_text(encoding="utf-8")
    assert "waited for broker-restart (disrupts worker)" in page
