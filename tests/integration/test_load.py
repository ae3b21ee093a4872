"""``load`` and ``http`` under load against the real RQ demo stack, through the real CLI: a
release that measures, a regression made real (RQ: the worker's CPU throttled with ``docker
update --cpus``, each job a fork; Celery: a release whose task is slower) that fails naming the
metric against that release, the figures in the notes.

The stack is this module's own compose project and ports (``JOBCHECK_LOAD_PROJECT``,
``JOBCHECK_LOAD_API_PORT``, ``JOBCHECK_LOAD_REDIS_PORT``), its images tagged apart
(``jobcheck/demo-service:load-itest``), so it runs beside the other stacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jobcheck.kinds.base import StackInfo
from jobcheck.staging import compose_cli, lifecycle

from ._compose import build_lock
from ._stack import ROOT, password

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PROJECT = os.environ.get("JOBCHECK_LOAD_PROJECT", "jc-h24-load")
API_PORT = os.environ.get("JOBCHECK_LOAD_API_PORT", "27100")
REDIS_PORT = os.environ.get("JOBCHECK_LOAD_REDIS_PORT", "27479")
TAG = os.environ.get("JOBCHECK_LOAD_IMAGE_TAG", "load-itest")
COUNT = 20
THROTTLED_CPUS = "0.05"
UNTHROTTLED_CPUS = "2"
SLOWER_TASK_S = 0.5  # the Celery test's second release: each job sleeps this long

OVERRIDE = f"""\
services:
  api: {{image: "jobcheck/demo-service:{TAG}"}}
  worker: {{image: "jobcheck/demo-service:{TAG}"}}
  redis: {{image: "jobcheck/demo-redis:{TAG}"}}
"""

CHECKLIST = f"""\
version: 1
name: load itest
defaults:
  owner: "@itest"
  timeout: 3m
secrets: [REDIS_PASSWORD]
checks:
  - id: queue-load
    title: {COUNT} canary jobs through RQ
    kind: load
    with:
      via: rq
      redis_url: "redis://:${{REDIS_PASSWORD}}@127.0.0.1:{REDIS_PORT}/0"
      task: app.jobs.canary
      count: {COUNT}
      concurrency: 4
      deadline: 150s
      tolerance: "${{LOAD_TOLERANCE:-25%}}"
  - id: health-load
    title: the API's health under load
    kind: http
    with:
      url: "http://127.0.0.1:{API_PORT}/health"
      json: {{ok: true}}
      requests: 100
      concurrency: 4
      p95: 20s
      baseline: none
"""

CHANGELOG = """\
# Changelog

## [1.1.0] - 2026-12-07
- the worker warms up its imports (release under test)

## [1.0.0] - 2026-12-01
- the first release, measured
"""


def stack_env() -> dict[str, str]:
    return {
        **os.environ,
        "API_PORT": API_PORT,
        "REDIS_PORT": REDIS_PORT,
        "REDIS_PASSWORD": password(),
    }


@pytest.fixture(scope="module")
def load_stack(
    engine_client: DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackInfo]:
    override = tmp_path_factory.mktemp("load-stack") / "override.yaml"
    override.write_text(OVERRIDE)
    info = StackInfo(
        compose=[ROOT / "docker" / "compose.yaml", override],
        project=PROJECT,
        env_file=ROOT / "docker" / "staging.env",
        wait_s=240.0,
    )
    yield from own_stack(info, stack_env())


def own_stack(info: StackInfo, env: dict[str, str]) -> Iterator[StackInfo]:
    """Up from a clean slate, and down with its volumes afterwards, whatever happened."""
    compose = compose_cli.Compose.for_stack(info, env)
    compose.down(volumes=True)
    lines: list[str] = []
    try:
        try:
            with build_lock():  # the images' shared tags are built one build at a time
                compose.build()
        except compose_cli.ComposeError as exc:
            pytest.fail(f"{info.project}: the images did not build: {exc}", pytrace=False)
        result = lifecycle.bring_up(info, env, lines.append, build=False)
        if not result.ok:
            pytest.fail(f"{info.project} did not come up: {result.message}\n" + "\n".join(lines))
        yield info
    finally:
        compose.down(volumes=True)


def jobcheck(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobcheck", *args, "--no-color"],
        cwd=repo,
        env={**stack_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=itest", "-c", "user.email=itest@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def check_of(data: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["checks"] if c["id"] == check_id)
    return found


def worker(engine_client: DockerClient) -> Any:
    """The stack's worker container, found by Compose's labels (v1 and v2 name it apart)."""
    labels = [f"com.docker.compose.project={PROJECT}", "com.docker.compose.service=worker"]
    (container,) = engine_client.containers.list(filters={"label": labels})
    return container


def cpus(container_id: str, limit: str) -> None:
    """``docker update --cpus``: the SDK's update_container has no nano_cpus."""
    subprocess.run(
        ["docker", "update", "--cpus", limit, container_id],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip


def rq_keys() -> list[str]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=int(REDIS_PORT), password=password())
    try:
        return sorted(k.decode() for k in client.scan_iter("rq:job:*", count=1000))
    finally:
        client.close()


