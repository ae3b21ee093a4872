from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from jobcheck.checklist import SCHEMA_URL
from jobcheck.commands.run import run as run_command
from jobcheck.errors import RuntimeFailure
from jobcheck.loading import load_checklist
from jobcheck.pipeline import GateRequest
from jobcheck.scaffold import (
    ChecklistExists,
    Setting,
    capabilities,
    detect,
    find_root,
    init_checklist,
    init_command,
    render,
)
from jobcheck.schema_gen import checklist_schema

from .conftest import write


def init(root: Path, *, force: bool = False) -> Path:
    """``init`` as on a machine without Docker's compose plugin, outside any virtualenv."""
    return init_checklist(root, force=force, environ={}, compose_cli=lambda: "docker-compose")


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
    path = init(root)
    assert path == root / "jobcheck.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./checklist.schema.json\n")
    checklist = loads(path)
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    # no virtualenv: the imports check is an example (the system python3 lacks the deps)
    assert list(checks) == ["lint", "tests", "release-tag"]
    assert "  # - id: imports\n" in text and "No virtualenv found" in text
    assert {c.kind for c in checks.values()} == {"lint", "pytest", "release"}
    for check in checks.values():
        assert check.owner == "@TODO-owner"
        assert check.expect and check.rollback.startswith("TODO: ")
    assert checks["lint"].title == "Lint is clean: ruff (pyproject.toml)"
    assert checks["tests"].options.args == []  # plain pytest from the root
    assert checks["tests"].options.python is None  # no virtualenv: jobcheck's interpreter
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("", encoding="utf-8")
    checks = {c.id: c for c in loads(init(root, force=True)).checks}  # type: ignore[attr-defined]
    assert checks["imports"].options.run == [".venv/bin/python", "-c", "import plain_service"]
    assert checks["imports"].options.env == {"PYTHONPATH": "src"}
    assert checks["release-tag"].options.tag == "v0.3.0"  # ${RELEASE_TAG:-v0.3.0}
    assert checks["release-tag"].options.changelog == "CHANGELOG.md"
    assert checklist.stack is None  # type: ignore[attr-defined]


def test_plain_project_passes_its_own_checklist(tmp_path: Path) -> None:
    root = write(tmp_path, PLAIN)
    init(root)
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
    "lint", "tests", "env-example", "env-staging", "compose-config",
    "api-running", "worker-running", "redis-running", "queue-default", "canary-job",
    "worker-shutdown", "release-tag",
]  # fmt: skip


def test_rq_project_with_compose(tmp_path: Path) -> None:
    root = write(tmp_path, RQ)
    project = detect(root, {})
    assert project.job_library == "rq"
    assert [(s.name, s.worker, s.web, s.datastore) for s in project.services] == [
        ("api", False, True, False),
        ("worker", True, False, False),
        ("redis", False, False, True),
    ]
    checklist = loads(init(root))
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    assert list(checks) == RQ_EXPECTED_IDS
    assert checklist.stack.compose == ["compose.yaml"]  # type: ignore[attr-defined]
    assert checklist.stack.project == "billing-staging"  # type: ignore[attr-defined]
    staging = checks["env-staging"].options
    assert staging.same_keys_as == ".env.example"
    assert staging.required == ["DEBUG", "REDIS_PASSWORD", "API_TOKEN"]
    assert checks["env-example"].options.secrets is False
    assert checks["env-example"].options.allow_empty == ["DEBUG", "REDIS_PASSWORD", "API_TOKEN"]
    assert checks["compose-config"].options.worker_services == ["worker"]
    assert checks["worker-running"].options.healthy is None  # no healthcheck to require
    assert checks["api-running"].options.healthy is True
    queue, job = checks["queue-default"].options, checks["canary-job"].options
    assert queue.redis_url == "redis://:@127.0.0.1:6379/0"  # ${REDIS_PASSWORD:-} unset
    assert (queue.min_workers, queue.maxmemory_policy) == (1, "noeviction")
    assert (job.via, job.function, job.redis_url) == ("rq", "os.getpid", queue.redis_url)
    drill = checks["worker-shutdown"]
    assert (drill.options.service, drill.options.function) == ("worker", "time.sleep")
    assert drill.needs == ["worker-running"]
    assert drill.after == ["queue-default", "canary-job"]  # never beside them, whatever they ended
    with_password = load_checklist(root / "jobcheck.yaml", {"REDIS_PASSWORD": "pw"})
    assert with_password.check("queue-default").options.redis_url == (  # type: ignore[union-attr]
        "redis://:pw@127.0.0.1:6379/0"
    )
    text = (root / "jobcheck.yaml").read_text(encoding="utf-8")
    assert "pw" not in text
    # the api's code is not in the sample: the http check is an example to fix and uncomment
    assert "  # No route found in the code for api" in text
    assert "  # - id: api-health\n" in text
    assert "url: 'http://${stack.api.8000}/health'" in text
    assert checks["release-tag"].options.changelog is None


