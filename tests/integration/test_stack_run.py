"""`jobcheck run` as a subprocess against the real stack: with the worker stopped, the job and
queue checks fail and the report carries their owner and rollback note."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds.base import StackInfo
from jobcheck.process import run_process

from ._stack import PROJECT, ROOT, container, stack_env

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

CHECKLIST = """
version: 1
name: integration rehearsal
vars:
  api: "http://127.0.0.1:${{API_PORT}}"
  redis: "redis://:${{REDIS_PASSWORD}}@127.0.0.1:${{REDIS_PORT}}/0"
stack:
  compose: [{root}/docker/compose.yaml]
  project: {project}
  env_file: {root}/docker/staging.env
defaults:
  owner: "@platform"
  tags: [integration]
checks:
  - id: api-health
    kind: http
    with: {{url: "${{api}}/health", status: 200, json: {{ok: true}}}}
    expect: /health answers 200 with ok=true
    rollback: redeploy the previous image tag
  - id: canary-job
    kind: job
    with:
      enqueue_url: "${{api}}/jobs/canary"
      status_url: "${{api}}/jobs/{{id}}"
      redis_url: "${{redis}}"
      deadline: 3s
    owner: "@queue-team"
    expect: a canary job finishes within 3s
    rollback: "docker-compose -p {project} start worker; then `jobcheck run --only canary-job`"
    retry_safe: true
  - id: queue-workers
    kind: queue
    with: {{redis_url: "${{redis}}", min_workers: 1}}
    owner: "@queue-team"
    expect: at least one live worker on the default queue
    rollback: scale the worker service back up
"""


def run_jobcheck(tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    path = tmp_path / "jobcheck.yaml"
    path.write_text(textwrap.dedent(CHECKLIST.format(root=ROOT, project=PROJECT)))
    report = tmp_path / "report.json"
    result = run_process(
        [sys.executable, "-m", "jobcheck", "run", str(path), "--json", str(report), "--no-color"],
        timeout_s=120,
        cwd=tmp_path,
        env={**stack_env(), "NO_COLOR": "1", "COLUMNS": "200"},
    )
    return result.returncode or 0, result.stdout + result.stderr, json.loads(report.read_text())


def test_run_passes_on_the_healthy_stack(stack: StackInfo, tmp_path: Path) -> None:
    code, output, report = run_jobcheck(tmp_path)
    assert code == 0, output
    assert report["summary"]["pass"] == 3


def test_worker_stopped_fails_with_owner_and_rollback(
    stack: StackInfo, engine_client: DockerClient, healed: None, tmp_path: Path
) -> None:
    container(engine_client, "worker").stop(timeout=30)
    code, output, report = run_jobcheck(tmp_path)
    assert code == 1, output
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["api-health"]["status"] == "pass"
    job = checks["canary-job"]
    assert job["status"] == "fail"
    assert job["owner"] == "@queue-team"
    assert job["rollback"].startswith(f"docker-compose -p {PROJECT} start worker")
    assert "still queued at the 3s deadline: no worker took it (0 live workers" in job["message"]
    assert checks["queue-workers"]["status"] == "fail"
    # the canary may or may not be waiting yet when the queue is read: both are right
    assert re.fullmatch(
        r"queue 'default': 0 live workers, expected at least 1( \(1 waiting\))?",
        checks["queue-workers"]["message"],
    )
    assert "@queue-team" in output and f"docker-compose -p {PROJECT} start worker" in output
    assert stack_env()["REDIS_PASSWORD"] not in output + json.dumps(report)
