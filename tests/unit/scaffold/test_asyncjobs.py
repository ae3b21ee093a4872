"""``jobcheck init`` on the arq and Dramatiq samples (docker/samples/fastapi-arq, flask-dramatiq):
it finds the worker by its command, the jobs in the source, the broker in the env file, and
writes queue, canary and drill checks that load."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from jobcheck.loading import load_checklist
from jobcheck.scaffold import init_checklist
from jobcheck.scaffold.asyncjobs import find

SAMPLES = Path(__file__).parents[3] / "docker" / "samples"


def project(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(SAMPLES / name, root, ignore=shutil.ignore_patterns(".env", "__pycache__"))
    return root


def init(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    path = init_checklist(root, force=False, environ={}, compose_cli=lambda: "docker-compose")
    load_checklist(path, {"REDIS_PASSWORD": "x" * 16})
    text = path.read_text(encoding="utf-8")
    return text, {c["id"]: c for c in yaml.safe_load(text)["checks"]}


def test_arq_jobs_are_read_from_worker_settings(tmp_path: Path) -> None:
    found = find(project(tmp_path, "fastapi-arq"), "arq")
    assert [j.name for j in found.jobs] == ["send_email", "sleep", "canary", "fail", "report"]
    assert found.canary() is not None and found.canary().name == "canary"  # type: ignore[union-attr]
    assert found.sleeper() is not None and found.sleeper().name == "sleep"  # type: ignore[union-attr]


def test_init_writes_arq_checks(tmp_path: Path) -> None:
    text, checks = init(project(tmp_path, "fastapi-arq"))
    queue = checks["queue-arq"]["with"]
    assert queue["framework"] == "arq" and queue["queue"] == "arq:queue"
    assert queue["redis_url"].startswith("redis://:${REDIS_PASSWORD")
    assert (
        checks["canary-arq"]["with"] | {"via": "arq", "task": "canary"}
        == checks["canary-arq"]["with"]
    )
    drill = checks["worker-shutdown"]
    assert drill["with"]["via"] == "arq" and drill["with"]["task"] == "sleep"
    assert set(drill["needs"]) >= {"queue-arq", "canary-arq"}
    assert "stg-only" not in text  # the sample's password stays a ${NAME} reference
    assert "read RQ and Celery" not in text


def test_init_writes_dramatiq_checks_with_the_results_backend(tmp_path: Path) -> None:
    root = project(tmp_path, "flask-dramatiq")
    found = find(root, "dramatiq")
    assert found.results
    assert {"send_email", "sleep", "canary", "fail"} <= {j.name for j in found.jobs}
    text, checks = init(root)
    queue = checks["queue-dramatiq"]["with"]
    assert queue["framework"] == "dramatiq" and queue["queue"] == "default"
    canary = checks["canary-dramatiq"]["with"]
    assert canary["via"] == "dramatiq" and canary["task"] == "canary"
    assert "backend_url" not in canary  # RESULTS_URL is the app's own name: not guessed
    assert "Results middleware: its Redis URL was not found" in text
    assert checks["worker-shutdown"]["with"]["task"] == "sleep"
    assert "stg-only" not in text


def test_an_arq_project_without_jobs_gets_commented_examples(tmp_path: Path) -> None:
    root = project(tmp_path, "fastapi-arq")
    (root / "app" / "worker.py").write_text(
        "class WorkerSettings:\n    functions = []\n", encoding="utf-8"
    )
    text, checks = init(root)
    assert "queue-arq" in checks and "canary-arq" not in checks
    assert "# - id: canary-arq" in text and "Name a job that takes no argument" in text
