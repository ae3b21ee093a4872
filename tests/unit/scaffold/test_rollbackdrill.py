"""`init` writes a commented rollback drill with the project's own compose commands; once
filled in and uncommented, it loads."""

from __future__ import annotations

import re
from pathlib import Path

from jobcheck.loading import load_checklist
from jobcheck.scaffold import init_checklist

from .conftest import write

PROJECT = {
    "pyproject.toml": """
        [project]
        name = "billing"
        version = "1.4.0"
        dependencies = ["fastapi", "rq>=1.16", "redis>=5"]
        """,
    "billing/__init__.py": "",
    "compose.yaml": """
        services:
          api:
            image: registry.example/billing:${APP_TAG:-1.4.0}
            command: ["uvicorn", "billing.api:app"]
            ports: ["127.0.0.1:${API_PORT:-8000}:8000"]
            healthcheck: {test: ["CMD", "true"]}
          worker:
            image: registry.example/billing-worker:${WORKER_TAG:-1.4.0}
            command: rq worker --url redis://redis:6379 default
          redis:
            image: redis:7.2
            ports: ["127.0.0.1:6379:6379"]
        """,
}

DRILL = re.compile(r"(  # A rollback rehearsal.*?\n)\n", re.DOTALL)


def init(root: Path) -> str:
    path = init_checklist(root, force=False, environ={}, compose_cli=lambda: "docker compose")
    return path.read_text(encoding="utf-8")


def drill_text(text: str) -> str:
    match = DRILL.search(text)
    assert match is not None, text
    return match.group(1)


def uncommented(text: str) -> str:
    """The checklist with the drill's check lines uncommented, as a user would."""
    block = drill_text(text)
    notes, check = block.split("  # - id:", 1)
    lines = ["  - id:" + check.splitlines(keepends=True)[0]]
    lines += ["  " + line[4:] for line in check.splitlines(keepends=True)[1:]]
    return text.replace(block, notes + "".join(lines))


def test_init_writes_a_commented_drill_with_the_projects_commands(tmp_path: Path) -> None:
    text = init(write(tmp_path / "billing", PROJECT))
    block = drill_text(text)
    deploy = "docker compose -p billing-staging up -d --no-deps api worker"
    assert f"  #     deploy: {deploy}\n" in block
    previous = "env APP_TAG=TODO-previous-tag WORKER_TAG=TODO-previous-tag"
    assert f"  #     rollback: {previous} {deploy}\n" in block
    assert "  # - rollback: set APP_TAG, WORKER_TAG to your previous release's tag" in block
    assert "  #     recheck: [queue-default, canary-job]\n" in block
    assert "function: os.getpid, count: 3}" in block
    assert "  #   needs: [queue-default, canary-job, worker-shutdown]\n" in block
    assert "&id" not in block


def test_the_drill_loads_once_uncommented(tmp_path: Path) -> None:
    root = write(tmp_path / "billing", PROJECT)
    path = root / "jobcheck.yaml"
    path.write_text(uncommented(init(root)), encoding="utf-8")
    drill = load_checklist(path, {}).check("rollback-drill")
    assert drill is not None
    assert drill.options.rollback[:3] == [
        "env",
        "APP_TAG=TODO-previous-tag",
        "WORKER_TAG=TODO-previous-tag",
    ]  # type: ignore[attr-defined]
    assert drill.options.inflight.via == "rq"  # type: ignore[attr-defined]


def test_without_tag_variables_the_note_says_to_add_one(tmp_path: Path) -> None:
    files = dict(PROJECT)
    files["compose.yaml"] = (
        files["compose.yaml"]
        .replace("${APP_TAG:-1.4.0}", "1.4.0")
        .replace("${WORKER_TAG:-1.4.0}", "1.4.0")
    )
    block = drill_text(init(write(tmp_path / "billing", files)))
    assert "rollback: 'TODO: docker compose -p billing-staging up -d --no-deps api worker at" in (
        block
    )
    assert "your images carry no tag variable" in block


def test_no_workers_no_drill(tmp_path: Path) -> None:
    files = {"pyproject.toml": PROJECT["pyproject.toml"], "billing/__init__.py": ""}
    assert "rollback rehearsal" not in init(write(tmp_path / "billing", files))
