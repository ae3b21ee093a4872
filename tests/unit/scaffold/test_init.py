from __future__ import annotations

import io
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from jobcheck import kinds
from jobcheck.commands.run import run as run_command
from jobcheck.loading import load_checklist
from jobcheck.pipeline import GateRequest
from jobcheck.scaffold import ChecklistExists, detect, init_checklist, render


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


PLAIN = {
    "pyproject.toml": """
        [project]
        name = "plain-service"
        version = "0.3.0"
        dependencies = ["httpx>=0.27"]

        [tool.ruff]
        line-length = 100
        """,
    "src/plain_service/__init__.py": '"""A plain service."""\n\nVERSION = "0.3.0"\n',
    "tests/test_version.py": """
        from plain_service import VERSION


        def test_version() -> None:
            assert VERSION == "0.3.0"
        """,
    "tests/conftest.py": """
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
        """,
    "CHANGELOG.md": "# Changelog\n\n## 0.3.0\n\n- first release\n",
    ".gitignore": "__pycache__/\n.pytest_cache/\n.ruff_cache/\n",
}

RQ = {
    "pyproject.toml": """
        [project]
        name = "billing"
        version = "1.4.0"
        dependencies = ["fastapi", "rq>=1.16", "redis>=5"]
        """,
    "billing/__init__.py": "",
    "tests/test_nothing.py": "def test_ok() -> None:\n    assert True\n",
    "compose.yaml": """
        services:
          api:
            image: billing:1.4.0
            command: ["uvicorn", "billing.api:app"]
            ports: ["127.0.0.1:${API_PORT:-8000}:8000"]
            healthcheck: {test: ["CMD", "true"]}
          worker:
            image: billing:1.4.0
            command: rq worker --url redis://redis:6379 default
          redis:
            image: redis:7.2
            ports: ["127.0.0.1:6379:6379"]
        """,
    ".env.example": "DEBUG=false\nREDIS_PASSWORD=changeme\nAPI_TOKEN=changeme\n",
    "staging.env": "DEBUG=false\nREDIS_PASSWORD=${REDIS_PASSWORD}\nAPI_TOKEN=${API_TOKEN}\n",
}

CELERY = {
    "requirements.txt": "django==5.0\ncelery[redis]==5.3.6  # the job library\n",
    "requirements-dev.txt": "pytest\n",
    "docker/docker-compose.yml": """
        services:
          web:
            build: ..
            ports: ["8080:8000"]
          celery-worker:
            build: ..
            command: celery -A shop worker -l info
          beat:
            build: ..
            command: celery -A shop beat
          rabbitmq:
            image: rabbitmq:3.13
            ports: ["5672:5672"]
        """,
    "docker/.env.staging": "DEBUG=0\nCELERY_BROKER_URL=amqp://rabbitmq\n",
    "CHANGELOG.rst": "Changelog\n=========\n",
}


def loads(path: Path) -> object:
    """Validate through the real loader, kinds' options included."""
    return load_checklist(path, {})


def test_plain_project(tmp_path: Path) -> None:
    root = write(tmp_path, PLAIN)
    path = init_checklist(root, force=False)
    assert path == root / "jobcheck.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./checklist.schema.json\n")
    checklist = loads(path)
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    assert list(checks) == ["lint", "imports", "tests", "release-tag"]
    assert {c.kind for c in checks.values()} == {"lint", "command", "pytest", "release"}
    for check in checks.values():
        assert check.owner == "@TODO-owner"
        assert check.expect and check.rollback.startswith("TODO: ")
    assert checks["lint"].title == "Lint is clean: ruff (pyproject.toml)"
    assert checks["imports"].options.env == {"PYTHONPATH": "src"}
    assert checks["tests"].options.args == ["tests"]
    assert checks["release-tag"].options.tag == "v0.3.0"  # ${RELEASE_TAG:-v0.3.0}
    assert checks["release-tag"].options.changelog == "CHANGELOG.md"
    assert checklist.stack is None  # type: ignore[attr-defined]


def test_plain_project_passes_its_own_checklist(tmp_path: Path) -> None:
    root = write(tmp_path, PLAIN)
    init_checklist(root, force=False)
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")} | env
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *argv], cwd=root, env=environ, check=True)
    options = GateRequest(
        checklist=root / "jobcheck.yaml", extra_env={"RELEASE_TAG": "v0.3.0"}, history=False
    )
    out = io.StringIO()
    code = run_command(options, environ | options.extra_env, out)
    assert code == 0, out.getvalue()


RQ_EXPECTED_IDS = [
    "lint", "imports", "tests", "env-example", "env-staging", "compose-config",
    "api-running", "worker-running", "redis-running", "api-health", "queue-health", "canary-job",
    "release-tag",
]  # fmt: skip