def test_celery_project_with_compose_in_docker_folder(tmp_path: Path) -> None:
    root = write(tmp_path / "shop", CELERY)
    project = detect(root, {})
    assert project.job_library == "celery"
    assert project.compose_files == ["docker/docker-compose.yml"]
    assert [(s.name, s.role) for s in project.services] == [
        ("web", "web"), ("celery-worker", "worker"), ("beat", "scheduler"),
        ("rabbitmq", "datastore"),
    ]  # fmt: skip
    assert [f.name for f in project.env_files] == ["docker/.env.staging"]
    assert project.changelog == "CHANGELOG.rst"
    checklist = loads(init(root))
    checks = {c.id: c for c in checklist.checks}  # type: ignore[attr-defined]
    assert "web-health" not in checks and "rabbitmq-health" not in checks
    assert checks["env-staging"].options.forbidden == {"DEBUG": ["1", "true", "yes", "on"]}
    assert checks["release-tag"].options.match_version is False  # no pyproject version
    assert checks["release-tag"].options.changelog == "CHANGELOG.rst"
    assert "imports" not in checks and "tests" not in checks
    assert [c for c in checks if c.endswith("-running")] == [
        "web-running", "celery-worker-running", "beat-running", "rabbitmq-running",
    ]  # fmt: skip
    assert checks["beat-running"].rollback == (
        "TODO: roll beat back to the last release's image (`docker-compose -p shop-staging "
        "-f docker/docker-compose.yml up -d --no-deps beat`); if it only hung: `docker-compose "
        "-p shop-staging -f docker/docker-compose.yml restart beat`; its logs tell why"
    )


def test_header_lists_what_was_found(tmp_path: Path) -> None:
    text = render(Setting(detect(write(tmp_path, RQ), {}), capabilities()))
    assert "#   - job library: rq\n" in text
    assert "#   - compose file compose.yaml: web: api; worker: worker; datastore: redis\n" in text
    assert "#   - env files: .env.example (template), staging.env\n" in text
    assert (
        "#   - tests: plain `pytest` (its own discovery), from no pytest configuration: 1 test "
        "file\n" in text
    )


def test_dollar_signs_from_the_project_are_not_interpolated(tmp_path: Path) -> None:
    root = write(tmp_path, {"pyproject.toml": '[project]\nname = "cost$calc"\nversion = "1.0.0"\n'})
    checklist = loads(init(root))
    assert checklist.name == "cost$calc release"  # type: ignore[attr-defined]


def test_empty_folder_still_gives_a_valid_checklist(tmp_path: Path) -> None:
    checklist = loads(init(tmp_path))
    assert [c.id for c in checklist.checks] == ["lint", "release-tag"]  # type: ignore[attr-defined]
    text = (tmp_path / "jobcheck.yaml").read_text(encoding="utf-8")
    assert "#   - nothing specific: add your own checks\n" in text
    assert yaml.safe_load(text)["checks"][1]["with"]["match_version"] is False


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    existing = tmp_path / "jobcheck.yaml"
    existing.write_text("mine\n", encoding="utf-8")
    with pytest.raises(ChecklistExists) as caught:
        init(tmp_path)
    assert caught.value.exit_code == 1
    assert "already exists" in caught.value.render() and "--force" in caught.value.render()
    assert existing.read_text(encoding="utf-8") == "mine\n"
    init(tmp_path, force=True)
    assert existing.read_text(encoding="utf-8").startswith("# yaml-language-server:")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checklist.schema.json", "jobcheck.yaml"]  # no temp file left


def test_the_modeline_points_at_the_schema_written_beside_it(tmp_path: Path) -> None:
    text = init(tmp_path).read_text(encoding="utf-8")
    target = text.splitlines()[0].removeprefix("# yaml-language-server: $schema=")
    schema = json.loads((tmp_path / target).read_text(encoding="utf-8"))
    assert schema == checklist_schema() and schema["$id"] == SCHEMA_URL


def test_a_schema_file_jobcheck_did_not_write_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "checklist.schema.json"
    mine.write_text('{"title": "my own"}\n', encoding="utf-8")
    init(tmp_path)
    assert mine.read_text(encoding="utf-8") == '{"title": "my own"}\n'
    mine.write_text(json.dumps({"$id": SCHEMA_URL}), encoding="utf-8")  # an older jobcheck's
    init(tmp_path, force=True)
    assert json.loads(mine.read_text(encoding="utf-8")) == checklist_schema()


