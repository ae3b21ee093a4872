"""The rollback drill against the real RQ and Celery stacks, run as `jobcheck run` (a
subprocess, as a release captain runs it): a compatible release passes; a test-only new
release whose job signature changed fails naming the framework's error; a rollback command that
fails is reported with its output; and the stack is left at the new release on every path,
Ctrl-C included.

Releases are images of their own tags (``rdrill-new``, ``rdrill-previous``, and the test-only
``rdrill-priority`` from tests/fixtures/releases/), so the demo's images are never replaced.
Compose projects ``jobcheck-rdrill-rq`` (127.0.0.1:18600 API, :16600 Redis) and
``jobcheck-rdrill-celery`` (:18610, :16610), each overridable through the environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._compose import (
    DOCKER,
    ROOT,
    Stack,
    build_lock,
    compose_command,
    env_file_values,
    fresh,
    run,
    wait_for,
)
from ._drills import stack_up

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

NEW, PREVIOUS, PRIORITY = "rdrill-new", "rdrill-previous", "rdrill-priority"
RELEASES = ROOT / "tests" / "fixtures" / "releases"
JOBCHECK = Path(sys.executable).parent / "jobcheck"
RUN_TIMEOUT_S = 600.0
PRIORITY_ERROR = "TypeError: canary() got an unexpected keyword argument 'priority'"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"JOBCHECK_RDRILL_{name}", default)


@dataclass
class Flavour:
    """One demo stack and how its drill enqueues."""

    name: str
    stack: Stack
    image: str  # the api/worker image name, without the tag
    api: str
    broker: str
    inflight: dict[str, Any]
    canary: dict[str, Any]

    def compose(self, tag: str | None = None) -> list[str]:
        """The compose command line a deployment runs, at ``tag`` (else APP_TAG's)."""
        files = [arg for path in self.stack.files for arg in ("-f", str(path))]
        prefix = ["env", f"APP_TAG={tag}"] if tag else []
        return [*prefix, *compose_command(), "-p", self.stack.project, *files]

    def deploy(self, tag: str | None = None) -> list[str]:
        return [*self.compose(tag), "up", "-d", "--no-deps", "--no-build", "api", "worker"]


def _rq() -> Flavour:
    password = env_file_values(DOCKER / "staging.env")["REDIS_PASSWORD"]
    api_port, redis_port = _env("RQ_API_PORT", "18600"), _env("RQ_REDIS_PORT", "16600")
    redis = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    api = f"http://127.0.0.1:{api_port}"
    stack = Stack(
        _env("RQ_PROJECT", "jobcheck-rdrill-rq"),
        [DOCKER / "compose.yaml"],
        {"API_PORT": api_port, "REDIS_PORT": redis_port, "APP_TAG": NEW},
    )
    return Flavour(
        "rq",
        stack,
        "jobcheck/demo-service",
        api,
        redis,
        inflight={
            "via": "http",
            "enqueue_url": f"{api}/jobs/canary",
            "status_url": f"{api}/jobs/{{id}}",
            "redis_url": redis,
        },
        canary={"via": "rq", "redis_url": redis, "task": "app.jobs.canary"},
    )


def _celery() -> Flavour:
    password = env_file_values(DOCKER / "celery" / "staging.env")["REDIS_PASSWORD"]
    api_port, redis_port = _env("CELERY_API_PORT", "18610"), _env("CELERY_REDIS_PORT", "16610")
    broker = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    backend = f"redis://:{password}@127.0.0.1:{redis_port}/1"
    stack = Stack(
        _env("CELERY_PROJECT", "jobcheck-rdrill-celery"),
        [DOCKER / "celery" / "compose.yaml"],
        {"API_PORT": api_port, "REDIS_PORT": redis_port, "APP_TAG": NEW},
    )
    celery = {"via": "celery", "broker_url": broker, "backend_url": backend}
    return Flavour(
        "celery",
        stack,
        "jobcheck/celery-service",
        f"http://127.0.0.1:{api_port}",
        broker,
        inflight={**celery, "task": "app.tasks.canary"},
        canary={**celery, "task": "app.tasks.canary"},
    )


def _images(flavour: Flavour) -> None:
    """The previous release and the test-only incompatible new one, beside NEW (built by
    ``stack_up``): layers are shared, so these take seconds."""
    Stack(
        flavour.stack.project, flavour.stack.files, {**flavour.stack.variables, "APP_TAG": PREVIOUS}
    ).build("api")
    folder = RELEASES / f"{flavour.name}-priority"
    with build_lock():
        run(
            [
                "docker",
                "build",
                "-q",
                "--build-arg",
                f"FROM_IMAGE={flavour.image}:{NEW}",
                "-t",
                f"{flavour.image}:{PRIORITY}",
                str(folder),
            ],
            timeout_s=600,
        )


@pytest.fixture(scope="module", params=["rq", "celery"])
def flavour(request: pytest.FixtureRequest, engine_client: DockerClient) -> Iterator[Flavour]:
    chosen = _rq() if request.param == "rq" else _celery()
    with stack_up(engine_client, chosen.stack):
        _images(chosen)
        yield chosen


@pytest.fixture
def at_new(flavour: Flavour, engine_client: DockerClient) -> Iterator[Flavour]:
    """Each test starts and ends with the stack at NEW, healthy."""
    yield flavour
    run(flavour.deploy(NEW), timeout_s=300, env=flavour.stack.env())
    flavour.stack.wait_ready(engine_client)


def checklist(tmp_path: Path, flavour: Flavour, drill: dict[str, Any]) -> Path:
    """The drill beside the checks it rechecks, as JSON (a YAML subset)."""
    doc = {
        "version": 1,
        "name": f"rollback drill ({flavour.name})",
        "secrets": ["DRILL_PASSWORD"],
        "defaults": {"owner": "@jobs", "expect": "x", "rollback": "x", "timeout": "5m"},
        "stack": {
            "compose": [str(p) for p in flavour.stack.files],
            "project": flavour.stack.project,
        },
        "checks": [
            {
                "id": "api-health",
                "kind": "http",
                "with": {"url": f"{flavour.api}/health", "status": 200, "wait": "60s"},
            },
            {
                "id": "canary",
                "kind": "job",
                "with": {**flavour.canary, "deadline": "30s"},
            },
            {
                "id": "drill",
                "kind": "rollback_drill",
                "with": {
                    "deploy": flavour.deploy(),
                    "rollback": flavour.deploy(PREVIOUS),
                    "recheck": ["api-health", "canary"],
                    "inflight": {**flavour.inflight, "count": 3},
                    "deadline": "60s",
                    **drill,
                },
            },
        ],
    }
    path = tmp_path / "drill.yaml"
    path.write_text(json.dumps(doc, indent=1))
    return path


def jobcheck(path: Path, flavour: Flavour, app_tag: str = NEW) -> subprocess.Popen[str]:
    out = path.with_suffix(".json")
    env = {**flavour.stack.env(), "APP_TAG": app_tag, "NO_COLOR": "1"}
    argv = [str(JOBCHECK), "run", str(path), "--only", "drill", "--json", str(out)]
    # As a terminal would start it: SIGINT at its default. scripts/test.sh runs this half as a
    # background job of a non-interactive shell, which starts with SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored (no KeyboardInterrupt): the Ctrl-C test would send nothing.
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def finished(proc: subprocess.Popen[str], path: Path) -> tuple[int, dict[str, Any], str]:
    output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    report = json.loads(path.with_suffix(".json").read_text())
    drill = next(c for c in report["checks"] if c["id"] == "drill")
    print(output, drill["message"], drill.get("output", ""), sep="\n")
    return proc.returncode, drill, output


def worker_tag(sdk: DockerClient, flavour: Flavour) -> list[str]:
    """The image tags of the running workers, and they are healthy (bounded wait)."""

    def ready() -> list[str] | None:
        workers = fresh(flavour.stack.containers(sdk, "worker"))
        healthy = [
            c for c in workers if c.attrs["State"].get("Health", {}).get("Status") == "healthy"
        ]
        return [c.attrs["Config"]["Image"] for c in healthy] or None

    return wait_for("a healthy worker", ready, 120.0)


def test_a_compatible_release_passes(
    at_new: Flavour, tmp_path: Path, engine_client: DockerClient
) -> None:
    path = checklist(tmp_path, at_new, {})
    code, drill, output = finished(jobcheck(path, at_new), path)
    assert code == 0, output
    assert drill["status"] == "pass"
    assert drill["message"].startswith(
        "rollback rehearsed; 3 jobs enqueued on the new release finished on the previous one; "
        "api-health, canary passed after the rollback; deploy "
    )
    assert drill["message"].endswith("; the new release is deployed again")
    assert [r["status"] for r in drill["details"]["recheck"]] == ["pass", "pass"]
    images = drill["details"]["images"]
    assert images["new"] != images["after_rollback"]
    assert worker_tag(engine_client, at_new) == [f"{at_new.image}:{NEW}"]
    assert at_new.broker.split("@")[0].split(":")[-1] not in json.dumps(drill)  # masked


def test_an_incompatible_release_fails_naming_the_error(
    at_new: Flavour, tmp_path: Path, engine_client: DockerClient
) -> None:
    # The new release's canary takes `priority`; the previous release's does not.
    inflight = {**at_new.canary, "kwargs": {"priority": 2}, "count": 3}
    path = checklist(tmp_path, at_new, {"inflight": inflight, "recheck": ["api-health"]})
    code, drill, output = finished(jobcheck(path, at_new, app_tag=PRIORITY), path)
    assert code == 1, output
    assert drill["status"] == "fail"
    assert drill["message"].startswith(
        f"3 of 3 jobs enqueued on the new release failed on the previous one: {PRIORITY_ERROR}"
    )
    assert worker_tag(engine_client, at_new) == [f"{at_new.image}:{PRIORITY}"]  # redeployed


def test_a_recheck_failing_after_the_rollback_fails_the_drill(
    at_new: Flavour, tmp_path: Path, engine_client: DockerClient
) -> None:
    path = checklist(tmp_path, at_new, {"recheck": ["api-health", "worker-image"]})
    doc = json.loads(path.read_text())
    project = f"label=com.docker.compose.project={at_new.stack.project}"
    worker = "label=com.docker.compose.service=worker"
    ps = ["docker", "ps", "--filter", project, "--filter", worker, "--format", "{{.Image}}"]
    doc["checks"].append(
        {
            "id": "worker-image",
            "kind": "command",
            "with": {"run": ps, "stdout_contains": f":{NEW}"},
        }
    )
    path.write_text(json.dumps(doc))
    code, drill, output = finished(jobcheck(path, at_new), path)
    assert code == 1, output
    assert drill["status"] == "fail"
    assert drill["message"].startswith("after the rollback worker-image failed: `docker ps ")
    assert f"stdout does not contain ':{NEW}'" in drill["message"]
    assert drill["message"].endswith("; the new release is deployed again")
    assert [r["status"] for r in drill["details"]["recheck"]] == ["pass", "fail"]
    assert worker_tag(engine_client, at_new) == [f"{at_new.image}:{NEW}"]


def test_a_failing_rollback_is_reported_with_its_output(
    at_new: Flavour, tmp_path: Path, engine_client: DockerClient
) -> None:
    script = "echo pulling jobcheck/demo-service:v0.1.9; echo 'manifest unknown' >&2; exit 1"
    path = checklist(tmp_path, at_new, {"rollback": ["sh", "-c", script]})
    code, drill, output = finished(jobcheck(path, at_new), path)
    assert code == 1, output
    assert drill["status"] == "fail"
    assert drill["message"].startswith("rollback exited 1 after ")
    assert ": manifest unknown" in drill["message"]
    assert (
        "--- rollback output (last lines) ---\npulling jobcheck/demo-service:v0.1.9\n"
        in (drill["output"])
    )
    assert "redeploy: `" in drill["output"]  # redeploy ran: the stopped workers are back
    assert worker_tag(engine_client, at_new) == [f"{at_new.image}:{NEW}"]


def test_ctrl_c_during_the_rollback_still_redeploys(
    at_new: Flavour, tmp_path: Path, engine_client: DockerClient
) -> None:
    path = checklist(tmp_path, at_new, {"rollback": ["sleep", "120"]})
    proc = jobcheck(path, at_new)

    def workers_stopped() -> bool | None:
        workers = at_new.stack.containers(engine_client, "worker")
        return True if workers and all(c.status == "exited" for c in workers) else None

    try:
        wait_for("the drill stopping the workers", workers_stopped, 120.0)
        time.sleep(2.0)  # enqueued, and into the rollback
        proc.send_signal(signal.SIGINT)
        code, drill, output = finished(proc, path)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, output
    assert drill["status"] == "error"
    assert "rollback was interrupted after" in drill["message"]
    assert "redeploy: `" in drill["output"]
    assert worker_tag(engine_client, at_new) == [f"{at_new.image}:{NEW}"]