def test_rq_project_with_compose(tmp_path: Path) -> None:
    root = write(tmp_path, RQ)
    project = detect(root)
    assert project.job_library == "rq"
    assert [(s.name, s.worker, s.web, s.datastore) for s in project.services] == [
        ("api", False, True, False),
        ("worker", True, False, False),
        ("redis", False, False, True),
    ]
    checklist = loads(init_checklist(root, force=False))
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    assert list(checks) == RQ_EXPECTED_IDS
    assert checklist.stack.compose == ["compose.yaml"]  # type: ignore[attr-defined]
    assert checklist.stack.project == "billing-staging"  # type: ignore[attr-defined]
    staging = checks["env-staging"].options
    assert staging.same_keys_as == ".env.example"
    assert staging.required == ["DEBUG", "REDIS_PASSWORD", "API_TOKEN"]
    assert checks["env-example"].options.secrets is False
    assert checks["compose-config"].options.worker_services == ["worker"]
    health = checks["api-health"]
    assert health.options.url == "http://127.0.0.1:8000/health"  # ${API_PORT:-8000}
    assert health.tags == ["integration"]
    assert checks["worker-running"].options.healthy is None  # no healthcheck to require
    assert checks["api-running"].options.healthy is True
    queue, job = checks["queue-health"].options, checks["canary-job"].options
    assert queue.redis_url == "redis://:@127.0.0.1:6379/0"  # ${REDIS_PASSWORD:-} unset
    assert (queue.min_workers, queue.maxmemory_policy) == (1, "noeviction")
    assert (job.via, job.function, job.redis_url) == ("rq", "os.getpid", queue.redis_url)
    with_password = load_checklist(root / "jobcheck.yaml", {"REDIS_PASSWORD": "pw"})
    assert with_password.check("queue-health").options.redis_url == (  # type: ignore[union-attr]
        "redis://:pw@127.0.0.1:6379/0"
    )
    assert "pw" not in (root / "jobcheck.yaml").read_text(encoding="utf-8")
    assert checks["release-tag"].options.changelog is None


def test_celery_project_with_compose_in_docker_folder(tmp_path: Path) -> None:
    root = write(tmp_path, CELERY)
    project = detect(root)
    assert project.job_library == "celery"
    assert project.compose_files == ["docker/docker-compose.yml"]
    assert [s.name for s in project.services if s.worker] == ["celery-worker", "beat"]
    assert project.env_files == ["docker/.env.staging"]
    assert project.changelog == "CHANGELOG.rst"
    checklist = loads(init_checklist(root, force=False))
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    assert "web-health" in checks and "rabbitmq-health" not in checks
    assert checks["web-health"].options.url == "http://127.0.0.1:8080/health"
    assert checks["env-staging"].options.forbidden == {"DEBUG": ["1", "true", "yes", "on"]}
    assert checks["release-tag"].options.match_version is False  # no pyproject version
    assert checks["release-tag"].options.changelog == "CHANGELOG.rst"
    assert "imports" not in checks and "tests" not in checks
    assert "queue-health" not in checks and "canary-job" not in checks  # RQ only
    assert [c for c in checks if c.endswith("-running")] == [
        "web-running", "celery-worker-running", "beat-running", "rabbitmq-running",
    ]  # fmt: skip


def test_header_lists_what_was_found(tmp_path: Path) -> None:
    text = render(detect(write(tmp_path, RQ)), available=kinds.names())
    assert "#   - job library: rq\n" in text
    assert "#   - compose file compose.yaml (services: api, worker, redis)\n" in text
    assert "#   - env files: .env.example, staging.env\n" in text


def test_dollar_signs_from_the_project_are_not_interpolated(tmp_path: Path) -> None:
    root = write(tmp_path, {"pyproject.toml": '[project]\nname = "cost$calc"\nversion = "1.0.0"\n'})
    checklist = loads(init_checklist(root, force=False))
    assert checklist.name == "cost$calc release"  # type: ignore[attr-defined]


def test_empty_folder_still_gives_a_valid_checklist(tmp_path: Path) -> None:
    checklist = loads(init_checklist(tmp_path, force=False))
    assert [c.id for c in checklist.checks] == ["lint", "release-tag"]  # type: ignore[attr-defined]
    text = (tmp_path / "jobcheck.yaml").read_text(encoding="utf-8")
    assert "#   - nothing specific: add your own checks\n" in text
    assert yaml.safe_load(text)["checks"][1]["with"]["match_version"] is False


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    existing = tmp_path / "jobcheck.yaml"
    existing.write_text("mine\n", encoding="utf-8")
    with pytest.raises(ChecklistExists) as caught:
        init_checklist(tmp_path, force=False)
    assert caught.value.exit_code == 1
    assert "already exists" in caught.value.render() and "--force" in caught.value.render()
    assert existing.read_text(encoding="utf-8") == "mine\n"
    init_checklist(tmp_path, force=True)
    assert existing.read_text(encoding="utf-8").startswith("# yaml-language-server:")
    assert [p.name for p in tmp_path.iterdir()] == ["jobcheck.yaml"]  # no temp file left


def test_init_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    write(tmp_path, RQ)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert f"wrote {tmp_path / 'jobcheck.yaml'} with 13 checks: lint, imports," in first.output
    assert runner.invoke(app, ["validate", "--strict"]).exit_code == 0
    second = runner.invoke(app, ["init"])
    assert second.exit_code == 1 and "--force" in second.output
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