def test_the_project_root_is_found_upward(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    deep = tmp_path / "repo" / "services" / "api"
    deep.mkdir(parents=True)
    assert find_root(deep, home=tmp_path) == tmp_path / "repo"
    (tmp_path / "repo" / "services" / "pyproject.toml").write_text("", encoding="utf-8")
    assert find_root(deep, home=tmp_path) == tmp_path / "repo"  # as git finds it
    here = find_root(deep, home=tmp_path, here=True)
    assert here == tmp_path / "repo" / "services"  # --here: the nearest
    (tmp_path / ".git").mkdir()
    lone = tmp_path / "elsewhere"
    lone.mkdir()
    assert find_root(lone, home=tmp_path) == lone  # a repository at home is not the project


def test_init_in_a_subfolder_writes_at_the_root_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(tmp_path / "repo", PLAIN)
    (root / "src" / "plain_service" / "jobs").mkdir()
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    said = init_command(root / "src" / "plain_service" / "jobs", force=False)
    assert (root / "jobcheck.yaml").is_file()
    assert not (root / "src" / "plain_service" / "jobs" / "jobcheck.yaml").exists()
    assert said.splitlines()[:3] == [
        f"wrote {root / 'jobcheck.yaml'} with 3 checks: lint, tests, release-tag",
        f"  at the project root (pyproject.toml is there), above {root}/src/plain_service/jobs",
        f"  schema for editors: {root / 'checklist.schema.json'}",
    ]


def test_a_secret_that_would_be_written_stops_init(tmp_path: Path) -> None:
    from jobcheck.scaffold import _refuse_leaks

    env = "API_TOKEN=tok-1234567890abcdef\nPOSTGRES_PASSWORD=postgres\n"
    project = detect(write(tmp_path, {".env": env}), {})
    _refuse_leaks("url: https://${API_TOKEN}@x\nservice: postgres", project)  # weak: a word
    with pytest.raises(RuntimeFailure) as caught:
        _refuse_leaks("url: https://tok-1234567890abcdef@x", project)
    assert "API_TOKEN" in caught.value.message and "tok-" not in caught.value.message


def test_init_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    write(tmp_path, RQ)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert f"wrote {tmp_path / 'jobcheck.yaml'} with 12 checks: lint, tests," in first.output
    assert "rollback: 'TODO: roll worker back" in (tmp_path / "jobcheck.yaml").read_text()
    assert runner.invoke(app, ["validate"]).exit_code == 0
    # init said "replace each @TODO-owner and TODO note, then `jobcheck validate --strict`"
    strict = runner.invoke(app, ["validate", "--strict"])
    assert strict.exit_code == 2 and "owner is a placeholder: '@TODO-owner'" in strict.output
    second = runner.invoke(app, ["init"])
    assert second.exit_code == 1 and "--force" in second.output
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0


def test_init_says_when_the_queue_checks_need_an_extra_jobcheck_lacks() -> None:
    from jobcheck.scaffold import missing_extras

    rq_checks = [
        {"id": "queue-default", "kind": "queue", "with": {"redis_url": "redis://x"}},
        {"id": "canary-job", "kind": "job", "with": {"via": "rq"}},
        {"id": "lint", "kind": "lint", "with": {}},
    ]
    present = {"redis"}
    notes = missing_extras(rq_checks, lambda name: name if name in present else None)
    assert notes == [
        "  note: the rq checks need rq where jobcheck runs, and its environment has none: "
        "install `jobcheck[rq]` (with pipx: `pipx inject jobcheck rq`)"
    ]
    celery = [{"id": "q", "kind": "queue", "with": {"framework": "celery"}}]
    assert "`jobcheck[celery]`" in missing_extras(celery, lambda name: None)[0]
    assert missing_extras(rq_checks, lambda name: name) == []  # all there: nothing said
    assert missing_extras(rq_checks[2:], lambda name: None) == []  # no queue checks


def test_init_says_when_the_projects_virtualenv_has_no_ruff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(tmp_path / "repo", PLAIN)
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("", encoding="utf-8")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    said = init_command(root, force=False)
    assert "  note: .venv/ has no ruff: the lint check runs jobcheck's own ruff" in said
    (root / ".venv" / "bin" / "ruff").write_text("", encoding="utf-8")
    assert "no ruff" not in init_command(root, force=True)


def test_init_here_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jobcheck.cli import app

    (tmp_path / "repo" / ".git").mkdir(parents=True)
    service = write(tmp_path / "repo" / "services" / "api", PLAIN)
    monkeypatch.chdir(service / "src")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    runner = CliRunner()
    here = runner.invoke(app, ["init", "--here"])
    assert here.exit_code == 0, here.output
    assert f"wrote {service / 'jobcheck.yaml'} with" in here.output  # its pyproject.toml
    root = runner.invoke(app, ["init"])
    assert root.exit_code == 0, root.output
    assert f"wrote {tmp_path / 'repo' / 'jobcheck.yaml'} with" in root.output  # as git finds it
    assert f"  at the project root (.git is there), above {service / 'src'}" in root.output
