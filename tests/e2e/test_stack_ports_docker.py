"""Against a real engine: `${stack.SERVICE.PORT}` reads the port Docker published, a service
check of a project with no containers or an exited container ends at once, and a check of a
stack that is not up is an error even when something else answers on the usual port.

Own compose project names (jobcheck-itest-firstrun*) and ports (18300+); only containers with
those project labels are created and removed.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobcheck.probes import engine

pytestmark = pytest.mark.docker

PROJECT = "jobcheck-itest-firstrun"
EMPTY = "jobcheck-itest-firstrun-empty"
HOST_PORT = 18301
GUESSED_PORT = 18302  # what a checklist without `${stack...}` would have asked
IMAGE = os.environ.get("JOBCHECK_FIRSTRUN_IMAGE", "jobcheck/demo-service:staging")
COMPOSE = "services:\n  web: {image: x}\n  migrate: {image: x}\n"


def checklist(project: str) -> str:
    return f"""\
version: 1
name: stack ports
defaults: {{owner: "@team", expect: answers, rollback: redeploy}}
stack: {{compose: [compose.yaml], project: {project}}}
checks:
  - {{id: web-up, kind: service, with: {{service: web, healthy: false, wait: 60s}}}}
  - {{id: migrated, kind: service, with: {{service: migrate, healthy: false, wait: 60s}}}}
  - {{id: web-http, kind: http, with: {{url: "http://${{stack.web.8000}}/", status: 200}}}}
"""


def remove_project(sdk: Any, project: str) -> None:
    for container in engine.containers(sdk, project):
        container.remove(force=True)


@pytest.fixture(scope="module")
def sdk() -> Iterator[Any]:
    client = engine.client()
    try:
        client.images.get(IMAGE)
    except Exception:
        pytest.fail(f"image {IMAGE} is missing: run `bash scripts/stack-images.sh`", pytrace=False)
    for project in (PROJECT, EMPTY):
        remove_project(client, project)
    labels = {engine.PROJECT_LABEL: PROJECT, engine.NUMBER_LABEL: "1"}
    client.containers.run(
        IMAGE,
        ["python3", "-m", "http.server", "8000"],
        name=f"{PROJECT}_web_1",
        labels={**labels, engine.SERVICE_LABEL: "web"},
        ports={"8000/tcp": ("127.0.0.1", HOST_PORT)},
        detach=True,
    )
    client.containers.run(
        IMAGE,
        ["python3", "-c", "raise SystemExit(3)"],
        name=f"{PROJECT}_migrate_1",
        labels={**labels, engine.SERVICE_LABEL: "migrate"},
        detach=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = {c.name: c.status for c in engine.containers(client, PROJECT)}
        if states.get(f"{PROJECT}_migrate_1") == "exited" and _answers(HOST_PORT):
            break
        time.sleep(0.3)
    yield client
    remove_project(client, PROJECT)
    client.close()


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def impostor() -> Iterator[int]:
    """Another project's server on the port a guessing checklist would ask."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", GUESSED_PORT), http.server.SimpleHTTPRequestHandler
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield GUESSED_PORT
    httpd.shutdown()


def run(tmp_path: Path, project: str) -> tuple[int, dict[str, dict[str, Any]], float]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "jobcheck.yaml").write_text(checklist(project))
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", "--json", "r.json", "--no-color"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - start
    report = json.loads((tmp_path / "r.json").read_text())
    return result.returncode, {c["id"]: c for c in report["checks"]}, took


def test_ports_come_from_the_running_stack_and_an_exited_container_ends_at_once(
    sdk: Any, tmp_path: Path
) -> None:
    code, checks, took = run(tmp_path, PROJECT)
    assert code == 1
    assert checks["web-up"]["status"] == "pass", checks["web-up"]["message"]
    assert checks["web-http"]["status"] == "pass", checks["web-http"]["message"]
    assert f"http://127.0.0.1:{HOST_PORT}/" in checks["web-http"]["message"]
    assert checks["migrated"]["status"] == "fail"
    assert checks["migrated"]["message"] == (
        f"{PROJECT}_migrate_1 is exited (exit code 3); not waiting the 60s: {PROJECT}_migrate_1 "
        "ended and will not start again by itself"
    )
    assert took < 30  # not the 60 s wait


def test_a_stack_that_is_not_up_fails_at_once_whatever_listens_elsewhere(
    sdk: Any, tmp_path: Path, impostor: int
) -> None:
    code, checks, took = run(tmp_path, EMPTY)
    assert code == 1
    assert checks["web-up"]["status"] == "fail"
    assert checks["web-up"]["message"].endswith(
        f"not waiting the 60s: project '{EMPTY}' has no containers at all: the stack is not up "
        "(`jobcheck stack up`, or `stack.up: true` in the checklist)"
    )
    assert checks["web-http"]["status"] == "error"
    assert checks["web-http"]["message"].startswith(
        f"`${{stack.web.8000}}`: the stack '{EMPTY}' has no container for service 'web'"
    )
    assert took < 30


def stack_command(tmp_path: Path, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "jobcheck.yaml").write_text(checklist(project))
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", "stack", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "40", "NO_COLOR": "1"},
    )


def test_stack_logs_of_a_stack_without_containers_says_so_and_exits_1(
    sdk: Any, tmp_path: Path
) -> None:
    result = stack_command(tmp_path, EMPTY, "logs", "web")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"error: service 'web' of stack {EMPTY} has no containers: no logs to show "
        "(`jobcheck stack up` starts it)"
    )
    assert "Attaching to" not in result.stdout


def test_stack_status_piped_keeps_every_column_whole(sdk: Any, tmp_path: Path) -> None:
    result = stack_command(tmp_path, PROJECT, "status")
    assert result.returncode == 1  # migrate exited
    web = next(line for line in result.stdout.splitlines() if line.startswith("web "))
    assert web.split()[-1] == f"127.0.0.1:{HOST_PORT}->8000/tcp"
    assert f"{PROJECT}_web_1" in web