def test_a_release_measures_a_throttled_worker_regresses_and_the_notes_show_both(
    load_stack: StackInfo, engine_client: DockerClient, tmp_path: Path
) -> None:
    repo = tmp_path / "service"
    repo.mkdir()
    (repo / "jobcheck.yaml").write_text(CHECKLIST)
    (repo / "CHANGELOG.md").write_text(CHANGELOG)
    (repo / ".gitignore").write_text("notes*.md\n*.json\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the service at 1.0.0")

    # 1. the first release: measured, no baseline yet, the figures in the notes and the tag
    first = jobcheck(
        repo, "release", "v1.0.0", "--yes", "--notes", "notes-1.0.0.md", "--json", "r1.json",
        env={"LOAD_TOLERANCE": "300%"},
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    load = check_of(report(repo / "r1.json"), "queue-load")
    metrics = load["metrics"]
    assert {"p50_wait_s", "p95_wait_s", "p95_total_s", "throughput_per_s", "error_rate"} <= set(
        metrics
    )
    assert metrics["throughput_per_s"] > 0 and metrics["error_rate"] == 0
    assert load["details"]["timings"].startswith("RQ's own timestamps")
    assert load["details"]["cleanup"] == f"{COUNT} jobs removed through the rq adapter"
    assert "no baseline yet" in load["message"]
    assert rq_keys() == [], "the load left jobs behind"
    health = check_of(report(repo / "r1.json"), "health-load")
    assert health["status"] == "pass" and health["metrics"]["error_rate"] == 0.0
    notes = (repo / "notes-1.0.0.md").read_text()
    assert "the first release, measured" in notes and "the worker warms up" not in notes
    assert "| queue-load | p95 wait | - |" in notes and "No earlier tag" in notes
    tag = git(repo, "tag", "-n999", "v1.0.0")
    assert "## Metrics" in tag and "| queue-load | throughput | - |" in tag
    print(
        f"\nRQ demo stack, {COUNT} canary jobs, 4 enqueuers: "
        f"throughput {metrics['throughput_per_s']}/s, p95 wait {metrics['p95_wait_s']}s, "
        f"p95 total {metrics['p95_total_s']}s, jobcheck CPU {metrics['cpu_per_job_ms']} ms/job; "
        f"/health x100 (4 at a time): p95 {health['metrics']['p95_s']}s, "
        f"jobcheck CPU {health['metrics']['cpu_per_request_ms']} ms/request"
    )

    # 2. the worker throttled: the same load regresses against v1.0.0, naming the metric
    container = worker(engine_client)
    cpus(container.id, THROTTLED_CPUS)
    try:
        slow = jobcheck(repo, "run", "--json", "r2.json")
    finally:
        cpus(container.id, UNTHROTTLED_CPUS)
    assert slow.returncode == 1, slow.stdout + slow.stderr
    regressed = check_of(report(repo / "r2.json"), "queue-load")
    assert regressed["status"] == "fail"
    first_line = regressed["message"].splitlines()[0]
    assert "→" in first_line and "tolerance 25 %) against v1.0.0" in first_line, first_line
    assert first_line.startswith(("p95 wait", "p95 total", "throughput")), first_line
    assert regressed["baseline"]["baseline_from"].startswith("v1.0.0, run ")
    assert regressed["baseline"]["p95_wait_s"] == metrics["p95_wait_s"]
    print(f"throttled to {THROTTLED_CPUS} CPU: {first_line}")

    # 3. the next release, against v1.0.0: the notes carry both figures and the change
    (repo / "jobcheck.yaml").write_text(CHECKLIST + "# 1.1.0\n")
    git(repo, "commit", "-qam", "the service at 1.1.0")
    time.sleep(1)  # distinct run timestamps
    second = jobcheck(
        repo, "release", "v1.1.0", "--yes", "--notes", "notes-1.1.0.md",
        env={"LOAD_TOLERANCE": "1000%"},
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    notes = (repo / "notes-1.1.0.md").read_text()
    assert "the worker warms up its imports" in notes
    assert "## Files touched since v1.0.0" in notes and "jobcheck.yaml" in notes
    assert "jobcheck release v1.1.0 --yes --notes notes-1.1.0.md" in notes
    row = next(line for line in notes.splitlines() if line.startswith("| queue-load | p95 wait |"))
    assert row.count("s |") >= 2 and row.rstrip().endswith("% |"), row
    assert "Baselines: v1.0.0, run " in notes
    assert password() not in notes
    assert "## Metrics" in git(repo, "tag", "-n999", "v1.1.0")
    print(notes)


def test_http_under_load_fails_on_errors_naming_the_rate(
    load_stack: StackInfo, tmp_path: Path
) -> None:
    (tmp_path / "jobcheck.yaml").write_text(
        f"""\
version: 1
name: http errors
defaults: {{owner: "@itest"}}
checks:
  - id: missing-under-load
    kind: http
    with:
      url: "http://127.0.0.1:{API_PORT}/jobs/no-such-job"
      requests: 20
      concurrency: 4
      baseline: none
"""
    )
    result = jobcheck(tmp_path, "run", "--json", "r.json")
    assert result.returncode == 1, result.stdout + result.stderr
    check = check_of(report(tmp_path / "r.json"), "missing-under-load")
    assert check["metrics"]["error_rate"] == 1.0
    assert check["message"].startswith(
        "20 of 20 requests failed (100.0 %, at most 0 % may); first: answered 404, expected 200"
    )


# --- the Celery flavour (docker/celery/): its own project and ports too ---------------------------

CELERY_PROJECT = os.environ.get("JOBCHECK_LOAD_CELERY_PROJECT", "jc-h24-load-celery")
CELERY_API_PORT = os.environ.get("JOBCHECK_LOAD_CELERY_API_PORT", "27200")
CELERY_REDIS_PORT = os.environ.get("JOBCHECK_LOAD_CELERY_REDIS_PORT", "27480")
CELERY_ENV = ROOT / "docker" / "celery" / "staging.env"
CELERY_OVERRIDE = f"""\
services:
  api: {{image: "jobcheck/celery-service:{TAG}"}}
  worker: {{image: "jobcheck/celery-service:{TAG}"}}
  redis: {{image: "jobcheck/demo-redis:{TAG}"}}
"""


def celery_env() -> dict[str, str]:
    values = compose_cli.env_file_values(CELERY_ENV)
    return {
        **os.environ,
        "API_PORT": CELERY_API_PORT,
        "REDIS_PORT": CELERY_REDIS_PORT,
        "REDIS_PASSWORD": values["REDIS_PASSWORD"],
    }


@pytest.fixture(scope="module")
def celery_stack(
    engine_client: DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackInfo]:
    override = tmp_path_factory.mktemp("load-celery") / "override.yaml"
    override.write_text(CELERY_OVERRIDE)
    info = StackInfo(
        compose=[ROOT / "docker" / "celery" / "compose.yaml", override],
        project=CELERY_PROJECT,
        env_file=CELERY_ENV,
        wait_s=300.0,
    )
    yield from own_stack(info, celery_env())


def test_celery_load_measures_then_a_slower_task_regresses_against_the_last_run(
    celery_stack: StackInfo, engine_client: DockerClient, tmp_path: Path
) -> None:
    broker = f"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{CELERY_REDIS_PORT}"
    checklist = tmp_path / "jobcheck.yaml"
    checklist.write_text(
        f"""\
version: 1
name: celery load itest
defaults: {{owner: "@itest", timeout: 3m}}
secrets: [REDIS_PASSWORD]
checks:
  - id: celery-load
    kind: load
    with:
      via: celery
      broker_url: "{broker}/0"
      backend_url: "{broker}/1"
      task: app.tasks.canary
      args: []
      count: {COUNT}
      concurrency: 4
      deadline: 150s
      baseline: last
"""
    )
    env = celery_env()
    first = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", "--no-color", "--json", "r1.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    load = check_of(report(tmp_path / "r1.json"), "celery-load")
    assert load["details"]["timings"].startswith("Celery's result backend date_done")
    assert load["details"]["cleanup"] == f"{COUNT} jobs removed through the celery adapter"
    metrics = load["metrics"]
    assert {"p95_total_s", "throughput_per_s", "error_rate"} <= set(metrics)
    print(
        f"\nCelery demo stack, {COUNT} canary tasks, 4 enqueuers: throughput "
        f"{metrics['throughput_per_s']}/s, p95 total {metrics['p95_total_s']}s, "
        f"jobcheck CPU {metrics['cpu_per_job_ms']} ms/job"
    )

    # The next release's task is slower (what a load check is there to catch): the worker's
    # speed is not the measure — the canary is a no-op, and neither a CPU throttle nor pausing
    # the worker half the time moved the p95 beyond noise on a loaded machine.
    text = checklist.read_text()
    checklist.write_text(
        text.replace("task: app.tasks.canary", "task: app.tasks.sleep").replace(
            "args: []", f"args: [{SLOWER_TASK_S}]"
        )
    )
    slow = subprocess.run(
        [sys.executable, "-m", "jobcheck", "run", "--no-color", "--json", "r2.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert slow.returncode == 1, slow.stdout + slow.stderr
    regressed = check_of(report(tmp_path / "r2.json"), "celery-load")
    first_line = regressed["message"].splitlines()[0]
    assert first_line.startswith(("p95 total", "throughput")), first_line
    assert "tolerance 25 %) against the run of " in first_line, first_line
    print(f"the task {SLOWER_TASK_S:g}s slower: {first_line}")
